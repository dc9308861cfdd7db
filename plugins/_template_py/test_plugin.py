"""Tests of the template plugin, without the engine: `python3 -m unittest test_plugin` here, or
`python3 plugins/_template_py/test_plugin.py` from the repository root."""

import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:
    import zepix_sdk  # noqa: F401 - installed with `pip install ./sdk/python`
except ImportError:  # running from a checkout
    sys.path.insert(0, str(HERE.parents[1] / "sdk" / "python"))

from zepix_sdk.testing import PluginHarness  # noqa: E402


def alert(**fields):
    base = {"strategy": "TEMPLATE_PY", "symbol": "XAUUSD", "timeframe": "5m", "type": "entry",
            "direction": "buy", "price": "2030.5", "confidence": 75}
    base.update(fields)
    return base


class TemplatePluginTest(unittest.TestCase):
    def setUp(self):
        self.h = PluginHarness(HERE)

    def tearDown(self):
        self.h.close()

    def test_handshake(self):
        self.assertEqual(self.h.info["strategies"], ["TEMPLATE_PY"])
        self.assertEqual(self.h.info["hooks"], ["on_sl_hit"])

    def test_entry_with_stop_is_risk_sized(self):
        decision = self.h.send(alert(sl="2025.5"))
        self.assertEqual(decision["kind"], "executed", decision)
        (position,) = self.h.positions
        # 1% of 10,000 over a 5.0 stop on gold (100 oz a lot) = 0.2 lots.
        self.assertEqual(position["lots"], "0.20")
        self.assertEqual(decision["orders"], [position["order_id"]])
        self.assertEqual(self.h.orders[0]["signal_id"], position["signal_id"])

    def test_low_confidence_is_rejected(self):
        decision = self.h.send(alert(confidence=40))
        self.assertEqual(decision["kind"], "rejected")
        self.assertIn("below 60", decision["reason"])
        self.assertEqual(self.h.status()["refused"], 1)

    def test_position_cap_and_exit(self):
        self.assertEqual(self.h.send(alert())["kind"], "executed")
        self.assertEqual(self.h.send(alert())["kind"], "rejected")
        decision = self.h.send({"strategy": "TEMPLATE_PY", "symbol": "XAUUSD", "action": "close", "price": 2035})
        self.assertEqual(decision["kind"], "executed")
        self.assertEqual(self.h.positions, [])
        self.assertEqual(self.h.trades[0]["pnl"], "4.50")  # 0.01 lot × 4.5 × 100 oz

    def test_missing_direction_fails_validation(self):
        decision = self.h.send(alert(direction=None))
        self.assertEqual(decision, {"kind": "rejected", "reason": "the alert has no direction (buy or sell)",
                                    "orders": [], "closed": []})

    def test_stop_loss_notifies(self):
        self.h.send(alert(sl={"pips": 50}))
        self.h.hit_sl()
        self.assertEqual(self.h.notifications[0]["level"], "warning")

    def test_risk_refusal_is_stored_as_rejected(self):
        self.h.refuse_next_order("daily_loss_limit")
        self.assertEqual(self.h.send(alert())["reason"], "daily_loss_limit")

    def test_settings_override(self):
        with PluginHarness(HERE, config={"min_confidence": 90, "notify_rejections": True}) as h:
            self.assertEqual(h.send(alert())["kind"], "rejected")
            self.assertEqual(len(h.notifications), 1)


if __name__ == "__main__":
    unittest.main()
