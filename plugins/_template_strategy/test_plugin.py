"""Tests of {{name}} without the engine.

Run them with `python3 -m unittest discover -s plugins/{{id}}` (or pytest), with the SDK on the
path (see README.md). The harness feeds bars to the plugin through the same protocol dispatcher
the engine uses and records the signals it emits.
"""

import unittest
from pathlib import Path

from zepix_sdk.testing import PluginHarness

HERE = Path(__file__).resolve().parent


class PluginTest(unittest.TestCase):
    def setUp(self):
        self.harness = PluginHarness(HERE, config={"fast": 2, "slow": 3})
        self.addCleanup(self.harness.close)

    def bars(self, closes, start=0):
        for n, close in enumerate(closes, start):
            self.harness.bar({
                "symbol": "XAUUSD", "timeframe": "5m", "time": f"2026-01-05T10:{5 * n:02d}:00Z",
                "open": str(close), "high": str(close), "low": str(close), "close": str(close),
                "volume": "100",
            })

    def test_a_cross_up_emits_one_buy(self):
        self.bars([2000, 1999, 1998, 1997])
        self.assertEqual(self.harness.emitted, [], "falling: no cross yet")
        self.bars([2005, 2010], start=4)
        self.assertEqual(len(self.harness.emitted), 1)
        signal = self.harness.emitted[0]
        self.assertEqual(signal["direction"], "buy")
        self.assertEqual(signal["strategy"], "{{strategy}}")
        self.assertEqual(signal["price"], "2005")


if __name__ == "__main__":
    unittest.main()
