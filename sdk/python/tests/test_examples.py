"""The example plugins' own tests (plugins/*/test_plugin.py), run as part of the SDK's suite."""

import importlib.util
import unittest

from .support import REPO_ROOT

EXAMPLES = ("_template_py", "price_action_py")


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    for name in EXAMPLES:
        path = REPO_ROOT / "plugins" / name / "test_plugin.py"
        spec = importlib.util.spec_from_file_location(f"example_{name}_test_plugin", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        suite.addTests(loader.loadTestsFromModule(module))
    return suite
