"""Run a plugin without the engine: :class:`PluginHarness` and its in-memory :class:`FakeEngine`.

    from zepix_sdk.testing import PluginHarness

    h = PluginHarness("plugins/my_logic", config={"min_confidence": 50})
    decision = h.send({"strategy": "MY_LOGIC", "symbol": "XAUUSD", "direction": "buy",
                       "price": 2030.5, "sl": 2025, "confidence": 80})
    assert decision["kind"] == "executed"
    assert h.positions[0]["lots"] == "0.01"

The harness speaks to the plugin through the same dispatcher the engine's runner uses: every call
is encoded as a protocol line and every answer decoded, so what passes here passes under the
engine. The fake engine fills orders at the signal's price (paper), keeps positions, sizes lots
from risk like the engine (``balance`` × ``risk_pct`` over the stop distance × contract size,
rounded down to the lot step), answers trends you set, records notifications, and refuses calls
outside the manifest's capabilities, as the engine does.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import re
import sys
import tempfile
import weakref
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Iterable

from . import errors as E
from .dispatch import Dispatcher, encode
from .errors import ServiceError
from .manifest import find_plugin_class, load_entry, load_manifest, resolve_settings
from .signals import Signal

__all__ = ["FakeEngine", "PluginCallError", "PluginHarness", "canonical_signal", "SymbolSpec"]

D = Decimal


class PluginCallError(Exception):
    """A call to the plugin was answered with an error (other than the plugin's own exception,
    which the harness re-raises as is)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data


# -- symbols ---------------------------------------------------------------------------------


class SymbolSpec:
    """Contract of one symbol: pip size, contract size, lot limits and how P&L converts."""

    def __init__(self, pip: str, contract: str, lot_min: str = "0.01", lot_max: str = "100",
                 lot_step: str = "0.01", divide_by_price: bool = False) -> None:
        self.pip = D(pip)
        self.contract = D(contract)
        self.lot_min = D(lot_min)
        self.lot_max = D(lot_max)
        self.lot_step = D(lot_step)
        self.divide_by_price = divide_by_price

    def value_per_lot(self, distance: Decimal, price: Decimal) -> Decimal:
        quote = distance * self.contract
        return quote / price if self.divide_by_price else quote

    def pnl(self, sign: int, lots: Decimal, entry: Decimal, exit_: Decimal) -> Decimal:
        quote = (exit_ - entry) * sign * lots * self.contract
        if self.divide_by_price:
            quote = quote / exit_
        return quote.quantize(D("0.01"))


# The engine's default symbol table (crates/zepix-model/src/symbol.rs).
DEFAULT_SYMBOLS = {
    "XAUUSD": SymbolSpec("0.1", "100"),
    "XAGUSD": SymbolSpec("0.01", "5000"),
    "EURUSD": SymbolSpec("0.0001", "100000"),
    "GBPUSD": SymbolSpec("0.0001", "100000"),
    "AUDUSD": SymbolSpec("0.0001", "100000"),
    "USDJPY": SymbolSpec("0.01", "100000", divide_by_price=True),
    "US30": SymbolSpec("1", "1"),
    "BTCUSDT": SymbolSpec("1", "1", "0.001", "100", "0.001"),
    "ETHUSDT": SymbolSpec("0.1", "1", "0.001", "1000", "0.001"),
}


def infer_spec(symbol: str) -> SymbolSpec:
    """A spec for a symbol outside the table: FX pairs by their name (JPY quotes have 0.01 pips),
    anything else 0.01 pips with a contract of 1."""
    if re.fullmatch(r"[A-Z]{6}", symbol):
        if symbol.endswith("JPY"):
            return SymbolSpec("0.01", "100000", divide_by_price=symbol.startswith("USD"))
        if symbol.startswith("XAU"):
            return SymbolSpec("0.1", "100")
        return SymbolSpec("0.0001", "100000", divide_by_price=symbol.startswith("USD"))
    return SymbolSpec("0.01", "1")


# -- signals ---------------------------------------------------------------------------------

_ALIASES = {
    "alert_id": "id", "client_ref": "id",
    "bot": "strategy",
    "tf": "timeframe", "interval": "timeframe",
    "ticker": "symbol", "instrument": "symbol",
    "signal_type": "type",
    "side": "direction",
    "stop_loss": "sl", "take_profit": "tp",
    "qty": "lot", "quantity": "lot", "contracts": "lot",
    "plugin": "plugin_hint",
}
_SECRETS = ("secret", "passphrase", "token", "key")
_DIRECTIONS = {"buy": "buy", "long": "buy", "sell": "sell", "short": "sell"}


def _num(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, Decimal)):
        return str(value)
    text = str(value).strip()
    D(text)  # raises on garbage
    return text


def _level(value: Any) -> Any:
    if isinstance(value, dict):
        if "pips" in value:
            return {"pips": _num(value["pips"])}
        if "price" in value:
            return _num(value["price"])
        raise ValueError(f"a level is a price, {{'pips': n}} or {{'price': n}}: {value!r}")
    return _num(value)


