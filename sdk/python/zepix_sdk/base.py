"""Plugin base classes: :class:`LogicPlugin`, :class:`StrategyPlugin`, :class:`DataSourcePlugin`.

The runner creates the plugin object when the engine initializes it, sets ``plugin_id``,
``config``, ``logger``, ``data_dir``, ``services`` and ``enabled``, then calls ``on_initialize()``.
Override the handlers you need; each may be a plain ``def`` or an ``async def``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .errors import CapabilityDenied
from .signals import Signal

_EXECUTED = "executed"
_REJECTED = "rejected"
_IGNORED = "ignored"


def _as_id(value: Any, key: str) -> Any:
    """An order / position id from an id, a placement (``orders.place``'s answer), a position
    or a trade."""
    if isinstance(value, dict):
        if key == "orders":
            inner = value.get("order", value)
        else:
            inner = value.get("position", value)
        if isinstance(inner, dict) and "id" in inner:
            return inner["id"]
        raise ValueError(f"cannot find an id in {value!r}")
    return value


class LogicPlugin:
    """A plugin that receives the signals routed to it and decides what to do with them.

    Attributes set by the runner: ``plugin_id``, ``config`` (the validated settings), ``logger``
    (a ``logging.Logger`` named after the plugin, writing to stderr), ``enabled``, ``data_dir``
    (``pathlib.Path``, the plugin's own read-write folder), ``capabilities`` (granted services),
    ``services`` (see :mod:`zepix_sdk.services`) and ``db`` (an ``sqlite3.Connection`` to
    ``data_dir/"plugin.db"``, opened on first use).
    """

    plugin_id: str = ""
    config: dict = {}
    enabled: bool = True
    data_dir: Path = Path(".")
    capabilities: list = []
    manifest: dict = {}

    def __init__(self, plugin_id: str | None = None, config: dict | None = None, services: Any = None,
                 *, data_dir: Any = None) -> None:
        # The runner sets the attributes before calling __init__; a subclass that calls
        # super().__init__(...) keeps them. Plain construction (unit tests) fills what is given.
        # A subclass __init__(self, plugin_id, config, service_api), as in the original system,
        # gets those three from the runner.
        d = self.__dict__
        if services is not None:
            self.services = services
        if plugin_id is not None or "plugin_id" not in d:
            self.plugin_id = plugin_id or d.get("plugin_id") or type(self).__name__.lower()
        if config is not None or "config" not in d:
            self.config = dict(config or {})
        if data_dir is not None or "data_dir" not in d:
            self.data_dir = Path(data_dir) if data_dir is not None else Path(".")
        d.setdefault("enabled", True)
        d.setdefault("capabilities", None)
        d.setdefault("manifest", {})
        if "logger" not in d:
            self.logger = logging.getLogger(self.plugin_id)
        if "services" not in d:
            self.services = None

    # -- runtime-provided --------------------------------------------------------------------

    @property
    def db(self):
        """This plugin's SQLite database (``data_dir/"plugin.db"``), opened on first use with
        ``timeout=5`` and ``isolation_level=None`` (autocommit; use ``BEGIN``/``COMMIT`` or
        ``with self.db:`` for transactions). Needs the ``db`` capability."""
        conn = self.__dict__.get("_db")
        if conn is None:
            caps = self.__dict__.get("capabilities")
            if caps is not None and "db" not in caps:
                raise CapabilityDenied(
                    message="self.db needs the `db` capability in plugin.toml", data={"capability": "db"}
                )
            import sqlite3

            path = Path(self.data_dir)
            path.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path / "plugin.db"), timeout=5, isolation_level=None)
            self.__dict__["_db"] = conn
        return conn

    def _close_db(self) -> None:
        conn = self.__dict__.pop("_db", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing on the way out
                pass

    # -- decisions -----------------------------------------------------------------------------

    def executed(self, orders: Any = None, closed: Any = None, reason: str | None = None,
                 place: Any = None, close: Any = None) -> dict:
        """Orders were placed and/or positions closed. ``orders`` takes order ids or what
        ``orders.place`` returned; ``closed`` takes position ids, positions or trades.

        ``place`` lists orders for the engine to place when it gets this answer
        (``self.services.orders.intent(...)`` / ``intent_from_signal(signal)``): the same as calling
        ``orders.place`` for each, without waiting for the engine in between. Their ids join
        ``orders``; a risk refusal of one stops the list and becomes the signal's outcome.

        ``close`` lists ``{"symbol": …, "side": …?}`` whose positions the engine closes when it gets
        this answer (``orders.close_all`` for each, without the round trip); the closed positions
        join ``closed``, and a decision that closed and placed nothing is stored as ignored."""
        decision = {
            "kind": _EXECUTED,
            "reason": reason,
            "orders": [_as_id(o, "orders") for o in (orders or ())],
            "closed": [_as_id(c, "closed") for c in (closed or ())],
        }
        if place:
            decision["place"] = list(place)
        if close:
            decision["close"] = list(close)
        return decision

    def reject(self, reason: str) -> dict:
        """The plugin refuses the signal (a filter said no)."""
        return {"kind": _REJECTED, "reason": str(reason), "orders": [], "closed": []}

    def ignore(self, reason: str = "nothing to do") -> dict:
        """Nothing to do for this signal."""
        return {"kind": _IGNORED, "reason": str(reason), "orders": [], "closed": []}

    # -- on_signal_received answers ------------------------------------------------------------

    def pass_(self) -> dict:
        """``on_signal_received``: let the signal through unchanged (returning None does too)."""
        return {"action": "pass"}

    def modify(self, signal: dict) -> dict:
        """``on_signal_received``: replace the signal (its ``id`` must stay the same)."""
        return {"action": "modify", "signal": dict(signal)}

    def reject_signal(self, reason: str) -> dict:
        """``on_signal_received``: stop the signal before routing."""
        return {"action": "reject", "reason": str(reason)}

    # -- signal handlers -----------------------------------------------------------------------

    def validate_alert(self, signal: Signal) -> bool | str:
        """Checked before ``process_entry_signal``/``process_exit_signal``/
        ``process_reversal_signal``: True to go on, False or a reason string to reject."""
        return True

    def process_entry_signal(self, signal: Signal) -> dict | None:
        """An entry signal routed to this plugin. Return a decision (``self.executed(...)``,
        ``self.reject(reason)``, ``self.ignore(reason)``); None means ignored."""
        return self.ignore("process_entry_signal is not implemented")

    def process_exit_signal(self, signal: Signal) -> dict | None:
        """An exit signal: by default closes every position of this plugin on the symbol."""
        symbol = signal.get("symbol")
        if not symbol:
            raise ValueError("exit signal without a symbol")
        trades = self.services.orders.close_all(symbol)
        if not trades:
            return self.ignore(f"no open position on {symbol}")
        return self.executed(closed=trades)

    def process_reversal_signal(self, signal: Signal) -> dict | None:
        """A reversal: by default closes every position on the symbol, then handles the signal as
        an entry; the decision lists the closed positions too."""
        symbol = signal.get("symbol")
        if not symbol:
            raise ValueError("reversal signal without a symbol")
        closed = [_as_id(t, "closed") for t in self.services.orders.close_all(symbol)]
        runtime = self.__dict__.get("_runtime")
        decision = self.process_entry_signal(signal)
        if runtime is not None:
            decision = runtime.resolve(decision)
        from .dispatch import normalize_decision

        decision = normalize_decision(decision, "process_entry_signal")
        decision["closed"] = closed + decision["closed"]
        if decision["kind"] != _EXECUTED and closed:
            decision["kind"] = _EXECUTED
        return decision

    def process_signal(self, signal: Signal) -> dict | None:
        """Any other signal type (``trend``, ``market``, custom)."""
        return self.ignore(f"no handler for `{signal.get('type')}` signals")

    # -- hooks (listed in the handshake only when overridden) ----------------------------------

    def on_signal_received(self, signal: Signal) -> dict | None:
        """Sees every signal before routing: return None / ``self.pass_()``,
        ``self.modify(signal)`` or ``self.reject_signal(reason)``."""
        return None

    def on_sl_hit(self, trade: dict) -> None:
        """One of this plugin's positions hit its stop loss; ``trade`` is the closed trade."""

    def on_tp_hit(self, trade: dict) -> None:
        """One of this plugin's positions hit its take profit."""

    def on_order_placed(self, order: dict) -> None:
        """An order of this plugin was placed."""

    def on_daily_reset(self) -> None:
        """The trading day rolled over."""

    def on_start(self) -> None:
        """The engine started the plugin (after initialize)."""

    def on_stop(self) -> None:
        """The plugin is stopping."""

    def on_plugin_enabled(self) -> None:
        """The plugin was enabled (``self.enabled`` is already True)."""

    def on_plugin_disabled(self) -> None:
        """The plugin was disabled (``self.enabled`` is already False)."""

    # -- lifecycle -----------------------------------------------------------------------------

    def on_initialize(self) -> None:
        """Called once the settings, data_dir and services are set: open tables, load state."""

    def get_status(self) -> dict:
        """Shown in the plugin's status (``zepix plugin list`` / the API)."""
        return {"plugin_id": self.plugin_id, "enabled": self.enabled}


class StrategyPlugin(LogicPlugin):
    """A plugin that turns bars into signals: override :meth:`on_bar` and call :meth:`emit`."""

    def on_bar(self, bar: dict) -> None:
        """A closed bar of a subscribed ``(symbol, timeframe)``."""

    def emit(self, signal: dict) -> Any:
        """Sends a signal into the engine's inbox (capability ``signals``)."""
        return self.services.signals.emit(signal)


class DataSourcePlugin(LogicPlugin):
    """A plugin that streams bars and ticks from a venue. The engine side of data sources is not
    in protocol 1 yet: these are the methods a data source will implement."""

    def connect(self) -> None:
        """Open the connection to the venue."""

    def subscribe(self, symbol: str, timeframe: str) -> None:
        """Start streaming ``(symbol, timeframe)``."""

    def disconnect(self) -> None:
        """Close the connection."""


SDK_BASES = (LogicPlugin, StrategyPlugin, DataSourcePlugin)

# Optional methods the handshake lists when a subclass overrides them.
HOOKS = (
    "on_signal_received",
    "on_sl_hit",
    "on_tp_hit",
    "on_order_placed",
    "on_daily_reset",
    "on_start",
    "on_stop",
    "on_plugin_enabled",
    "on_plugin_disabled",
    "on_bar",
)

_DEFAULTS = {
    name: {base.__dict__[name] for base in SDK_BASES if name in base.__dict__} for name in HOOKS
}


def overridden_hooks(cls: type) -> list[str]:
    """The hooks ``cls`` implements itself (not the SDK's no-op defaults)."""
    out = []
    for name in HOOKS:
        impl = getattr(cls, name, None)
        if impl is not None and impl not in _DEFAULTS[name]:
            out.append(name)
    return out
