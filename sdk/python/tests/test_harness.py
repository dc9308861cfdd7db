"""zepix_sdk.testing and the dispatcher it shares with the runner."""

from __future__ import annotations

import json
import tempfile
import unittest
from decimal import Decimal
from pathlib import Path

from zepix_sdk import (
    CapabilityDenied, InvalidParams, LogicPlugin, NotFound, PluginError, RiskRejected, Signal, StrategyPlugin,
)
from zepix_sdk.base import overridden_hooks
from zepix_sdk.dispatch import Dispatcher, normalize_decision
from zepix_sdk.testing import FakeEngine, PluginCallError, PluginHarness, canonical_signal

from .support import make_plugin


class Sizer(LogicPlugin):
    """Sizes from risk, checks trend, records in its db."""

    def on_initialize(self):
        self.db.execute("CREATE TABLE IF NOT EXISTS seen (signal_id TEXT, lots TEXT)")

    def process_entry_signal(self, signal):
        if not self.services.trend.aligned(signal.symbol, signal.side, ["15m", "1h"]):
            return self.reject("against the trend")
        lots = self.services.risk.lot_size(signal.symbol, signal.price, signal.sl_price, risk_pct=2)
        placed = self.services.orders.place_from_signal(signal, lot=lots)
        self.db.execute("INSERT INTO seen VALUES (?, ?)", (signal.id, str(lots)))
        return self.executed(orders=[placed["id"]])


class Hooked(LogicPlugin):
    def on_signal_received(self, signal):
        if signal.get("confidence", 0) < 50:
            return self.reject_signal("low confidence")
        if signal.symbol == "EURUSD":
            changed = signal.copy()
            changed["tag"] = "modified"
            return self.modify(changed)
        return None

    async def process_entry_signal(self, signal):
        placed = self.services.orders.place(signal.symbol, signal.side, lot="0.05", price=signal.price,
                                            sl_pips=20, tp_pips=40, comment=signal.get("tag", ""))
        return self.executed(orders=[placed])

    def on_order_placed(self, order):
        self.services.notify.send(f"placed {order['id']}")


class Broken(LogicPlugin):
    def process_entry_signal(self, signal):
        if signal.get("mode") == "raise":
            raise KeyError("missing thing")
        if signal.get("mode") == "bad_kind":
            return {"kind": "done"}
        if signal.get("mode") == "extra_key":
            return {"kind": "ignored", "why": "x"}
        if signal.get("mode") == "string":
            return "ok"
        return None

    def validate_alert(self, signal):
        if signal.get("mode") == "invalid":
            return False
        if signal.get("mode") == "invalid_text":
            return "not today"
        return True


