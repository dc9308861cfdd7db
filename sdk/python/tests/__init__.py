"""zepix_sdk tests: `python3 -m unittest discover -s sdk/python/tests -t sdk/python` from the
repository root (no install needed)."""

import sys
from pathlib import Path

SDK_ROOT = Path(__file__).resolve().parent.parent
if str(SDK_ROOT) not in sys.path:
    sys.path.insert(0, str(SDK_ROOT))
