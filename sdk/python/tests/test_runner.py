"""The runner over real pipes: `python3 -I -S -B runner.py <plugin_dir>`, as the engine starts it."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import unittest
from pathlib import Path

from .support import SDK_ROOT, Runner, make_plugin

PLUGIN = r'''
import asyncio
from zepix_sdk import LogicPlugin, RiskRejected, run


class Plugin(LogicPlugin):
    def on_initialize(self):
        self.seen = 0
        print("printed text goes to stderr")

    def process_entry_signal(self, signal):
        self.seen += 1
        if signal.get("boom"):
            raise ValueError("boom " + signal.id)
        if signal.get("deferred"):
            return self.executed(place=[self.services.orders.intent_from_signal(signal)])
        placed = self.services.orders.place_from_signal(signal)
        return self.executed(orders=[placed])

    async def process_signal(self, signal):
        await asyncio.sleep(0)
        price = self.services.market.price(signal.symbol)
        return self.ignore(f"price {price}")

    def on_sl_hit(self, trade):
        import os, sys
        self.logger.info("sl hit on %s", trade["position"]["id"])
        os.write(1, b"raw write to fd 1\n")
        sys.__stdout__.write("write to sys.__stdout__\n")
        sys.__stdout__.flush()
        assert sys.stdin.read() == ""

    def on_stop(self):
        (self.data_dir / "stopped").write_text("yes")

    def get_status(self):
        return {"seen": self.seen, "enabled": self.enabled}


if __name__ == "__main__":
    run(Plugin)
'''


def signal(i: int, **extra) -> dict:
    s = {"id": f"s-{i}", "type": "entry", "strategy": "T_PLUGIN", "symbol": "XAUUSD", "direction": "buy",
         "price": "2030.5", "sl": {"pips": "25"}, "tp": ["2040"], "confidence": 80}
    s.update(extra)
    return s


class RunnerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.data_dir = root / "data"
        self.plugin_dir = make_plugin(root, PLUGIN)
        self.r = Runner(self.plugin_dir)

    def tearDown(self):
        self.r.close()
        self.tmp.cleanup()

    def init(self):
        reply = self.r.initialize(self.data_dir)
        self.assertIn("result", reply, reply)
        return reply["result"]

    def test_handshake(self):
        info = self.init()
        self.assertEqual(info, {
            "protocol": 1, "name": "T Plugin", "version": "1.2.3", "roles": ["logic"],
            "strategies": ["T_PLUGIN"], "timeframes": ["5m", "15m"], "hooks": ["on_sl_hit", "on_stop"],
        })
        rid = self.r.call("health")
        self.assertEqual(self.r.read(), {"jsonrpc": "2.0", "id": rid, "result": {"ok": True}})
        self.assertIn("printed text goes to stderr", self.r.stderr())

    def test_pipelined_signals_with_service_calls(self):
        self.init()
        n = 40
        first = 100
        self.r.send(*({"jsonrpc": "2.0", "id": first + i, "method": "process_entry_signal",
                       "params": {"signal": signal(i)}} for i in range(n)))
        decisions = {}
        order_id = 500
        placed_for = []
        while len(decisions) < n:
            msg = self.r.read()
            if "method" in msg:
                self.assertEqual(msg["method"], "orders.place")
                p = msg["params"]
                placed_for.append(p["signal_id"])
                self.assertEqual((p["symbol"], p["side"], p["price"], p["sl"], p["tp"]),
                                 ("XAUUSD", "buy", "2030.5", {"pips": "25"}, "2040"))
                order_id += 1
                self.r.answer(msg["id"], {"order": {"id": order_id}, "position": {"id": order_id}})
            else:
                self.assertEqual(len(decisions), msg["id"] - first, "answers come in call order")
                decisions[msg["id"]] = msg["result"]
        self.assertEqual(placed_for, [f"s-{i}" for i in range(n)])
        for i in range(n):
            self.assertEqual(decisions[first + i],
                             {"kind": "executed", "reason": None, "orders": [501 + i], "closed": []})
        rid = self.r.call("get_status")
        self.assertEqual(self.r.read()["result"], {"seen": n, "enabled": True})

    def test_engine_calls_wait_behind_a_handler_blocked_on_a_service(self):
        self.init()
        self.r.call("process_entry_signal", {"signal": signal(1)}, rid=10)
        request = self.r.read()
        self.assertEqual(request["method"], "orders.place")
        self.r.call("health", rid=11)
        self.r.call("get_status", rid=12)
        self.r.answer(request["id"], {"order": {"id": 7}, "position": {"id": 7}})
        self.assertEqual([self.r.read()["id"] for _ in range(3)], [10, 11, 12])

    def test_protocol_refusal(self):
        reply = self.r.initialize(self.data_dir, protocols=(2, 3))
        self.assertEqual(reply["error"]["code"], -32010)
        self.assertEqual(reply["error"]["data"], {"supported": [1]})

    def test_unknown_method_and_bad_params(self):
        self.init()
        rid = self.r.call("no_such_method")
        self.assertEqual(self.r.read()["error"]["code"], -32601)
        rid = self.r.call("process_entry_signal", {"signal": "nope"})
        reply = self.r.read()
        self.assertEqual((reply["id"], reply["error"]["code"]), (rid, -32602))
        self.r.send({"jsonrpc": "2.0", "id": 77, "method": "on_sl_hit", "params": []})
        self.assertEqual(self.r.read()["error"]["code"], -32602)

    def test_not_json_line_is_answered_and_the_runner_goes_on(self):
        self.init()
        self.r.write(b"{this is not json\n\n")
        reply = self.r.read()
        self.assertEqual((reply["id"], reply["error"]["code"]), (None, -32700))
        self.r.write(b'[1,2]\n{"id":5,"method":"health"}\n')
        self.assertEqual(self.r.read()["error"]["code"], -32600)
        self.assertEqual(self.r.read()["error"]["code"], -32600)
        rid = self.r.call("health")
        self.assertEqual(self.r.read(), {"jsonrpc": "2.0", "id": rid, "result": {"ok": True}})

    def test_handler_error_is_a_plugin_error(self):
        self.init()
        rid = self.r.call("process_entry_signal", {"signal": signal(3, boom=True)})
        reply = self.r.read()
        self.assertEqual(reply["id"], rid)
        self.assertEqual(reply["error"], {"code": -32011, "message": "ValueError: boom s-3"})
        self.assertIn("Traceback", self.r.stderr())
        self.assertIn("ValueError: boom s-3", self.r.stderr())
        rid = self.r.call("health")
        self.assertEqual(self.r.read()["result"], {"ok": True})

    def test_orders_for_the_engine_to_place_ride_on_the_decision(self):
        self.init()
        rid = self.r.call("process_entry_signal", {"signal": signal(8, deferred=True)})
        self.assertEqual(self.r.read(), {"jsonrpc": "2.0", "id": rid, "result": {
            "kind": "executed", "reason": None, "orders": [], "closed": [],
            "place": [{"symbol": "XAUUSD", "side": "buy", "price": "2030.5", "sl": {"pips": "25"}, "tp": "2040"}],
        }})

    def test_risk_rejection_passes_through(self):
        self.init()
        rid = self.r.call("process_entry_signal", {"signal": signal(4)})
        request = self.r.read()
        error = {"code": -32003, "message": "orders: daily loss limit reached", "data": {"code": "daily_loss_limit"}}
        self.r.answer(request["id"], error=error)
        self.assertEqual(self.r.read(), {"jsonrpc": "2.0", "id": rid, "error": error})

    def test_other_service_errors_become_plugin_errors(self):
        self.init()
        rid = self.r.call("process_entry_signal", {"signal": signal(5)})
        request = self.r.read()
        self.r.answer(request["id"], error={"code": -32001, "message": "orders: not granted"})
        reply = self.r.read()
        self.assertEqual(reply["error"]["code"], -32011)
        self.assertIn("CapabilityDenied", reply["error"]["message"])

    def test_async_handler_with_a_service_call(self):
        self.init()
        rid = self.r.call("process_signal", {"signal": signal(6, type="market")})
        request = self.r.read()
        self.assertEqual(request["method"], "market.price")
        self.r.answer(request["id"], {"price": "2031.25"})
        self.assertEqual(self.r.read()["result"],
                         {"kind": "ignored", "reason": "price 2031.25", "orders": [], "closed": []})

    def test_shutdown_runs_on_stop_and_exits(self):
        self.init()
        rid = self.r.call("shutdown")
        self.assertEqual(self.r.read(), {"jsonrpc": "2.0", "id": rid, "result": None})
        self.assertEqual(self.r.wait(), 0)
        self.assertEqual((self.data_dir / "stopped").read_text(), "yes")

    def test_end_of_input_exits_cleanly(self):
        self.init()
        self.r.close_stdin()
        self.assertEqual(self.r.wait(), 0)

    def test_oversize_line_is_a_protocol_error(self):
        self.init()
        try:
            self.r.write(b'{"jsonrpc":"2.0","id":9,"method":"health","params":{"x":"' + b"a" * (1 << 20) + b'"}}\n')
        except BrokenPipeError:
            pass
        self.assertEqual(self.r.wait(), 2)
        self.assertEqual(self.r.proc.stdout.read(), b"")
        self.assertIn("more than 1048576 bytes", self.r.stderr())

    def test_calls_before_initialize(self):
        rid = self.r.call("process_entry_signal", {"signal": signal(1)})
        self.assertEqual(self.r.read()["error"]["code"], -32006)
        self.init()

    def test_stdout_is_kept_for_the_protocol(self):
        self.init()
        rid = self.r.call("on_sl_hit", {"trade": {"position": {"id": 3}}})
        self.assertEqual(self.r.read(), {"jsonrpc": "2.0", "id": rid, "result": None})
        stderr = self.r.stderr()
        self.assertIn("sl hit on 3", stderr)
        self.assertIn("raw write to fd 1", stderr)
        self.assertIn("write to sys.__stdout__", stderr)
        rid = self.r.call("health")
        self.assertEqual(self.r.read(), {"jsonrpc": "2.0", "id": rid, "result": {"ok": True}})


class LoadingTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def test_a_plugin_that_fails_to_import_says_why_at_initialize(self):
        folder = make_plugin(self.root, "import no_such_module\n")
        r = Runner(folder)
        try:
            reply = r.initialize(self.root / "data")
            self.assertEqual(reply["error"]["code"], -32011)
            self.assertIn("ModuleNotFoundError", reply["error"]["message"])
            self.assertIn("no_such_module", reply["error"]["message"])
        finally:
            r.close()

    def test_single_subclass_custom_entry_and_helper_module(self):
        code = '''
        from helper import answer
        from zepix_sdk import LogicPlugin

        class Base(LogicPlugin):
            pass

        class MyLogic(Base):
            def process_entry_signal(self, signal):
                return self.reject(answer())

            def on_signal_received(self, signal):
                return self.modify({**signal, "confidence": 99})
        '''
        folder = make_plugin(self.root, code, entry="main_logic.py")
        (folder / "helper.py").write_text("def answer():\n    return 'from helper'\n")
        r = Runner(folder)
        try:
            self.assertEqual(r.initialize(self.root / "data")["result"]["hooks"], ["on_signal_received"])
            r.call("process_entry_signal", {"signal": signal(1)})
            self.assertEqual(r.read()["result"]["reason"], "from helper")
            r.call("on_signal_received", {"signal": signal(2)})
            answer = r.read()["result"]
            self.assertEqual((answer["action"], answer["signal"]["confidence"], answer["signal"]["id"]),
                             ("modify", 99, "s-2"))
        finally:
            r.close()

    def test_run_when_the_plugin_file_is_started_directly(self):
        folder = make_plugin(self.root, PLUGIN)
        env = dict(os.environ, PYTHONPATH=str(SDK_ROOT))
        r = Runner(folder, argv=[sys.executable, "-B", str(folder / "plugin.py")], env=env)
        try:
            self.assertEqual(r.initialize(self.root / "data")["result"]["name"], "T Plugin")
            r.close_stdin()
            self.assertEqual(r.wait(), 0)
        finally:
            r.close()


if __name__ == "__main__":
    unittest.main()