class HarnessTest(unittest.TestCase):
    def test_risk_sizing_trend_and_db(self):
        with PluginHarness(Sizer) as h:
            self.assertIsNone(h.capabilities)  # no manifest: every service allowed
            alert = {"symbol": "EURUSD", "side": "long", "price": 1.1, "sl": 1.095, "tf": "15"}
            self.assertEqual(h.send(alert)["reason"], "against the trend")
            h.set_trend("EURUSD", {"15m": "bullish", "1h": "bullish"})
            decision = h.send(alert)
            self.assertEqual(decision["kind"], "executed")
            # 2% of 10,000 = 200 over 0.005 × 100,000 = 500 a lot → 0.40 lots.
            self.assertEqual(h.positions[0]["lots"], "0.40")
            self.assertEqual(h.plugin.db.execute("SELECT * FROM seen").fetchall(), [("test-2", "0.40")])
            self.assertTrue((h.data_dir / "plugin.db").is_file())

    def test_hooks_async_handlers_and_order_hook(self):
        with PluginHarness(Hooked) as h:
            self.assertEqual(h.hooks, ["on_signal_received", "on_order_placed"])
            self.assertEqual(h.send({"symbol": "XAUUSD", "side": "buy", "price": 2000, "confidence": 10}),
                             {"kind": "rejected", "reason": "low confidence", "orders": [], "closed": []})
            decision = h.send({"symbol": "EURUSD", "side": "sell", "price": "1.1", "confidence": 90})
            self.assertEqual(decision["kind"], "executed")
            order = h.orders[0]
            self.assertEqual(order["request"]["comment"], "modified")
            self.assertEqual((order["request"]["sl"], order["request"]["tp"]), ("1.1020", "1.0960"))
            self.assertEqual(h.notifications, [{"level": "info", "message": f"placed {order['id']}"}])

    def test_plugin_exceptions_are_raised_as_is(self):
        with PluginHarness(Broken) as h:
            with self.assertRaises(KeyError):
                h.send({"symbol": "XAUUSD", "side": "buy", "mode": "raise"})
            with self.assertRaisesRegex(PluginError, "kind must be executed, rejected or ignored"):
                h.send({"symbol": "XAUUSD", "side": "buy", "mode": "bad_kind"})
            with self.assertRaisesRegex(PluginError, "remove why"):
                h.send({"symbol": "XAUUSD", "side": "buy", "mode": "extra_key"})
            with self.assertRaisesRegex(PluginError, "expected a decision"):
                h.send({"symbol": "XAUUSD", "side": "buy", "mode": "string"})
            self.assertEqual(h.send({"symbol": "XAUUSD", "side": "buy"})["reason"], "no decision")
            self.assertEqual(h.send({"symbol": "XAUUSD", "side": "buy", "mode": "invalid"})["reason"],
                             "validate_alert refused the signal")
            self.assertEqual(h.send({"symbol": "XAUUSD", "side": "buy", "mode": "invalid_text"}),
                             {"kind": "rejected", "reason": "not today", "orders": [], "closed": []})
            # process_signal is not validated and ignores by default.
            self.assertEqual(h.send({"symbol": "XAUUSD", "type": "trend", "mode": "invalid"})["reason"],
                             "no handler for `trend` signals")
            with self.assertRaises(PluginCallError) as e:
                h.call("no_such_method")
            self.assertEqual(e.exception.code, -32601)

    def test_default_exit_and_reversal(self):
        class Simple(LogicPlugin):
            def process_entry_signal(self, signal):
                return self.executed(orders=[self.services.orders.place_from_signal(signal)])

        with PluginHarness(Simple) as h:
            h.send({"symbol": "XAUUSD", "side": "buy", "price": 2000})
            h.send({"symbol": "XAUUSD", "side": "buy", "price": 2001})
            first, second = (p["id"] for p in h.positions)
            decision = h.send({"symbol": "XAUUSD", "action": "reverse", "side": "sell", "price": 2003})
            self.assertEqual(decision["kind"], "executed")
            self.assertEqual(decision["closed"], [first, second])
            self.assertEqual(len(decision["orders"]), 1)
            self.assertEqual([p["side"] for p in h.positions], ["sell"])
            self.assertEqual([t["pnl"] for t in h.trades], ["3.00", "2.00"])
            decision = h.send({"symbol": "XAUUSD", "action": "close"})
            self.assertEqual(decision["closed"], [decision["closed"][0]])
            self.assertEqual(h.send({"symbol": "XAUUSD", "action": "close"}),
                             {"kind": "ignored", "reason": "no open position on XAUUSD", "orders": [], "closed": []})

    def test_manifest_capabilities_are_enforced(self):
        code = '''
        from zepix_sdk import LogicPlugin

        class Plugin(LogicPlugin):
            def process_entry_signal(self, signal):
                if signal.get("use") == "db":
                    self.db.execute("SELECT 1")
                self.services.notify.send("hi")
                return self.ignore()
        '''
        with tempfile.TemporaryDirectory() as tmp:
            folder = make_plugin(Path(tmp), code, plugin_id="narrow", capabilities=["orders"])
            with PluginHarness(folder) as h:
                self.assertEqual(h.capabilities, ["orders"])
                with self.assertRaises(CapabilityDenied):
                    h.send({"symbol": "XAUUSD", "side": "buy"})
                with self.assertRaisesRegex(CapabilityDenied, "db"):
                    h.send({"symbol": "XAUUSD", "side": "buy", "use": "db"})

    def test_settings_are_validated_like_the_engine(self):
        schema = '''
[settings_schema.threshold]
type = "number"
default = 25
minimum = 0
maximum = 100

[settings_schema.frames]
type = "array"
items = "string"
default = ["1h"]
'''
        code = '''
        from zepix_sdk import LogicPlugin
        class Plugin(LogicPlugin):
            def get_status(self):
                return dict(self.config)
        '''
        with tempfile.TemporaryDirectory() as tmp:
            folder = make_plugin(Path(tmp), code, plugin_id="cfg", extra=schema)
            (folder / "config.toml").write_text("threshold = 30\n")
            with PluginHarness(folder) as h:
                self.assertEqual(h.status(), {"threshold": 30, "frames": ["1h"]})
            with PluginHarness(folder, config={"frames": ["5m"]}) as h:
                self.assertEqual(h.status(), {"threshold": 30, "frames": ["5m"]})
            with self.assertRaisesRegex(ValueError, "above the maximum"):
                PluginHarness(folder, config={"threshold": 300})
            with self.assertRaisesRegex(ValueError, "unknown setting"):
                PluginHarness(folder, config={"colour": "red"})

    def test_risk_refusals_and_not_found(self):
        class Closer(LogicPlugin):
            def process_entry_signal(self, signal):
                try:
                    self.services.orders.close(999)
                except NotFound:
                    pass
                return self.executed(orders=[self.services.orders.place_from_signal(signal)])

        with PluginHarness(Closer) as h:
            h.refuse_next_order("max_positions_plugin")
            self.assertEqual(h.send({"symbol": "XAUUSD", "side": "buy", "price": 1})["reason"],
                             "max_positions_plugin")
            # risk sizing without a stop loss is refused by the engine's risk gate
            self.assertEqual(h.send({"symbol": "XAUUSD", "side": "buy", "price": 1, "risk_pct": 1})["reason"],
                             "no_stop_loss")
            self.assertEqual(h.send({"symbol": "XAUUSD", "side": "buy", "price": 10, "sl": 11})["reason"],
                             "invalid_levels")
            self.assertEqual(h.send({"symbol": "XAUUSD", "side": "buy", "lot": 500})["reason"], "lot_above_max")

    def test_run_file_and_sl_tp_hooks(self):
        class Tracker(LogicPlugin):
            def on_initialize(self):
                self.hits = []

            def process_entry_signal(self, signal):
                return self.executed(orders=[self.services.orders.place_from_signal(signal)])

            def on_sl_hit(self, trade):
                self.hits.append(("sl", trade["pnl"]))

            def on_tp_hit(self, trade):
                self.hits.append(("tp", trade["pnl"]))

        lines = [
            {"symbol": "XAUUSD", "action": "buy", "price": 2000, "sl": 1990, "tp": 2020, "id": "a"},
            {"symbol": "XAUUSD", "action": "sell", "price": 2000, "sl": {"pips": 50}, "tp": {"pips": 100}, "id": "b"},
        ]
        with tempfile.TemporaryDirectory() as tmp, PluginHarness(Tracker) as h:
            path = Path(tmp) / "signals.jsonl"
            path.write_text("# two alerts\n" + "\n".join(json.dumps(x) for x in lines) + "\n\n")
            results = h.run_file(path)
            self.assertEqual([(s.id, d["kind"]) for s, d in results], [("a", "executed"), ("b", "executed")])
            self.assertIsInstance(results[0][0], Signal)
            a, b = h.positions
            self.assertEqual((b["sl"], b["tp"]), ("2005.0", "1990.0"))
            h.hit_tp(a["id"])
            h.hit_sl(b["id"])
            self.assertEqual(h.plugin.hits, [("tp", "20.00"), ("sl", "-5.00")])