def timeframe(text: Any) -> str:
    """A timeframe as the engine writes it: ``5`` → ``5m``, ``60`` → ``1h``, ``1D`` → ``1d``."""
    t = str(text).strip()
    m = re.fullmatch(r"(\d*)\s*([A-Za-z]*)", t)
    if not m or (not m.group(1) and not m.group(2)):
        raise ValueError(f"not a timeframe: {text!r}")
    count = int(m.group(1)) if m.group(1) else 1
    unit = m.group(2)
    per = {"": 1, "m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1, "T": 1,
           "h": 60, "H": 60, "hr": 60, "hour": 60, "hours": 60,
           "d": 1440, "D": 1440, "day": 1440, "days": 1440,
           "w": 10080, "W": 10080, "week": 10080, "weeks": 10080}.get(unit)
    if per is None or (unit == "" and not m.group(1)):
        raise ValueError(f"not a timeframe: {text!r}")
    minutes = count * per
    if minutes % 10080 == 0:
        return f"{minutes // 10080}w"
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def symbol_name(text: str) -> str:
    """``OANDA:XAUUSD`` → ``XAUUSD``, ``eur/usd`` → ``EURUSD``."""
    s = str(text).strip()
    if ":" in s:
        s = s.split(":", 1)[1]
    return s.replace("/", "").upper()


def canonical_signal(raw: dict, default_id: str = "test-1") -> Signal:
    """An alert body as the engine would hand it to a plugin (a light version of the webhook's
    parser): aliases resolved, ``action`` read, numbers as decimal strings, ``tp`` a list."""
    s: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECRETS:
            continue
        key = _ALIASES.get(key, key)
        if value is not None:
            s[key] = value
    action = s.pop("action", None)
    if action is not None:
        a = str(action).strip().lower()
        if a in _DIRECTIONS:
            s.setdefault("direction", a)
            s.setdefault("type", "entry")
        elif a in ("close", "exit", "flat"):
            s.setdefault("type", "exit")
        elif a == "reverse":
            s.setdefault("type", "reversal")
        else:
            s.setdefault("type", a)
    s.setdefault("type", "entry")
    s["type"] = str(s["type"]).strip().lower()
    s["id"] = str(s.get("id", default_id))
    if "symbol" in s:
        s["symbol"] = symbol_name(s["symbol"])
    if "timeframe" in s:
        s["timeframe"] = timeframe(s["timeframe"])
    if "direction" in s:
        d = str(s["direction"]).strip().lower()
        s["direction"] = _DIRECTIONS.get(d, d)
    elif s["type"] == "trend":
        s["direction"] = "neutral"
    if "strategy" in s:
        s["strategy"] = str(s["strategy"])
    for key in ("price", "lot", "risk_pct", "risk_amount"):
        if key in s:
            s[key] = _num(s[key])
    if "sl" in s:
        s["sl"] = _level(s["sl"])
    if "tp" in s:
        tp = s["tp"] if isinstance(s["tp"], list) else [s["tp"]]
        s["tp"] = [_level(t) for t in tp]
    return Signal(s)


# -- the fake engine -------------------------------------------------------------------------

