"""Tests of the price-action plugin, without the engine: `python3 -m unittest test_plugin` here, or
`python3 plugins/price_action_py/test_plugin.py` from the repository root."""

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
    base = {"strategy": "PRICE_ACTION_PY", "symbol": "XAUUSD", "tf": "15", "action": "buy",
            "price": 2000, "sl": 1995, "tp": [2010, 2020], "pattern": "pin_bar"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


class PriceActionTest(unittest.TestCase):
    def setUp(self):
        self.h = PluginHarness(HERE)
        self.h.set_trend("XAUUSD", {"15m": "bullish", "1h": "bullish"})

    def tearDown(self):
        self.h.close()

    def journal(self):
        return self.h.plugin.db.execute(
            "SELECT signal_id, side, pattern, lots, position_id, outcome FROM pa_entries ORDER BY id"
        ).fetchall()

    def test_handshake(self):
        self.assertEqual(self.h.info["strategies"], ["PRICE_ACTION_PY"])
        self.assertEqual(self.h.info["timeframes"], ["5m", "15m", "1h"])
        self.assertEqual(self.h.info["hooks"], ["on_sl_hit", "on_tp_hit"])

    def test_aligned_entry_is_risk_sized_and_journaled(self):
        decision = self.h.send(alert(id="pa-1"))
        self.assertEqual(decision["kind"], "executed", decision)
        (position,) = self.h.positions
        # 1% of 10,000 = 100 over a 5.0 stop on gold (100 oz a lot) = 0.20 lots.
        self.assertEqual(position["lots"], "0.20")
        self.assertEqual((position["sl"], position["tp"]), ("1995", "2010"))
        self.assertIn(("risk.lot_size", {"symbol": "XAUUSD", "entry": "2000", "sl": "1995", "risk_pct": "1.0"}),
                      self.h.requests)
        self.assertEqual(self.journal(), [("pa-1", "buy", "pin_bar", "0.20", position["id"], None)])
        self.assertIn("PRICE_ACTION_PY buy 0.20 XAUUSD", self.h.notifications[0]["message"])

    def test_against_the_trend_is_rejected(self):
        self.h.set_trend("XAUUSD", "1h", "bearish")
        decision = self.h.send(alert())
        self.assertEqual(decision["kind"], "rejected")
        self.assertIn("trend not aligned with buy", decision["reason"])
        self.assertIn("1h bearish", decision["reason"])
        self.assertEqual(self.h.positions, [])
        self.assertEqual(self.journal(), [])

    def test_alignment_can_be_turned_off(self):
        with PluginHarness(HERE, config={"require_trend_alignment": False}) as h:
            self.assertEqual(h.send(alert(action="sell", sl=2005, tp=1990))["kind"], "executed")

    def test_sell_needs_bearish_trend(self):
        self.h.set_trend("XAUUSD", {"15m": "bearish", "1h": "bearish"})
        self.assertEqual(self.h.send(alert(action="sell", sl=2005, tp=1990))["kind"], "executed")
        self.assertEqual(self.h.positions[0]["side"], "sell")

    def test_reward_risk_and_pattern_filters(self):
        decision = self.h.send(alert(tp=2005))  # 5 reward for 5 risk
        self.assertEqual(decision["kind"], "rejected")
        self.assertIn("reward:risk 1.00 below 1.5", decision["reason"])
        decision = self.h.send(alert(pattern="head_and_shoulders"))
        self.assertEqual(decision["kind"], "rejected")
        self.assertEqual(self.h.status()["rejections"], {"reward_risk": 1, "pattern": 1})

    def test_size_without_stop_and_with_pip_stop(self):
        self.assertEqual(self.h.send(alert(sl=None, tp=None))["kind"], "executed")
        self.assertEqual(self.h.positions[0]["lots"], "0.01")
        self.h.send(alert(sl={"pips": 50}, tp=None))  # 50 pips of 0.1 = 5.0 on gold
        self.assertEqual(self.h.positions[1]["lots"], "0.20")
        self.assertEqual(self.h.positions[1]["sl"], "1995.0")

    def test_position_cap(self):
        for _ in range(2):
            self.assertEqual(self.h.send(alert())["kind"], "executed")
        decision = self.h.send(alert())
        self.assertEqual(decision["kind"], "rejected")
        self.assertIn("max 2", decision["reason"])

    def test_risk_refusal_passes_through_as_rejected(self):
        # Risking 100 over a 1000 stop on gold is 0.001 lot, under the 0.01 minimum: risk.lot_size
        # raises RiskRejected, the plugin lets it through, the signal is stored as rejected.
        decision = self.h.send(alert(price=2000, sl=1000, tp=4000))
        self.assertEqual(decision, {"kind": "rejected", "reason": "lot_below_min", "orders": [], "closed": []})

    def test_outcomes_are_journaled(self):
        self.h.send(alert(id="a"))
        self.h.send(alert(id="b"))
        first, second = (p["id"] for p in self.h.positions)
        self.h.hit_tp(first)
        self.h.hit_sl(second)
        self.assertEqual([row[5] for row in self.journal()], ["take_profit", "stop_loss"])
        status = self.h.status()
        self.assertEqual((status["entries"], status["take_profit"], status["stop_loss"]), (2, 1, 1))

    def test_exit_closes_and_journals(self):
        self.h.send(alert())
        decision = self.h.send({"strategy": "PRICE_ACTION_PY", "symbol": "XAUUSD", "action": "exit", "price": 2004})
        self.assertEqual(decision["kind"], "executed")
        self.assertEqual(self.journal()[0][5], "closed")
        decision = self.h.send({"strategy": "PRICE_ACTION_PY", "symbol": "XAUUSD", "action": "exit"})
        self.assertEqual(decision["kind"], "ignored")


if __name__ == "__main__":
    unittest.main()