class Pyramid(LogicPlugin):
    """Dual orders for buys, a profit chain for sells."""

    def process_entry_signal(self, signal):
        if signal.side == "buy":
            done = self.services.dual_order.place(signal.symbol, "buy", lot=signal.get("lot"), price=signal.price,
                                                  tp=signal.tp_prices[0], levels=[1, 2], target_pips=10, sl_pips=10)
            return self.executed(orders=[done["a"]["order"]["id"], done["b"]["order"]["id"]])
        chain = self.services.profit_booking.start(signal.symbol, "sell", lot="0.1", price=signal.price,
                                                   levels=[2, 4], target_pips=15, sl_pips=5)
        return self.executed(reason=f"chain {chain['id']} with {len(self.services.profit_booking.chains())} active")


class ChainServicesTest(unittest.TestCase):
    def test_dual_order_and_profit_chain_requests(self):
        with PluginHarness(Pyramid) as h:
            decision = h.send({"symbol": "XAUUSD", "side": "buy", "price": 2000, "tp": 2005, "lot": 0.2})
            self.assertEqual(decision["kind"], "executed")
            a, b = h.positions
            self.assertEqual((a["lots"], a["tp"]), ("0.10", "2005"))
            self.assertEqual((b["lots"], b["tp"], b["sl"]), ("0.10", "2001.0", "1999.0"))
            method, params = h.engine.requests[-1]
            self.assertEqual(method, "dual_order.place")
            self.assertEqual(params["plan"], {"split": "0.5", "pyramid": {
                "levels": [1, 2], "target": {"pips": "10"}, "sl_pips": "10"}})
            decision = h.send({"symbol": "XAUUSD", "side": "sell", "price": 2000})
            self.assertEqual(decision["reason"], "chain 2 with 2 active")
            self.assertEqual([p["tp"] for p in h.positions[2:]], ["1998.5", "1998.5"])

    def test_a_bad_plan_is_refused(self):
        code = '''
        from zepix_sdk import LogicPlugin

        class Plugin(LogicPlugin):
            def process_entry_signal(self, signal):
                self.services.dual_order.place(signal.symbol, "buy", lot="0.2", price=2000, levels=[2, 4])
                return self.ignore()
        '''
        with tempfile.TemporaryDirectory() as tmp:
            folder = make_plugin(Path(tmp), code, plugin_id="badplan", capabilities=["orders", "dual_order", "profit_booking"])
            with PluginHarness(folder) as h:
                with self.assertRaisesRegex(InvalidParams, "the first level is order B alone"):
                    h.send({"symbol": "XAUUSD", "side": "buy"})
                self.assertEqual(h.positions, [])