_CAPABILITY_OF = (
    ("orders.", "orders"), ("positions.", "positions"), ("risk.", "risk"), ("market.", "market_data"),
    ("trend.", "trend"), ("notify.", "notify"), ("signals.", "signals"), ("reentry.", "reentry"),
    ("dual_order.", "dual_order"), ("profit_booking.", "profit_booking"), ("safety.", "safety"),
)
_PARAMS = {
    "orders.place": {"symbol", "side", "lot", "risk_pct", "risk_amount", "price", "sl", "tp", "comment", "signal_id"},
    "orders.modify": {"position_id", "sl", "tp"},
    "orders.close": {"position_id"},
    "orders.close_all": {"symbol", "side"},
    "positions.list": {"symbol"},
    "risk.lot_size": {"symbol", "entry", "sl", "risk_pct", "risk_amount"},
    "market.price": {"symbol"},
    "trend.get": {"symbol", "timeframe"},
    "trend.aligned": {"symbol", "side", "timeframes"},
    "notify.send": {"level", "message"},
    "signals.emit": {"signal"},
    "dual_order.place": {"symbol", "side", "lot", "risk_pct", "risk_amount", "price", "sl", "tp", "comment",
                         "signal_id", "plan"},
    "profit_booking.start": {"symbol", "side", "lot", "risk_pct", "risk_amount", "price", "sl", "comment",
                             "signal_id", "plan"},
    "profit_booking.chains": set(),
    "reentry.start": {"position_id", "plan"},
    "reentry.chains": set(),
    "safety.check_recovery_allowed": {"symbol"},
    "safety.shield": {"position_id", "share"},
}
_REQUIRED = {
    "orders.place": ("symbol", "side"),
    "orders.modify": ("position_id",),
    "orders.close": ("position_id",),
    "orders.close_all": ("symbol",),
    "risk.lot_size": ("symbol", "entry", "sl"),
    "market.price": ("symbol",),
    "trend.get": ("symbol", "timeframe"),
    "trend.aligned": ("symbol", "side", "timeframes"),
    "notify.send": ("message",),
    "signals.emit": ("signal",),
    "dual_order.place": ("symbol", "side"),
    "profit_booking.start": ("symbol", "side"),
    "reentry.start": ("position_id",),
    "safety.check_recovery_allowed": ("symbol",),
    "safety.shield": ("position_id", "share"),
}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class FakeEngine:
    """The engine's services in memory, as the transport of a :class:`Dispatcher`.

    State you can read: ``positions`` (open, engine JSON form), ``trades`` (closed), ``orders``,
    ``notifications`` (``{"level","message"}``), ``emitted`` (signals from ``signals.emit``),
    ``logs`` and ``requests`` (every ``(method, params)`` the plugin sent).
    """

    def __init__(self, plugin_id: str = "plugin", capabilities: Iterable[str] | None = None,
                 balance: Any = "10000", default_lot: Any = "0.01",
                 symbols: dict[str, SymbolSpec] | None = None) -> None:
        self.plugin_id = plugin_id
        self.capabilities = None if capabilities is None else set(capabilities)
        self.balance = D(str(balance))
        self.default_lot = D(str(default_lot))
        self.symbols = dict(DEFAULT_SYMBOLS)
        self.symbols.update(symbols or {})
        self.prices: dict[str, Decimal] = {}
        self.trends: dict[tuple[str, str], str] = {}
        self.positions: list[dict] = []
        self.trades: list[dict] = []
        self.orders: list[dict] = []
        self.notifications: list[dict] = []
        self.emitted: list[dict] = []
        self.logs: list[dict] = []
        self.requests: list[tuple[str, dict]] = []
        self.placed_queue: list[dict] = []
        self.chains: list[dict] = []
        self.reentries: list[dict] = []
        self.recovery_refusals: list[str] = []
        self._next_id = 1
        self._refusals: list[tuple[str, str]] = []
        self.in_signal = False

    # -- configuration ------------------------------------------------------------------------

    def spec(self, symbol: str) -> SymbolSpec:
        spec = self.symbols.get(symbol)
        if spec is None:
            spec = self.symbols[symbol] = infer_spec(symbol)
        return spec

    def refuse_next_order(self, code: str = "daily_loss_limit", message: str | None = None) -> None:
        """The next ``orders.place`` raises ``RiskRejected`` with this risk code."""
        self._refusals.append((code, message or f"risk gate: {code}"))

    # -- transport -----------------------------------------------------------------------------

    def request(self, method: str, params: dict) -> Any:
        # Through JSON both ways, as on the pipe: the plugin gets exactly what it would get.
        params = json.loads(encode(params))
        self.requests.append((method, params))
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        capability = next((cap for prefix, cap in _CAPABILITY_OF if method.startswith(prefix)), None)
        if handler is None or capability is None:
            if capability is not None:
                raise E.Unavailable(E.UNAVAILABLE, f"`{method}` is part of protocol 1 but not in the test engine")
            raise ServiceError(E.METHOD_NOT_FOUND, f"unknown method `{method}`")
        if self.capabilities is not None and capability not in self.capabilities:
            raise E.CapabilityDenied(
                E.CAPABILITY_DENIED, f"{capability}: the manifest does not grant `{capability}`"
            )
        if not isinstance(params, dict):
            raise E.InvalidParams(E.INVALID_PARAMS, "params must be an object")
        allowed = _PARAMS.get(method)
        if allowed is not None:
            unknown = set(params) - allowed
            if unknown:
                raise E.InvalidParams(E.INVALID_PARAMS, f"bad params: unknown field `{sorted(unknown)[0]}`")
            for key in _REQUIRED.get(method, ()):
                if params.get(key) is None:
                    raise E.InvalidParams(E.INVALID_PARAMS, f"bad params: missing field `{key}`")
        result = handler(params)
        return json.loads(encode(result))

    def notify(self, method: str, params: dict) -> None:
        params = json.loads(encode(params))
        self.requests.append((method, params))
        if method == "log":
            self.logs.append(params)

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _dec(params: dict, key: str) -> Decimal:
        value = params[key]
        try:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError
            return D(str(value).strip())
        except Exception:  # noqa: BLE001
            raise E.InvalidParams(E.INVALID_PARAMS, f"`{key}` must be a number, got {value!r}") from None

    @staticmethod
    def _side(value: Any) -> str:
        if value not in ("buy", "sell"):
            raise E.InvalidParams(E.INVALID_PARAMS, f"bad params: side must be buy or sell, got {value!r}")
        return value

    def _level(self, value: Any, key: str, entry: Decimal, side: str, spec: SymbolSpec, stop: bool) -> Decimal:
        if isinstance(value, dict):
            if len(value) == 1 and "pips" in value:
                pips = self._dec(value, "pips")
                if pips <= 0:
                    raise E.InvalidParams(E.INVALID_PARAMS, f"`{key}`: pips must be positive")
                distance = pips * spec.pip
                toward_loss = (side == "buy") == stop
                return entry - distance if toward_loss else entry + distance
            if len(value) == 1 and "price" in value:
                return self._dec(value, "price")
            raise E.InvalidParams(E.INVALID_PARAMS, f"`{key}` must be a price or {{\"pips\": n}}")
        return self._dec({key: value}, key)

    def _risk(self, code: str, message: str) -> E.RiskRejected:
        return E.RiskRejected(E.RISK_REJECTED, f"orders: {message}", {"code": code})

    def _risk_lots(self, spec: SymbolSpec, entry: Decimal, sl: Decimal | None, amount: Decimal) -> Decimal:
        if sl is None:
            raise self._risk("no_stop_loss", "risk sizing needs a stop loss")
        distance = abs(entry - sl)
        per_lot = spec.value_per_lot(distance, entry)
        if per_lot <= 0:
            raise self._risk("invalid_levels", "the stop loss equals the entry price")
        lots = amount / per_lot
        if spec.lot_step > 0:
            lots = (lots / spec.lot_step).to_integral_value(rounding=ROUND_DOWN) * spec.lot_step
        lots = min(lots, spec.lot_max)
        if spec.lot_step > 0:
            lots = lots.quantize(spec.lot_step)
        if lots < spec.lot_min:
            raise self._risk(
                "lot_below_min", f"risking {amount} over {distance} gives less than the minimum {spec.lot_min} lots"
            )
        return lots

    def _amount(self, params: dict) -> Decimal | None:
        if params.get("risk_pct") is not None:
            return self.balance * self._dec(params, "risk_pct") / 100
        if params.get("risk_amount") is not None:
            return self._dec(params, "risk_amount")
        return None

    def _position(self, position_id: Any) -> dict:
        for p in self.positions:
            if p["id"] == position_id:
                return p
        raise E.NotFound(E.NOT_FOUND, f"orders: position {position_id} is not open or not this plugin's")

    def close_position(self, position: dict, exit_price: Decimal | None = None, reason: str = "manual") -> dict:
        """Closes an open position (as the venue would) and returns the trade."""
        self.positions.remove(position)
        spec = self.spec(position["symbol"])
        entry = D(position["entry_price"])
        if exit_price is None:
            exit_price = self.prices.get(position["symbol"], entry)
        sign = 1 if position["side"] == "buy" else -1
        pnl = spec.pnl(sign, D(position["lots"]), entry, exit_price)
        pips = ((exit_price - entry) * sign / spec.pip).quantize(D("0.1"))
        self.balance += pnl
        trade = {"position": position, "exit_price": str(exit_price), "closed_at": _now(),
                 "pnl": str(pnl), "pips": str(pips), "reason": reason}
        self.trades.append(trade)
        return trade

    # -- services ------------------------------------------------------------------------------

    def _orders_place(self, p: dict) -> dict:
        symbol = symbol_name(p["symbol"])
        side = self._side(p["side"])
        sizes = [k for k in ("lot", "risk_pct", "risk_amount") if p.get(k) is not None]
        if len(sizes) > 1:
            raise E.InvalidParams(E.INVALID_PARAMS, "give at most one of `lot`, `risk_pct` and `risk_amount`")
        if self._refusals:
            code, message = self._refusals.pop(0)
            raise self._risk(code, message)
        spec = self.spec(symbol)
        if p.get("price") is not None:
            price = self._dec(p, "price")
        elif symbol in self.prices:
            price = self.prices[symbol]
        else:
            raise self._risk("no_price", f"no price for {symbol} to fill at")
        sl = self._level(p["sl"], "sl", price, side, spec, True) if p.get("sl") is not None else None
        tp = self._level(p["tp"], "tp", price, side, spec, False) if p.get("tp") is not None else None
        up = side == "buy"
        if (sl is not None and (sl >= price if up else sl <= price)) or (
            tp is not None and (tp <= price if up else tp >= price)
        ):
            raise self._risk("invalid_levels", f"the stop loss or take profit is on the wrong side of {price}")
        amount = self._amount(p)
        if amount is not None:
            lots = self._risk_lots(spec, price, sl, amount)
        else:
            lots = self._dec(p, "lot") if p.get("lot") is not None else self.default_lot
            if lots < spec.lot_min or lots <= 0:
                raise self._risk("lot_below_min", f"{lots} lots is below the minimum {spec.lot_min}")
            if lots > spec.lot_max:
                raise self._risk("lot_above_max", f"{lots} lots is above the maximum {spec.lot_max}")
            if spec.lot_step > 0 and lots % spec.lot_step != 0:
                raise self._risk("lot_step", f"{lots} lots is not a multiple of {spec.lot_step}")
        oid = self._next_id
        self._next_id += 1
        now = _now()
        signal_id = p.get("signal_id")
        order = {
            "id": oid, "plugin": self.plugin_id, "signal_id": signal_id,
            "request": {"symbol": symbol, "side": side, "lots": str(lots), "sl": _s(sl), "tp": _s(tp),
                        "price": str(price), "comment": p.get("comment", "")},
            "status": "filled", "reason": None, "created_at": now,
        }
        position = {
            "id": oid, "plugin": self.plugin_id, "order_id": oid, "signal_id": signal_id, "symbol": symbol,
            "side": side, "lots": str(lots), "entry_price": str(price), "sl": _s(sl), "tp": _s(tp),
            "opened_at": now,
        }
        self.prices.setdefault(symbol, price)
        self.orders.append(order)
        self.positions.append(position)
        self.placed_queue.append(order)
        return {"order": order, "position": position}

    def _orders_modify(self, p: dict) -> dict:
        position = self._position(p["position_id"])
        entry = D(position["entry_price"])
        up = position["side"] == "buy"
        sl = self._dec(p, "sl") if p.get("sl") is not None else None
        tp = self._dec(p, "tp") if p.get("tp") is not None else None
        if (sl is not None and (sl >= entry if up else sl <= entry)) or (
            tp is not None and (tp <= entry if up else tp >= entry)
        ):
            raise E.InvalidParams(E.INVALID_PARAMS, "orders: the stop loss or take profit is on the wrong side")
        if sl is not None:
            position["sl"] = str(sl)
        if tp is not None:
            position["tp"] = str(tp)
        return position

    def _orders_close(self, p: dict) -> dict:
        return self.close_position(self._position(p["position_id"]), reason="manual")

    def _orders_close_all(self, p: dict) -> list:
        symbol = symbol_name(p["symbol"])
        side = self._side(p["side"]) if p.get("side") is not None else None
        reason = "signal" if self.in_signal else "manual"
        chosen = [x for x in self.positions if x["symbol"] == symbol and (side is None or x["side"] == side)]
        return [self.close_position(x, reason=reason) for x in chosen]

    def _positions_list(self, p: dict) -> list:
        symbol = symbol_name(p["symbol"]) if p.get("symbol") is not None else None
        return [x for x in self.positions if symbol is None or x["symbol"] == symbol]

    def _risk_lot_size(self, p: dict) -> dict:
        symbol = symbol_name(p["symbol"])
        if (p.get("risk_pct") is None) == (p.get("risk_amount") is None):
            raise E.InvalidParams(E.INVALID_PARAMS, "risk.lot_size needs `risk_pct` or `risk_amount`")
        spec = self.spec(symbol)
        lots = self._risk_lots(spec, self._dec(p, "entry"), self._dec(p, "sl"), self._amount(p))
        return {"lots": str(lots)}

    def _market_price(self, p: dict) -> dict:
        return {"price": _s(self.prices.get(symbol_name(p["symbol"])))}

    def _trend_get(self, p: dict) -> dict:
        return {"trend": self.trends.get((symbol_name(p["symbol"]), timeframe(p["timeframe"])), "neutral")}

    def _trend_aligned(self, p: dict) -> dict:
        side = self._side(p["side"])
        want = "bullish" if side == "buy" else "bearish"
        symbol = symbol_name(p["symbol"])
        tfs = p["timeframes"]
        if not isinstance(tfs, list):
            raise E.InvalidParams(E.INVALID_PARAMS, "`timeframes` must be a list")
        return {"aligned": all(self.trends.get((symbol, timeframe(tf)), "neutral") == want for tf in tfs)}

    def _notify_send(self, p: dict) -> None:
        level = p.get("level") or "info"
        if level not in ("info", "warning", "error"):
            raise E.InvalidParams(E.INVALID_PARAMS, f"bad params: unknown level `{level}`")
        self.notifications.append({"level": level, "message": p["message"]})
        return None

    def _signals_emit(self, p: dict) -> None:
        self.emitted.append(p["signal"])
        return None

    # Chains: the test engine opens a chain's first level as the engine does; levels advance in
    # the engine, on its prices.

    def _chain_plan(self, plan: Any) -> dict:
        plan = dict(plan or {})
        levels = plan.get("levels", [1, 2, 4, 8, 16])
        if not levels or any(int(n) < 1 for n in levels):
            raise E.InvalidParams(E.INVALID_PARAMS, f"levels: {levels} needs one or more levels of at least 1 order")
        plan.setdefault("target", {"pips": "20"})
        plan.setdefault("sl_pips", "20")
        plan["levels"] = [int(n) for n in levels]
        return plan

    def _start_chain(self, p: dict, plan: dict) -> dict:
        target = plan["target"]
        if "pips" not in target:
            raise E.Unavailable(E.UNAVAILABLE, "money targets are worked out by the engine, not the test engine")
        order = {k: p[k] for k in ("symbol", "side", "lot", "risk_pct", "risk_amount", "price", "sl", "signal_id")
                 if p.get(k) is not None}
        placed = []
        for n in range(plan["levels"][0]):
            args = dict(order, sl={"pips": plan["sl_pips"]}, tp={"pips": target["pips"]},
                        comment=f"chain level 1 order {n + 1}")
            placed.append(self._orders_place(args))
        first = placed[0]["position"]
        chain = {
            "id": len(self.chains) + 1, "plugin": self.plugin_id, "shadow": False, "symbol": first["symbol"],
            "side": first["side"], "signal_id": p.get("signal_id"), "lot": first["lots"], "plan": plan,
            "level": 0, "open": [x["position"]["id"] for x in placed], "booked": "0", "status": "active",
            "note": None, "started_at": first["opened_at"], "updated_at": first["opened_at"],
        }
        self.chains.append(chain)
        return chain

    def _profit_booking_start(self, p: dict) -> dict:
        return self._start_chain(p, self._chain_plan(p.get("plan")))

    def _profit_booking_chains(self, p: dict) -> list:
        return [c for c in self.chains if c["status"] == "active"]

    # Re-entries: the test engine records the chain a plugin starts; the watching and the
    # re-entering happen in the engine, on its prices.

    def _reentry_start(self, p: dict) -> dict:
        position = self._position(p["position_id"])
        chain = {
            "id": len(self.reentries) + 1, "plugin": self.plugin_id, "shadow": False, "symbol": position["symbol"],
            "side": position["side"], "signal_id": position.get("signal_id"), "lot": position["lots"],
            "plan": p.get("plan") or {}, "level": 0, "position": position["id"], "watching": None, "booked": "0",
            "status": "active", "note": None, "started_at": position["opened_at"], "updated_at": position["opened_at"],
        }
        self.reentries.append(chain)
        return chain

    def _reentry_chains(self, p: dict) -> list:
        return [c for c in self.reentries if c["status"] == "active"]

    def _safety_shield(self, p: dict) -> dict:
        """The shield the engine would start; the hedging happens in the engine, on its prices."""
        position = self._position(p["position_id"])
        share = self._dec(p, "share")
        if not D(0) < share <= D(1):
            raise E.InvalidParams(E.INVALID_PARAMS, f"share: {share} is not in (0, 1]")
        if position.get("sl") is None:
            raise E.InvalidParams(E.INVALID_PARAMS, f"position {position['id']} has no stop loss")
        distance = abs(D(position["entry_price"]) - D(position["sl"])) * share
        return {"id": 1, "plugin": self.plugin_id, "position": position["id"], "symbol": position["symbol"],
                "side": position["side"], "lot": position["lots"], "entry": position["entry_price"],
                "trigger_distance": str(distance.normalize()), "hedge": None, "hedges": 0, "booked": "0",
                "status": "active"}

    def _safety_check_recovery_allowed(self, p: dict) -> dict:
        """Allowed unless a test set ``recovery_refusals`` (reasons)."""
        return {"allowed": not self.recovery_refusals, "reasons": list(self.recovery_refusals)}

    def _dual_order_place(self, p: dict) -> dict:
        plan = dict(p.get("plan") or {})
        split = D(str(plan.get("split", "0.5")))
        if not D(0) < split < D(1):
            raise E.InvalidParams(E.INVALID_PARAMS, f"split: {split} is not between 0 and 1")
        pyramid = self._chain_plan(plan.get("pyramid"))
        if pyramid["levels"][0] != 1:
            raise E.InvalidParams(E.INVALID_PARAMS, "pyramid.levels: the first level is order B alone (1)")
        spec = self.spec(symbol_name(p["symbol"]))
        lots = self._dec(p, "lot") if p.get("lot") is not None else self.default_lot
        step = spec.lot_step if spec.lot_step > 0 else D("0.01")
        a_lots = (lots * split / step).to_integral_value(rounding="ROUND_FLOOR") * step
        b_lots = lots - a_lots
        a = self._orders_place(dict({k: v for k, v in p.items() if k != "plan"}, lot=str(a_lots), comment="dual A"))
        b_params = {k: v for k, v in p.items() if k not in ("plan", "tp", "sl")}
        chain = self._start_chain(dict(b_params, lot=str(b_lots)), pyramid)
        b = {"order": next(o for o in self.orders if o["id"] == chain["open"][0]),
             "position": next(x for x in self.positions if x["id"] == chain["open"][0])}
        return {"id": chain["id"], "a": a, "b": b, "b_refused": None, "chain": chain}


