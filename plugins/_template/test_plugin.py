"""Tests of {{name}} without the engine.

Run them with `python3 -m unittest discover -s plugins/{{id}}` (or pytest), with the SDK on the
path (see README.md). The harness runs the plugin against an in-memory engine through the same
protocol dispatcher the engine uses, so what passes here passes in the engine.
"""

import unittest
from pathlib import Path

from zepix_sdk.testing import PluginHarness

HERE = Path(__file__).resolve().parent
ALERT = {
    "strategy": "{{strategy}}", "timeframe": "5m", "symbol": "XAUUSD", "direction": "buy",
    "price": 2030.5, "sl": 2025, "tp": 2040, "lot": 0.1,
}


class PluginTest(unittest.TestCase):
    def setUp(self):
        self.harness = PluginHarness(HERE)
        self.addCleanup(self.harness.close)

    def test_a_confident_entry_is_executed_and_a_doubtful_one_rejected(self):
        decision = self.harness.send({**ALERT, "confidence": 80})
        self.assertEqual(decision["kind"], "executed")
        self.assertEqual(len(self.harness.positions), 1)

        decision = self.harness.send({**ALERT, "confidence": 40})
        self.assertEqual(decision["kind"], "rejected")
        self.assertIn("below 60", decision["reason"])
        self.assertEqual(len(self.harness.positions), 1)

    def test_an_exit_closes_the_position(self):
        self.harness.send({**ALERT, "confidence": 80})
        decision = self.harness.send({**ALERT, "type": "exit"})
        self.assertEqual(decision["kind"], "executed")
        self.assertEqual(self.harness.positions, [])


if __name__ == "__main__":
    unittest.main()