class Recovering(LogicPlugin):
    """Follows each trade for re-entries when the safety service allows recoveries."""

    def process_entry_signal(self, signal):
        check = self.services.safety.check_recovery_allowed(signal.symbol)
        if not check["allowed"]:
            return self.reject("; ".join(check["reasons"]))
        placed = self.services.orders.place_from_signal(signal)
        chain = self.services.reentry.start(placed["position"]["id"], zone_pips=3, max_chain_level=2)
        shield = self.services.safety.shield(placed["position"]["id"], share="0.4")
        return self.executed(orders=[placed["id"]],
                             reason=f"re-entry chain {chain['id']}, shield at {shield['trigger_distance']}")


class ReentryServicesTest(unittest.TestCase):
    def test_reentry_and_safety_requests(self):
        with PluginHarness(Recovering) as h:
            decision = h.send({"symbol": "XAUUSD", "side": "buy", "price": 2000, "sl": 1990})
            self.assertEqual(decision["reason"], "re-entry chain 1, shield at 4")
            method, params = h.engine.requests[-2]
            self.assertEqual(method, "reentry.start")
            self.assertEqual(params["plan"]["zone_pips"], "3")
            self.assertEqual(params["plan"]["max_chain_level"], 2)
            h.engine.recovery_refusals.append("consecutive_losses: 3 stop losses in a row on XAUUSD (max 3)")
            decision = h.send({"symbol": "XAUUSD", "side": "buy", "price": 2000, "sl": 1990})
            self.assertEqual(decision["kind"], "rejected")
            self.assertIn("consecutive_losses", decision["reason"])