# -- the harness -----------------------------------------------------------------------------


def _risk_code(data: Any) -> str:
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, str) else "rejected"

_module_names = itertools.count(1)


class PluginHarness:
    """Runs one plugin in-process against a :class:`FakeEngine`.

    ``plugin`` is a plugin folder (``plugin.toml``, ``config.toml``, the entry file) or a plugin
    class (its folder's manifest is used when the class's file sits next to a ``plugin.toml``).
    ``config`` overrides settings (validated against ``[settings_schema]`` like the engine does);
    ``data_dir`` defaults to a temporary folder removed by :meth:`close`.
    """

    def __init__(self, plugin: Any, config: dict | None = None, data_dir: Any = None, *,
                 plugin_id: str | None = None, capabilities: Iterable[str] | None = None,
                 balance: Any = "10000", default_lot: Any = "0.01",
                 symbols: dict[str, SymbolSpec] | None = None) -> None:
        if isinstance(plugin, type):
            plugin_cls = plugin
            module = sys.modules.get(plugin_cls.__module__)
            file = getattr(module, "__file__", None)
            folder = Path(file).resolve().parent if file else None
            plugin_dir = folder if folder is not None and (folder / "plugin.toml").is_file() else None
            manifest = load_manifest(plugin_dir)
        else:
            plugin_dir = Path(plugin).resolve()
            manifest = load_manifest(plugin_dir)
            if not manifest:
                raise FileNotFoundError(f"{plugin_dir / 'plugin.toml'} not found")
            if str(plugin_dir) not in sys.path:
                sys.path.insert(0, str(plugin_dir))
            name = f"_zepix_plugin_{manifest.get('id', 'plugin')}_{next(_module_names)}"
            plugin_cls = find_plugin_class(load_entry(plugin_dir, manifest, module_name=name))
        self.plugin_dir = plugin_dir
        self.manifest = manifest
        self.plugin_id = plugin_id or manifest.get("id") or plugin_cls.__name__.lower()
        self.settings = resolve_settings(manifest, plugin_dir, config)
        if capabilities is None and manifest:
            capabilities = manifest.get("capabilities", [])
        self.capabilities = None if capabilities is None else list(capabilities)
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"zepix-{self.plugin_id}-")
            data_dir = self._tmp.name
            self._finalizer = weakref.finalize(self, self._tmp.cleanup)
        self.data_dir = Path(data_dir)
        self.engine = FakeEngine(self.plugin_id, self.capabilities, balance, default_lot, symbols)
        self.dispatcher = Dispatcher(plugin_cls, manifest, self.engine, plugin_dir=plugin_dir, log_tracebacks=False)
        self._ids = itertools.count(1)
        self._signal_ids = itertools.count(1)
        self._closed = False
        params = {
            "protocols": [1], "plugin_id": self.plugin_id, "settings": self.settings,
            "data_dir": str(self.data_dir), "engine": {"name": "zepix-sdk-testing", "version": "0"},
        }
        if self.capabilities is not None:
            params["capabilities"] = self.capabilities
        self.info = self.call("initialize", params)
        self.hooks = list(self.info.get("hooks", []))

    # -- state ---------------------------------------------------------------------------------

    @property
    def plugin(self) -> Any:
        """The plugin object."""
        return self.dispatcher.plugin

    @property
    def positions(self) -> list[dict]:
        """Open positions, in the engine's JSON form."""
        return self.engine.positions

    @property
    def trades(self) -> list[dict]:
        """Closed trades."""
        return self.engine.trades

    @property
    def orders(self) -> list[dict]:
        return self.engine.orders

    @property
    def notifications(self) -> list[dict]:
        """``{"level", "message"}`` of every ``notify.send``."""
        return self.engine.notifications

    @property
    def requests(self) -> list[tuple[str, dict]]:
        """Every ``(method, params)`` the plugin sent to the engine."""
        return self.engine.requests

    @property
    def emitted(self) -> list[dict]:
        return self.engine.emitted

    def set_trend(self, symbol: str, timeframe_or_trends: Any, trend: str | None = None) -> None:
        """``set_trend("XAUUSD", "1h", "bullish")`` or ``set_trend("XAUUSD", {"1h": "bullish", ...})``."""
        trends = timeframe_or_trends if isinstance(timeframe_or_trends, dict) else {timeframe_or_trends: trend}
        for tf, value in trends.items():
            if value not in ("bullish", "bearish", "neutral"):
                raise ValueError(f"trend must be bullish, bearish or neutral, got {value!r}")
            self.engine.trends[(symbol_name(symbol), timeframe(tf))] = value

    def set_price(self, symbol: str, price: Any) -> None:
        """The market price of ``symbol`` (``market.price``, fills without a price, closes)."""
        self.engine.prices[symbol_name(symbol)] = D(_num(price))

    def refuse_next_order(self, code: str = "daily_loss_limit", message: str | None = None) -> None:
        """Makes the next ``orders.place`` fail with ``RiskRejected`` (``code`` is the risk code)."""
        self.engine.refuse_next_order(code, message)

    # -- calls ---------------------------------------------------------------------------------

    def call(self, method: str, params: dict | None = None) -> Any:
        """Sends one protocol call to the plugin and returns its result.

        The plugin's own exception is re-raised as is; other error answers raise
        :class:`PluginCallError`.
        """
        if self._closed and method != "shutdown":
            raise RuntimeError("the harness was closed")
        rid = next(self._ids)
        line = encode({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
        self.dispatcher.last_exception = None
        reply = json.loads(self.dispatcher.handle_line(line))
        if "error" in reply:
            error = reply["error"]
            exc = self.dispatcher.last_exception
            self.dispatcher.last_exception = None
            if error.get("code") == E.PLUGIN_ERROR and exc is not None:
                raise exc
            raise PluginCallError(error.get("code"), error.get("message", ""), error.get("data"))
        result = reply.get("result")
        self._deliver_order_hooks()
        return result

    def _deliver_order_hooks(self) -> None:
        queue = self.engine.placed_queue
        while queue:
            order = queue.pop(0)
            if "on_order_placed" in self.hooks:
                self.call("on_order_placed", {"order": order})

    def signal(self, raw: dict) -> Signal:
        """``raw`` (an alert body) as the canonical signal the plugin would get."""
        return canonical_signal(raw, default_id=f"test-{next(self._signal_ids)}")

    def hook(self, signal: dict) -> dict:
        """The plugin's ``on_signal_received`` answer for ``signal``."""
        return self.call("on_signal_received", {"signal": dict(self.signal(signal))})

    def send(self, signal: dict) -> dict:
        """Routes one alert to the plugin as the engine would: ``on_signal_received`` first when the
        plugin has it, then ``process_entry_signal`` / ``process_exit_signal`` /
        ``process_reversal_signal`` / ``process_signal`` by type. Returns the decision; a risk
        refusal the plugin let through comes back as ``rejected`` with the risk code as reason."""
        s = self.signal(signal)
        if s.get("price") is not None and s.get("symbol"):
            self.engine.prices[s["symbol"]] = D(s["price"])
        if "on_signal_received" in self.hooks:
            answer = self.call("on_signal_received", {"signal": dict(s)})
            if answer["action"] == "reject":
                return {"kind": "rejected", "reason": answer.get("reason"), "orders": [], "closed": []}
            if answer["action"] == "modify":
                s = Signal(answer["signal"])
        kind = s.get("type")
        method = {
            "entry": "process_entry_signal",
            "exit": "process_exit_signal",
            "reversal": "process_reversal_signal",
        }.get(kind, "process_signal")
        self.engine.in_signal = True
        try:
            decision = self.call(method, {"signal": dict(s)})
            place = decision.pop("place", None)
            for params in place or ():
                # As the engine does with a decision's `place`: orders.place for each, linked to
                # the signal; a refusal ends the list and becomes the outcome.
                params = dict(params, signal_id=s.get("id"))
                placed = self.engine.request("orders.place", params)
                decision["orders"].append(placed["order"]["id"])
                decision["kind"] = "executed"
            close = decision.pop("close", None)
            for params in close or ():
                # As the engine does with a decision's `close`: orders.close_all for each.
                for trade in self.engine.request("orders.close_all", dict(params)):
                    decision["closed"].append(trade["position"]["id"])
            if close and decision["kind"] == "executed" and not decision["orders"] and not decision["closed"]:
                symbols = ", ".join(str(c.get("symbol")) for c in close)
                decision = {"kind": "ignored", "reason": f"no open position on {symbols}", "orders": [],
                            "closed": []}
            self._deliver_order_hooks()
            return decision
        except PluginCallError as e:
            if e.code == E.RISK_REJECTED:
                return {"kind": "rejected", "reason": _risk_code(e.data), "orders": [], "closed": []}
            raise
        except E.RiskRejected as e:
            self._deliver_order_hooks()
            return {"kind": "rejected", "reason": _risk_code(e.data), "orders": [], "closed": []}
        finally:
            self.engine.in_signal = False

    def run_file(self, path: Any) -> list[tuple[Signal, dict]]:
        """Sends every signal of a JSON-lines file (blank lines and ``#`` comments skipped);
        returns ``(signal, decision)`` pairs."""
        out = []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    raw = json.loads(line)
                except ValueError as e:
                    raise ValueError(f"{path}:{number}: not JSON: {e}") from None
                signal = self.signal(raw)
                out.append((signal, self.send(signal)))
        return out

    def _close_and_hook(self, position_id: Any, which: str) -> dict:
        if position_id is None:
            if not self.engine.positions:
                raise LookupError("no open position")
            position = self.engine.positions[-1]
        else:
            position = self.engine._position(position_id)
        level = position[which]
        if level is None:
            raise LookupError(f"position {position['id']} has no {which}")
        reason = "stop_loss" if which == "sl" else "take_profit"
        trade = self.engine.close_position(position, D(level), reason)
        hook = "on_sl_hit" if which == "sl" else "on_tp_hit"
        if hook in self.hooks:
            self.call(hook, {"trade": trade})
        return trade

    def hit_sl(self, position_id: Any = None) -> dict:
        """Closes a position (the last opened by default) at its stop loss and calls ``on_sl_hit``."""
        return self._close_and_hook(position_id, "sl")

    def hit_tp(self, position_id: Any = None) -> dict:
        """Closes a position at its take profit and calls ``on_tp_hit``."""
        return self._close_and_hook(position_id, "tp")

    def _lifecycle(self, method: str) -> None:
        if method in self.hooks:
            self.call(method)

    def start(self) -> None:
        self._lifecycle("on_start")

    def daily_reset(self) -> None:
        self._lifecycle("on_daily_reset")

    def enable(self) -> None:
        self._lifecycle("on_plugin_enabled")

    def disable(self) -> None:
        self._lifecycle("on_plugin_disabled")

    def bar(self, bar: dict) -> list:
        """Calls ``on_bar``; the signals it emitted (also kept in ``emitted``)."""
        signals = (self.call("on_bar", {"bar": bar}) or {}).get("signals") or []
        self.engine.emitted.extend(signals)
        return signals

    def bars(self, bars: list, symbol: str = "", timeframe: str = "") -> list:
        """Calls ``on_bar`` on each bar as a backtest batch does; ``[(bar index, signal)]``."""
        feed = {"symbol": symbol, "timeframe": timeframe}
        out = (self.call("on_bars", {"feed": feed, "bars": [dict(b) for b in bars]}) or {}).get("signals") or []
        self.engine.emitted.extend(s["signal"] for s in out)
        return [(s["bar"], s["signal"]) for s in out]

    def status(self) -> dict:
        return self.call("get_status")

    def health(self) -> dict:
        return self.call("health")

    def close(self) -> None:
        """``shutdown`` (on_stop, closes ``self.db``) and removes the temporary data folder."""
        if self._closed:
            return
        try:
            self.call("shutdown")
        finally:
            self._closed = True
            if self._tmp is not None:
                self._finalizer()

    stop = close

    def __enter__(self) -> "PluginHarness":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
