"""The protocol 1 dispatcher: one engine message in, one answer out.

It owns the plugin object and turns each engine request into a handler call, and each plugin
service call into a request on its *transport*. The runner gives it a transport over the real
pipes (:mod:`zepix_sdk.runner`); the test harness gives it an in-memory fake engine
(:mod:`zepix_sdk.testing`). Both go through :meth:`Dispatcher.handle_line`, so a plugin tested with
the harness runs the very code the engine will run.

A transport has ``request(method, params) -> result`` (raising a ``ServiceError`` for an error
answer) and ``notify(method, params)``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import traceback
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from . import errors as E
from .base import _as_id, overridden_hooks
from .errors import PluginError, RiskRejected
from .manifest import default_roles
from .services import Services
from .signals import Signal

PROTOCOL = 1
SUPPORTED = [PROTOCOL]

_log = logging.getLogger("zepix_sdk")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serializable")


_encoder = json.JSONEncoder(separators=(",", ":"), default=_json_default, allow_nan=False)
_decoder = json.JSONDecoder()

try:  # The C encoder, made once (json.dumps makes a new one per call).
    from _json import encode_basestring_ascii as _c_ascii
    from _json import make_encoder as _c_make_encoder

    _c_iterencode = _c_make_encoder(None, _json_default, _c_ascii, None, ":", ",", False, False, False)

    def encode(obj: Any) -> bytes:
        """One protocol line (with its newline) for ``obj``."""
        return ("".join(_c_iterencode(obj, 0)) + "\n").encode()

except ImportError:  # pragma: no cover - CPython always has _json

    def encode(obj: Any) -> bytes:
        """One protocol line (with its newline) for ``obj``."""
        return (_encoder.encode(obj) + "\n").encode()


_scan_once = _decoder.scan_once


def loads(line: bytes | str) -> Any:
    """Parses one protocol line; ValueError when it is not (exactly one) JSON value."""
    text = line.decode() if type(line) is bytes else line
    try:
        obj, end = _scan_once(text, 0)
    except StopIteration:
        return json.loads(text)  # leading whitespace, or the error message for garbage
    if end != len(text) and not text[end:].isspace():
        return json.loads(text)  # raises "Extra data"
    return obj


class RpcFailure(Exception):
    """Answer the current request with this exact JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _error_line(rid: Any, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return encode({"jsonrpc": "2.0", "id": rid, "error": error})


_KINDS = ("executed", "rejected", "ignored")
_DECISION_KEYS = frozenset(("kind", "reason", "orders", "closed", "place", "close"))
_NO_DECISION = "no decision"


def _ids(value: Any, key: str, method: str) -> list:
    if type(value) is list:
        for v in value:
            if type(v) is not int or v < 0:
                break
        else:
            return value
    elif value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise PluginError(f"{method}: decision `{key}` must be a list of ids, got {value!r}")
    out = []
    for v in value:
        v = _as_id(v, key)
        if type(v) is not int or v < 0:
            raise PluginError(f"{method}: decision `{key}` must hold ids (integers), got {v!r}")
        out.append(v)
    return out


def normalize_decision(value: Any, method: str) -> dict:
    """A handler's return value as the wire decision ``{"kind","reason","orders","closed"}``.

    None means ignored with reason "no decision"; a dict with ``kind`` is checked; anything else is
    a :class:`PluginError`.
    """
    if value is None:
        return {"kind": "ignored", "reason": _NO_DECISION, "orders": [], "closed": []}
    if not isinstance(value, dict) or "kind" not in value:
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        raise PluginError(
            f"{method} returned {shown}: expected a decision such as self.executed(orders=[...]), "
            "self.reject(reason) or self.ignore(reason)"
        )
    kind = value["kind"]
    if kind not in _KINDS:
        raise PluginError(f"{method}: decision kind must be executed, rejected or ignored, got {kind!r}")
    if not _DECISION_KEYS.issuperset(value.keys()):
        extra = ", ".join(sorted(str(k) for k in value.keys() - _DECISION_KEYS))
        raise PluginError(f"{method}: a decision has only kind, reason, orders, closed, place and close; remove {extra}")
    reason = value.get("reason")
    if reason is not None and not isinstance(reason, str):
        reason = str(reason)
    out = {
        "kind": kind,
        "reason": reason,
        "orders": _ids(value.get("orders"), "orders", method),
        "closed": _ids(value.get("closed"), "closed", method),
    }
    place = value.get("place")
    if place:
        if not isinstance(place, (list, tuple)) or not all(
            isinstance(p, dict) and p.get("symbol") and p.get("side") for p in place
        ):
            raise PluginError(
                f"{method}: decision `place` must be a list of orders.place params (symbol, side, …), "
                "e.g. [self.services.orders.intent_from_signal(signal)]"
            )
        out["place"] = list(place)
    close = value.get("close")
    if close:
        if not isinstance(close, (list, tuple)) or not all(isinstance(c, dict) and c.get("symbol") for c in close):
            raise PluginError(
                f"{method}: decision `close` must be a list of orders.close_all params (symbol, side?), "
                "e.g. [{\"symbol\": signal.symbol}]"
            )
        out["close"] = [dict(c) for c in close]
    return out


def _signal_param(params: dict) -> Signal:
    signal = params.get("signal")
    if type(signal) is not dict:
        raise RpcFailure(E.INVALID_PARAMS, "params need `signal`, an object")
    return Signal(signal)


def _object_param(params: dict, key: str) -> dict:
    value = params.get(key)
    if not isinstance(value, dict):
        raise RpcFailure(E.INVALID_PARAMS, f"params need `{key}`, an object")
    return value


def _drive(awaitable: Any) -> Any:
    """Runs a coroutine that never waits on the event loop (used when no loop can run it)."""
    coro = awaitable.__await__() if not hasattr(awaitable, "send") else awaitable
    try:
        while True:
            yielded = coro.send(None)
            if yielded is not None:
                coro.close()
                raise RuntimeError(
                    "an async handler awaited an asyncio future inside another handler's event loop; "
                    "call it with `await` from an async handler instead"
                )
    except StopIteration as stop:
        return stop.value


class _PipeEnd:
    """One end of an ``os.pipe`` with the socket methods asyncio's self-pipe uses."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def setblocking(self, flag: bool) -> None:
        os.set_blocking(self._fd, flag)

    def recv(self, n: int) -> bytes:
        return os.read(self._fd, n)

    def send(self, data: bytes) -> int:
        return os.write(self._fd, data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _new_loop() -> Any:
    import asyncio
    import socket

    try:
        a, b = socket.socketpair()
        a.close()
        b.close()
    except OSError:
        pass
    else:
        return asyncio.new_event_loop()

    # The sandbox refuses the socketpair asyncio wakes itself with: use a pipe instead.
    class _PipeWakeupLoop(asyncio.SelectorEventLoop):
        def _make_self_pipe(self) -> None:
            r, w = os.pipe()
            self._ssock, self._csock = _PipeEnd(r), _PipeEnd(w)
            self._ssock.setblocking(False)
            self._csock.setblocking(False)
            self._internal_fds += 1
            self._add_reader(r, self._read_from_self)

    return _PipeWakeupLoop()


def _init_args(cls: type, offered: tuple) -> tuple:
    """The leading ``(plugin_id, config, services)`` a plugin's ``__init__`` requires (none for
    ``__init__(self)``; all three for the original system's ``__init__(self, plugin_id, config,
    service_api)``)."""
    init = cls.__init__
    if getattr(init, "__module__", None) == __name__.rsplit(".", 1)[0] + ".base":
        return ()
    import inspect

    try:
        params = list(inspect.signature(init).parameters.values())[1:]
    except (TypeError, ValueError):
        return ()
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in params if p.kind in positional and p.default is inspect.Parameter.empty]
    return offered[: len(required)]


class Dispatcher:
    """Serves one plugin class over a transport. See the module docstring."""

    def __init__(
        self,
        plugin_cls: type | None,
        manifest: dict | None,
        transport: Any,
        *,
        plugin_dir: Path | str | None = None,
        load_error: str | None = None,
        log_tracebacks: bool = True,
    ) -> None:
        self.plugin_cls = plugin_cls
        self.manifest = manifest or {}
        self.transport = transport
        self.plugin_dir = Path(plugin_dir) if plugin_dir is not None else None
        self.load_error = load_error
        self.log_tracebacks = log_tracebacks
        self.plugin: Any = None
        self.hooks: list[str] = []
        self.current_signal_id: Any = None
        # While ``on_bar`` runs, emitted signals are collected here and go back in its answer.
        self.emitting: list | None = None
        self.stopped = False
        self.exit_requested = False
        self.last_exception: BaseException | None = None
        self._loop: Any = None
        self._methods: dict[str, Callable[[dict], Any]] = {
            "initialize": self._initialize,
            "process_entry_signal": self._process("process_entry_signal", validate=True),
            "process_exit_signal": self._process("process_exit_signal", validate=True),
            "process_reversal_signal": self._process("process_reversal_signal", validate=True),
            "process_signal": self._process("process_signal", validate=False),
            "on_signal_received": self._on_signal_received,
            "on_sl_hit": self._hook_with("on_sl_hit", "trade"),
            "on_tp_hit": self._hook_with("on_tp_hit", "trade"),
            "on_order_placed": self._hook_with("on_order_placed", "order"),
            "on_bar": self._on_bar,
            "on_bars": self._on_bars,
            "on_daily_reset": self._hook("on_daily_reset"),
            "on_start": self._hook("on_start"),
            "on_stop": self._on_stop,
            "on_plugin_enabled": self._enabled(True),
            "on_plugin_disabled": self._enabled(False),
            "get_status": self._get_status,
            "health": self._health,
            "shutdown": self._shutdown,
        }
        self._before_init = frozenset(("initialize", "health", "shutdown"))

    # -- the runtime API services use ----------------------------------------------------------

    def request(self, method: str, params: dict) -> Any:
        """A plugin → engine call: the engine's result, or a ServiceError."""
        return self.transport.request(method, params)

    def notify(self, method: str, params: dict) -> None:
        self.transport.notify(method, params)

    def resolve(self, value: Any) -> Any:
        """``value``, or what it evaluates to when it is a coroutine / awaitable."""
        if value is None or type(value) is dict or not hasattr(value, "__await__"):
            return value
        loop = self._loop
        if loop is None:
            try:
                loop = self._loop = _new_loop()
            except Exception:  # noqa: BLE001 - no event loop in this sandbox: step it by hand
                return _drive(value)
        if loop.is_running():
            return _drive(value)
        return loop.run_until_complete(value)

    # -- messages ------------------------------------------------------------------------------

    def handle_line(self, line: bytes | str) -> bytes | None:
        """One protocol line in; the answer line (with newline), or None for no answer."""
        try:
            msg = loads(line)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
            return _error_line(None, E.PARSE_ERROR, f"not JSON: {e}")
        return self.handle_message(msg)

    def handle_message(self, msg: Any) -> bytes | None:
        """One parsed message in; the answer line, or None (notifications, stray responses)."""
        if type(msg) is not dict:
            return _error_line(None, E.INVALID_REQUEST, "a message must be a JSON object")
        rid = msg.get("id")
        if msg.get("jsonrpc") != "2.0":
            return _error_line(rid, E.INVALID_REQUEST, '`jsonrpc` must be "2.0"')
        method = msg.get("method")
        if method is None:
            if "result" in msg or "error" in msg:
                _log.warning("ignoring an answer to no pending request (id %r)", rid)
                return None
            return _error_line(rid, E.INVALID_REQUEST, "a request needs `method`")
        if type(method) is not str:
            return _error_line(rid, E.INVALID_REQUEST, "`method` must be a string")
        params = msg.get("params")
        if params is None:
            params = {}
        elif type(params) is not dict:
            return None if rid is None else _error_line(rid, E.INVALID_PARAMS, "`params` must be an object")
        fn = self._methods.get(method)
        if fn is None:
            if rid is None:
                return None
            return _error_line(rid, E.METHOD_NOT_FOUND, f"method `{method}` not found")
        if self.plugin is None and method not in self._before_init:
            if rid is None:
                return None
            return _error_line(rid, E.UNAVAILABLE, f"`{method}` before `initialize`")
        try:
            result = fn(params)
            if rid is None:
                return None
            return encode({"jsonrpc": "2.0", "id": rid, "result": result})
        except RpcFailure as e:
            return None if rid is None else _error_line(rid, e.code, e.message, e.data)
        except RiskRejected as e:
            return None if rid is None else _error_line(rid, E.RISK_REJECTED, e.message, e.data)
        except Exception as e:  # noqa: BLE001 - any handler failure is answered, not fatal
            self.last_exception = e
            text = f"{type(e).__name__}: {e}"
            if self.log_tracebacks:
                _log.error("%s failed: %s\n%s", method, text, traceback.format_exc().rstrip())
            return None if rid is None else _error_line(rid, E.PLUGIN_ERROR, text)

    # -- handlers ------------------------------------------------------------------------------

    def _initialize(self, params: dict) -> dict:
        protocols = params.get("protocols")
        if not isinstance(protocols, list):
            raise RpcFailure(E.INVALID_PARAMS, "initialize needs `protocols`, a list of versions")
        if PROTOCOL not in protocols:
            raise RpcFailure(
                E.UNSUPPORTED_PROTOCOL,
                f"unsupported protocol: the engine offers {protocols}, this SDK speaks {SUPPORTED}",
                {"supported": list(SUPPORTED)},
            )
        if self.load_error is not None:
            raise RpcFailure(E.PLUGIN_ERROR, self.load_error)
        cls = self.plugin_cls
        if cls is None:
            raise RpcFailure(E.PLUGIN_ERROR, "no plugin class to run")
        manifest = self.manifest
        plugin_id = params.get("plugin_id") or manifest.get("id") or cls.__name__.lower()
        settings = params.get("settings")
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            raise RpcFailure(E.INVALID_PARAMS, "`settings` must be an object")
        data_dir = params.get("data_dir")
        data_dir = Path(data_dir) if data_dir else (self.plugin_dir or Path(".")) / "data"
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # the engine makes it; a sandbox may not let us
        capabilities = params.get("capabilities")
        if capabilities is not None and not isinstance(capabilities, list):
            raise RpcFailure(E.INVALID_PARAMS, "`capabilities` must be a list")

        if self.plugin is not None:
            self.plugin._close_db()
        plugin = cls.__new__(cls)
        d = plugin.__dict__
        d["plugin_id"] = str(plugin_id)
        d["config"] = dict(settings)
        d["logger"] = logging.getLogger(str(plugin_id))
        d["enabled"] = True
        d["data_dir"] = data_dir
        d["capabilities"] = capabilities
        d["manifest"] = manifest
        d["services"] = Services(self)
        d["_runtime"] = self
        self.plugin = None
        plugin.__init__(*_init_args(cls, (d["plugin_id"], d["config"], d["services"])))
        try:
            self.resolve(plugin.on_initialize())
        except BaseException:
            plugin._close_db()
            raise
        self.plugin = plugin
        self.stopped = False
        self.hooks = overridden_hooks(cls)
        if "on_bar" in self.hooks:
            # Bars may also come in batches (backtests): one message, many on_bar calls.
            self.hooks.append("on_bars")
        strategy = manifest.get("strategy")
        return {
            "protocol": PROTOCOL,
            "name": manifest.get("name") or str(plugin_id),
            "version": manifest.get("version") or "0.0.0",
            "roles": list(manifest.get("roles") or default_roles(cls)),
            "strategies": [strategy] if strategy else [],
            "timeframes": list(manifest.get("timeframes") or []),
            "hooks": list(self.hooks),
        }

    def _process(self, name: str, validate: bool) -> Callable[[dict], dict]:
        """A ``process_*`` handler; entries, exits and reversals pass ``validate_alert`` first."""
        def handle(params: dict) -> dict:
            signal = _signal_param(params)
            plugin = self.plugin
            previous = self.current_signal_id
            self.current_signal_id = signal.get("id")
            try:
                if validate:
                    refused = self._refused_by_validate_alert(plugin, signal)
                    if refused is not None:
                        return {"kind": "rejected", "reason": refused, "orders": [], "closed": []}
                result = getattr(plugin, name)(signal)
                if result is not None and type(result) is not dict:
                    result = self.resolve(result)
                return normalize_decision(result, name)
            finally:
                self.current_signal_id = previous

        return handle

    def _refused_by_validate_alert(self, plugin: Any, signal: Signal) -> str | None:
        """Why ``validate_alert`` refused the signal, or None when it passed."""
        ok = plugin.validate_alert(signal)
        if ok is True:
            return None
        ok = self.resolve(ok)
        if isinstance(ok, str):
            return ok or "validate_alert refused the signal"
        if ok is not None and not ok:
            return "validate_alert refused the signal"
        return None

    def _on_signal_received(self, params: dict) -> dict:
        signal = _signal_param(params)
        r = self.resolve(self.plugin.on_signal_received(signal))
        if r is None or r is True:
            return {"action": "pass"}
        if r is False:
            return {"action": "reject", "reason": "rejected by on_signal_received"}
        if isinstance(r, Signal):
            r = {"action": "modify", "signal": r}
        if not isinstance(r, dict) or "action" not in r:
            raise PluginError(
                f"on_signal_received returned {r!r}: expected None, self.pass_(), self.modify(signal) "
                "or self.reject_signal(reason)"
            )
        action = r["action"]
        if action == "pass":
            return {"action": "pass"}
        if action == "reject":
            reason = r.get("reason")
            return {"action": "reject", "reason": str(reason) if reason else "rejected by on_signal_received"}
        if action == "modify":
            changed = r.get("signal")
            if not isinstance(changed, dict):
                raise PluginError("on_signal_received: `modify` needs the changed signal")
            changed = dict(changed)
            if "id" not in changed:
                changed["id"] = signal.get("id")
            elif changed["id"] != signal.get("id"):
                raise PluginError(
                    f"on_signal_received: a modified signal keeps its id ({signal.get('id')!r}, "
                    f"got {changed['id']!r})"
                )
            return {"action": "modify", "signal": changed}
        raise PluginError(f"on_signal_received: action must be pass, modify or reject, got {action!r}")

    def _bar_handler(self) -> Callable[[dict], Any]:
        fn = getattr(self.plugin, "on_bar", None)
        if fn is None:
            raise RpcFailure(E.METHOD_NOT_FOUND, "this plugin has no `on_bar`")
        return fn

    def _on_bar(self, params: dict) -> dict:
        bar = _object_param(params, "bar")
        feed = params.get("feed")
        if isinstance(feed, dict):
            bar.setdefault("symbol", feed.get("symbol"))
            bar.setdefault("timeframe", feed.get("timeframe"))
        fn = self._bar_handler()
        self.emitting = emitted = []
        try:
            self.resolve(fn(bar))
        finally:
            self.emitting = None
        return {"signals": emitted}

    def _on_bars(self, params: dict) -> dict:
        """A batch of closed bars in time order: ``on_bar`` on each; every signal comes back with
        the index of the bar it was emitted on."""
        bars = params.get("bars")
        if not isinstance(bars, list) or not all(isinstance(b, dict) for b in bars):
            raise RpcFailure(E.INVALID_PARAMS, "params need `bars`, a list of objects")
        feed = params.get("feed") if isinstance(params.get("feed"), dict) else {}
        symbol, timeframe = feed.get("symbol"), feed.get("timeframe")
        fn = self._bar_handler()
        resolve = self.resolve
        out = []
        try:
            for i, bar in enumerate(bars):
                bar["symbol"] = symbol
                bar["timeframe"] = timeframe
                self.emitting = emitted = []
                result = fn(bar)
                if result is not None:
                    resolve(result)
                if emitted:
                    out.extend({"bar": i, "signal": signal} for signal in emitted)
        finally:
            self.emitting = None
        return {"signals": out}

    def _hook_with(self, name: str, key: str) -> Callable[[dict], None]:
        def handle(params: dict) -> None:
            arg = _object_param(params, key)
            fn = getattr(self.plugin, name, None)
            if fn is None:
                raise RpcFailure(E.METHOD_NOT_FOUND, f"this plugin has no `{name}`")
            self.resolve(fn(arg))

        return handle

    def _hook(self, name: str) -> Callable[[dict], None]:
        def handle(params: dict) -> None:
            self.resolve(getattr(self.plugin, name)())

        return handle

    def _enabled(self, enabled: bool) -> Callable[[dict], None]:
        name = "on_plugin_enabled" if enabled else "on_plugin_disabled"

        def handle(params: dict) -> None:
            self.plugin.enabled = enabled
            self.resolve(getattr(self.plugin, name)())

        return handle

    def _on_stop(self, params: dict) -> None:
        self.stopped = True
        self.resolve(self.plugin.on_stop())

    def _get_status(self, params: dict) -> dict:
        status = self.resolve(self.plugin.get_status())
        if status is None:
            return {}
        if not isinstance(status, dict):
            return {"status": status}
        return status

    def _health(self, params: dict) -> dict:
        return {"ok": True}

    def _shutdown(self, params: dict) -> None:
        self.exit_requested = True
        plugin = self.plugin
        if plugin is not None:
            if not self.stopped:
                self.stopped = True
                try:
                    self.resolve(plugin.on_stop())
                except Exception:  # noqa: BLE001 - shutting down anyway
                    _log.error("on_stop failed during shutdown\n%s", traceback.format_exc().rstrip())
            plugin._close_db()
        if self._loop is not None and not self._loop.is_running():
            try:
                self._loop.close()
            except Exception:  # noqa: BLE001
                pass
            self._loop = None