class DeferredPlaceTest(unittest.TestCase):
    def test_orders_placed_by_the_engine_from_the_decision(self):
        class Deferred(LogicPlugin):
            def process_entry_signal(self, signal):
                orders = self.services.orders
                return self.executed(place=[
                    orders.intent_from_signal(signal, comment="first"),
                    orders.intent(signal.symbol, signal.side, lot=Decimal("0.02"), price=signal.price, sl_pips=30),
                ])

        with PluginHarness(Deferred) as h:
            raw = h.call("process_entry_signal", {"signal": {"id": "d1", "symbol": "XAUUSD", "direction": "buy",
                                                             "price": "2000", "tp": ["2010"]}})
            self.assertEqual(raw["place"], [
                {"symbol": "XAUUSD", "side": "buy", "price": "2000", "tp": "2010", "comment": "first"},
                {"symbol": "XAUUSD", "side": "buy", "lot": "0.02", "price": "2000", "sl": {"pips": "30"}},
            ])
            self.assertEqual(h.requests, [])  # nothing was sent by the plugin itself
            decision = h.send({"id": "d2", "symbol": "XAUUSD", "side": "buy", "price": 2000})
            self.assertEqual(decision, {"kind": "executed", "reason": None, "orders": [1, 2], "closed": []})
            self.assertEqual([p["signal_id"] for p in h.positions], ["d2", "d2"])
            self.assertEqual(h.positions[1]["sl"], "1997.0")
            h.refuse_next_order("daily_loss_limit")
            self.assertEqual(h.send({"symbol": "XAUUSD", "side": "buy", "price": 2000})["reason"], "daily_loss_limit")

    def test_place_must_hold_order_params(self):
        with self.assertRaisesRegex(PluginError, "list of orders.place params"):
            normalize_decision({"kind": "executed", "place": [{"lot": 1}]}, "m")


class PortedStyleTest(unittest.TestCase):
    def test_original_constructor_and_async_handlers(self):
        class Ported(LogicPlugin):
            def __init__(self, plugin_id, config, service_api):
                super().__init__(plugin_id, config, service_api)
                self.started_as = (plugin_id, dict(config), service_api is self.services)

            async def process_entry_signal(self, alert):
                positions = self.services.positions.list(alert.symbol)
                return self.ignore(f"{alert.symbol} has {len(positions)} open")

        with PluginHarness(Ported, config={"x": 1}, plugin_id="ported") as h:
            self.assertEqual(h.plugin.started_as, ("ported", {"x": 1}, True))
            self.assertEqual(h.send({"symbol": "XAUUSD", "side": "buy"})["reason"], "XAUUSD has 0 open")

    def test_plain_init_without_arguments(self):
        class Plain(LogicPlugin):
            def __init__(self):
                super().__init__()
                self.counter = 0

        with PluginHarness(Plain, plugin_id="plain") as h:
            self.assertEqual((h.plugin.plugin_id, h.plugin.counter), ("plain", 0))


class SignalTest(unittest.TestCase):
    def test_canonical_signal_and_properties(self):
        s = canonical_signal({
            "alert_id": "x1", "ticker": "OANDA:XAUUSD", "tf": "60", "action": "short", "price": 2030.5,
            "stop_loss": 2035, "take_profit": [2020, {"pips": 50}], "qty": 0.1, "secret": "hide",
            "confidence": "81.5", "bot": "V6",
        })
        self.assertEqual(dict(s), {
            "id": "x1", "symbol": "XAUUSD", "timeframe": "1h", "direction": "sell", "type": "entry",
            "price": "2030.5", "sl": "2035", "tp": ["2020", {"pips": "50"}], "lot": "0.1",
            "confidence": "81.5", "strategy": "V6",
        })
        self.assertEqual((s.id, s.symbol, s.side, s.direction, s.timeframe, s.type, s.strategy),
                         ("x1", "XAUUSD", "sell", "sell", "1h", "entry", "V6"))
        self.assertEqual(s.price, Decimal("2030.5"))
        self.assertEqual(s.sl_price, Decimal("2035"))
        self.assertEqual(s.tp_prices, [Decimal("2020")])
        self.assertEqual(s.decimal("confidence"), Decimal("81.5"))
        self.assertIsNone(s.decimal("adx"))
        self.assertEqual(s["symbol"], "XAUUSD")
        self.assertEqual(s.get("missing", 3), 3)
        self.assertIsInstance(s.copy(), Signal)
        self.assertEqual(canonical_signal({"action": "flat"})["type"], "exit")
        self.assertEqual(canonical_signal({"type": "trend"})["direction"], "neutral")


class DispatcherTest(unittest.TestCase):
    def test_hooks_listed_only_when_overridden(self):
        class Bars(StrategyPlugin):
            def on_bar(self, bar):
                pass

        self.assertEqual(overridden_hooks(LogicPlugin), [])
        self.assertEqual(overridden_hooks(Bars), ["on_bar"])
        self.assertEqual(overridden_hooks(Hooked), ["on_signal_received", "on_order_placed"])

    def test_normalize_decision(self):
        self.assertEqual(normalize_decision(None, "m")["reason"], "no decision")
        placed = {"order": {"id": 4}, "position": {"id": 5}}
        self.assertEqual(LogicPlugin().executed(orders=[placed], closed=[{"position": {"id": 9}}, 10]),
                         {"kind": "executed", "reason": None, "orders": [4], "closed": [9, 10]})
        with self.assertRaises(PluginError):
            normalize_decision({"kind": "executed", "orders": ["a"]}, "m")

    def test_strategy_emit_and_bars(self):
        class Emitter(StrategyPlugin):
            def on_bar(self, bar):
                if bar["close"] > bar["open"]:
                    self.emit({"symbol": bar["symbol"], "direction": "buy", "type": "entry"})

        with PluginHarness(Emitter) as h:
            self.assertEqual(h.info["roles"], ["strategy"])
            self.assertIn("on_bars", h.info["hooks"])
            got = h.bar({"symbol": "XAUUSD", "timeframe": "5m", "open": 1, "close": 2})
            self.assertEqual(got, [{"symbol": "XAUUSD", "direction": "buy", "type": "entry"}])
            self.assertEqual(h.emitted, got)
            self.assertEqual(h.bar({"symbol": "XAUUSD", "timeframe": "5m", "open": 2, "close": 1}), [])
            batch = h.bars([{"open": 1, "close": 1}, {"open": 1, "close": 3}, {"open": 3, "close": 4}], "EURUSD", "1m")
            self.assertEqual([i for i, _ in batch], [1, 2])
            self.assertEqual(batch[0][1]["symbol"], "EURUSD", "the feed fills each bar's symbol")

    def test_emit_outside_on_bar_is_a_request(self):
        class Emitter(StrategyPlugin):
            def on_start(self):
                self.emit({"symbol": "EURUSD", "direction": "sell", "type": "entry"})

        with PluginHarness(Emitter) as h:
            h.start()
            self.assertEqual(h.emitted, [{"symbol": "EURUSD", "direction": "sell", "type": "entry"}])
            self.assertEqual([m for m, _ in h.requests if m == "signals.emit"], ["signals.emit"])

    def test_invalid_requests(self):
        d = Dispatcher(LogicPlugin, {}, FakeEngine())
        self.assertEqual(json.loads(d.handle_line(b'"text"'))["error"]["code"], -32600)
        self.assertEqual(json.loads(d.handle_line(b'{"jsonrpc":"1.0","id":1,"method":"health"}'))["error"]["code"],
                         -32600)
        self.assertEqual(json.loads(d.handle_line(b'{"jsonrpc":"2.0","id":1,"method":7}'))["error"]["code"], -32600)
        self.assertEqual(json.loads(d.handle_line(b'\xff\xfe'))["error"]["code"], -32700)
        self.assertIsNone(d.handle_line(b'{"jsonrpc":"2.0","method":"health"}'))  # a notification
        with self.assertLogs("zepix_sdk", "WARNING"):
            self.assertIsNone(d.handle_line(b'{"jsonrpc":"2.0","id":3,"result":1}'))  # a stray answer
        reply = json.loads(d.handle_line(b'{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocols":[1]}}'))
        self.assertEqual(reply["result"]["roles"], ["logic"])

    def test_event_loop_without_socketpair(self):
        import asyncio
        import socket
        from unittest import mock

        from zepix_sdk.dispatch import _new_loop

        async def work():
            await asyncio.sleep(0.001)
            return await asyncio.get_running_loop().run_in_executor(None, lambda: 42)

        with mock.patch.object(socket, "socketpair", side_effect=PermissionError(1, "denied")):
            loop = _new_loop()
        try:
            self.assertEqual(type(loop).__name__, "_PipeWakeupLoop")
            self.assertEqual(loop.run_until_complete(work()), 42)
        finally:
            loop.close()

    def test_risk_rejected_is_a_service_error_with_its_code(self):
        e = RiskRejected(-32003, "no", {"code": "daily_loss_limit"})
        self.assertEqual((e.code, e.risk_code, e.to_rpc()["data"]), (-32003, "daily_loss_limit", {"code": "daily_loss_limit"}))


if __name__ == "__main__":
    unittest.main()
