"""``self.services``: thin typed wrappers over the engine's protocol 1 services.

Each call is synchronous: it sends the request, waits for the engine's answer and returns it (or
raises a :mod:`zepix_sdk.errors` exception). Numbers may be given as ``Decimal``, ``int``, ``float``
or decimal strings; they are sent as decimal strings so no precision is lost. Every service needs
the matching capability in ``plugin.toml`` (``orders``, ``positions``, ``risk``, ``market_data``,
``trend``, ``notify``, ``signals``); a call without it raises ``CapabilityDenied``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable, Mapping

from .signals import to_decimal

_SIDES = {"buy": "buy", "long": "buy", "sell": "sell", "short": "sell"}
_SIZE_FIELDS = ("lot", "risk_pct", "risk_amount")


def num(value: Any) -> str:
    """A number as the decimal string the wire carries."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise ValueError(f"expected a number, got {value!r}")


def side(value: Any) -> str:
    """``buy``/``long`` → ``buy``, ``sell``/``short`` → ``sell``."""
    s = _SIDES.get(str(value).strip().lower()) if value is not None else None
    if s is None:
        raise ValueError(f"side must be buy or sell, got {value!r}")
    return s


def level(value: Any) -> Any:
    """A stop-loss / take-profit level: a price, ``{"pips": n}`` or ``{"price": n}``."""
    if isinstance(value, Mapping):
        if len(value) == 1 and ("pips" in value or "price" in value):
            key = "pips" if "pips" in value else "price"
            return {key: num(value[key])}
        raise ValueError(f'a level is a price, {{"pips": n}} or {{"price": n}}, got {value!r}')
    return num(value)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


class Placed(dict):
    """What ``orders.place`` returns: ``{"order": O, "position": P}``.

    ``placed.order``, ``placed.position`` and ``placed.id`` (the order id) are shortcuts;
    ``placed["id"]`` also reads the order id.
    """

    __slots__ = ()

    def __missing__(self, key: str) -> Any:
        if key == "id":
            order = dict.get(self, "order")
            if isinstance(order, dict) and "id" in order:
                return order["id"]
        raise KeyError(key)

    @property
    def order(self) -> dict:
        return self["order"]

    @property
    def position(self) -> dict:
        return self["position"]

    @property
    def id(self) -> Any:
        return self["order"]["id"]

    @property
    def position_id(self) -> Any:
        return self["position"]["id"]


class _Service:
    __slots__ = ("_rt",)

    def __init__(self, runtime: Any) -> None:
        self._rt = runtime


class Orders(_Service):
    """``orders.*`` (capability ``orders``)."""

    __slots__ = ()

    def intent(
        self,
        symbol: str,
        side: str,
        lot: Any = None,
        risk_pct: Any = None,
        risk_amount: Any = None,
        price: Any = None,
        sl: Any = None,
        tp: Any = None,
        sl_pips: Any = None,
        tp_pips: Any = None,
        comment: str = "",
    ) -> dict:
        """The ``orders.place`` params for an order, without sending it: put it in a decision's
        ``place`` list (``self.executed(place=[...])``) and the engine places it when it gets the
        answer, which saves the round trip of :meth:`place`."""
        params: dict[str, Any] = {"symbol": symbol, "side": _side(side)}
        if lot is not None:
            params["lot"] = num(lot)
        if risk_pct is not None:
            params["risk_pct"] = num(risk_pct)
        if risk_amount is not None:
            params["risk_amount"] = num(risk_amount)
        if price is not None:
            params["price"] = num(price)
        if sl_pips is not None:
            if sl is not None:
                raise ValueError("give `sl` or `sl_pips`, not both")
            sl = {"pips": sl_pips}
        if tp_pips is not None:
            if tp is not None:
                raise ValueError("give `tp` or `tp_pips`, not both")
            tp = {"pips": tp_pips}
        if sl is not None:
            params["sl"] = level(sl)
        if tp is not None:
            params["tp"] = level(tp)
        if comment:
            params["comment"] = str(comment)
        return params

    def intent_from_signal(self, signal: Mapping, **overrides: Any) -> dict:
        """The ``orders.place`` params :meth:`place_from_signal` would send, without sending them."""
        args: dict[str, Any] = {
            "symbol": signal.get("symbol"),
            "side": signal.get("direction"),
            "price": signal.get("price"),
            "sl": signal.get("sl"),
        }
        tp = signal.get("tp")
        if isinstance(tp, list):
            tp = tp[0] if tp else None
        args["tp"] = tp
        if not any(overrides.get(f) is not None for f in _SIZE_FIELDS):
            for f in _SIZE_FIELDS:
                if signal.get(f) is not None:
                    args[f] = signal[f]
        if overrides.get("sl_pips") is not None:
            args.pop("sl", None)
        if overrides.get("tp_pips") is not None:
            args.pop("tp", None)
        args.update(overrides)
        if args.get("symbol") is None:
            raise ValueError("the signal has no symbol")
        if args.get("side") is None:
            raise ValueError("the signal has no direction")
        return self.intent(**args)

    def place(
        self,
        symbol: str,
        side: str,
        lot: Any = None,
        risk_pct: Any = None,
        risk_amount: Any = None,
        price: Any = None,
        sl: Any = None,
        tp: Any = None,
        sl_pips: Any = None,
        tp_pips: Any = None,
        comment: str = "",
    ) -> Placed:
        """Places a market order now; returns ``{"order": O, "position": P}``.

        Give at most one size (``lot``, ``risk_pct`` or ``risk_amount``; none = the plugin's
        default lot; risk sizing needs a stop loss). ``sl``/``tp`` are prices or ``{"pips": n}``;
        ``sl_pips``/``tp_pips`` are shortcuts for the pip forms. ``price`` is the price the signal
        saw (the paper venue fills there). Orders placed while a signal is handled are linked to it.
        Raises ``RiskRejected`` when the risk gate refuses.
        """
        params = self.intent(symbol, side, lot, risk_pct, risk_amount, price, sl, tp, sl_pips, tp_pips, comment)
        signal_id = self._rt.current_signal_id
        if signal_id is not None:
            params["signal_id"] = signal_id
        result = self._rt.request("orders.place", params)
        return Placed(result) if isinstance(result, dict) else result

    def place_from_signal(self, signal: Mapping, **overrides: Any) -> Placed:
        """Places the order a signal describes: its symbol, direction, price, stop loss, first
        take-profit and size (``lot`` | ``risk_pct`` | ``risk_amount``). Keyword arguments override
        any of them (``lot=0.1`` replaces the signal's size, ``tp=None`` drops the target)."""
        params = self.intent_from_signal(signal, **overrides)
        signal_id = self._rt.current_signal_id
        if signal_id is not None:
            params["signal_id"] = signal_id
        result = self._rt.request("orders.place", params)
        return Placed(result) if isinstance(result, dict) else result

    def modify(self, position_id: int, sl: Any = None, tp: Any = None) -> dict:
        """Moves a position's stop loss and/or take profit (prices); returns the position."""
        params: dict[str, Any] = {"position_id": position_id}
        if sl is not None:
            params["sl"] = num(sl)
        if tp is not None:
            params["tp"] = num(tp)
        return self._rt.request("orders.modify", params)

    def close(self, position_id: int) -> dict:
        """Closes one position; returns the closed trade ``T``."""
        return self._rt.request("orders.close", {"position_id": position_id})

    def close_all(self, symbol: str, side: str | None = None) -> list:
        """Closes this plugin's positions on ``symbol`` (only one ``side`` when given); returns the
        closed trades (an empty list when there was none)."""
        params: dict[str, Any] = {"symbol": symbol}
        if side is not None:
            params["side"] = _side(side)
        return self._rt.request("orders.close_all", params) or []

    # The name the first scaffold template used.
    close_symbol = close_all


class Positions(_Service):
    """``positions.*`` (capability ``positions``)."""

    __slots__ = ()

    def list(self, symbol: str | None = None) -> list:
        """This plugin's open positions (on ``symbol`` only, when given)."""
        return self._rt.request("positions.list", {} if symbol is None else {"symbol": symbol}) or []


class Risk(_Service):
    """``risk.*`` (capability ``risk``)."""

    __slots__ = ()

    def lot_size(self, symbol: str, entry: Any, sl: Any, risk_pct: Any = None, risk_amount: Any = None) -> Decimal:
        """Lots that risk ``risk_pct`` % of the balance (or ``risk_amount``) between ``entry`` and
        ``sl``, rounded down to the symbol's lot step. Raises ``RiskRejected`` (``lot_below_min``…)."""
        if (risk_pct is None) == (risk_amount is None):
            raise ValueError("give exactly one of risk_pct and risk_amount")
        params: dict[str, Any] = {"symbol": symbol, "entry": num(entry), "sl": num(sl)}
        if risk_pct is not None:
            params["risk_pct"] = num(risk_pct)
        else:
            params["risk_amount"] = num(risk_amount)
        return to_decimal(self._rt.request("risk.lot_size", params)["lots"])


class Market(_Service):
    """``market.*`` (capability ``market_data``)."""

    __slots__ = ()

    def price(self, symbol: str) -> Decimal | None:
        """The last price of ``symbol``, or None when the engine has none yet."""
        return to_decimal(self._rt.request("market.price", {"symbol": symbol}).get("price"))

    def bars(self, symbol: str, timeframe: str, count: int = 100) -> Any:
        """Recent bars (part of protocol 1; engines without it raise ``Unavailable``)."""
        return self._rt.request("market.bars", {"symbol": symbol, "timeframe": timeframe, "count": count})


class Trend(_Service):
    """``trend.*`` (capability ``trend``)."""

    __slots__ = ()

    def get(self, symbol: str, timeframe: str) -> str:
        """``"bullish"``, ``"bearish"`` or ``"neutral"``."""
        return self._rt.request("trend.get", {"symbol": symbol, "timeframe": timeframe})["trend"]

    def aligned(self, symbol: str, side: str, timeframes: Iterable[str]) -> bool:
        """Whether every timeframe's trend agrees with ``side`` (bullish for buy, bearish for sell)."""
        params = {"symbol": symbol, "side": _side(side), "timeframes": list(_as_list(timeframes))}
        return bool(self._rt.request("trend.aligned", params)["aligned"])


class Notify(_Service):
    """``notify.*`` (capability ``notify``)."""

    __slots__ = ()

    def send(self, message: str, level: str = "info") -> None:
        """Sends a notification to the operator (``info``, ``warning`` or ``error``)."""
        if level not in ("info", "warning", "error"):
            raise ValueError(f"level must be info, warning or error, got {level!r}")
        self._rt.request("notify.send", {"level": level, "message": str(message)})


class Signals(_Service):
    """``signals.*`` (capability ``signals``)."""

    __slots__ = ()

    def emit(self, signal: Mapping) -> Any:
        """Puts a new signal into the engine's inbox (strategy plugins). Inside ``on_bar`` it goes
        back with the bar's answer (no round trip; the engine stamps its id from the bar);
        elsewhere it is a ``signals.emit`` request."""
        collecting = getattr(self._rt, "emitting", None)
        if collecting is not None:
            collecting.append(dict(signal))
            return None
        return self._rt.request("signals.emit", {"signal": dict(signal)})


def _plan(levels: Iterable[int], target_pips: Any, target_money: Any, sl_pips: Any) -> dict:
    """A chain plan; the target is 20 pips when neither ``target_pips`` nor ``target_money`` is given."""
    if target_pips is not None and target_money is not None:
        raise ValueError("give at most one of target_pips and target_money")
    target = {"money": num(target_money)} if target_money is not None else {"pips": num(target_pips or 20)}
    return {"levels": [int(n) for n in levels], "target": target, "sl_pips": num(sl_pips)}


class ProfitBooking(_Service):
    """``profit_booking.*`` (capability ``profit_booking``): pyramid chains the engine runs.
    Each level's orders get the chain's stop and the level's target; when every order of a level
    reaches its target the level is booked and the next one opens with more orders; a stop ends
    the chain; after the last level it is complete."""

    __slots__ = ()

    def start(self, symbol: str, side: str, lot: Any = None, risk_pct: Any = None, risk_amount: Any = None,
              price: Any = None, sl: Any = None, levels: Iterable[int] = (1, 2, 4, 8, 16),
              target_pips: Any = None, target_money: Any = None, sl_pips: Any = 20) -> dict:
        """Opens the chain's first level (``levels[0]`` orders of the given size); returns the
        chain (``id``, ``level``, ``open``, ``booked``, ``status``…). ``sl`` only sizes a
        ``risk_pct``/``risk_amount`` order; the orders' stop is ``sl_pips``."""
        params = Orders(self._rt).intent(symbol, side, lot, risk_pct, risk_amount, price, sl, None, None, None, "")
        signal_id = self._rt.current_signal_id
        if signal_id is not None:
            params["signal_id"] = signal_id
        params["plan"] = _plan(levels, target_pips, target_money, sl_pips)
        return self._rt.request("profit_booking.start", params)

    def chains(self) -> list:
        """The plugin's active chains."""
        return self._rt.request("profit_booking.chains", {})


class DualOrder(_Service):
    """``dual_order.*`` (capabilities ``dual_order`` and ``profit_booking``)."""

    __slots__ = ()

    def place(self, symbol: str, side: str, lot: Any = None, risk_pct: Any = None, risk_amount: Any = None,
              price: Any = None, sl: Any = None, tp: Any = None, split: Any = "0.5",
              levels: Iterable[int] = (1, 2, 4, 8, 16), target_pips: Any = None, target_money: Any = None,
              sl_pips: Any = 20) -> dict:
        """Splits an entry: order A (``split`` of the lots) keeps ``tp``; order B starts a
        profit chain (``levels[0]`` must be 1). Returns ``{"id", "a", "b", "b_refused", "chain"}``."""
        params = Orders(self._rt).intent(symbol, side, lot, risk_pct, risk_amount, price, sl, tp, None, None, "")
        signal_id = self._rt.current_signal_id
        if signal_id is not None:
            params["signal_id"] = signal_id
        params["plan"] = {
            "split": num(split),
            "pyramid": _plan(levels, target_pips, target_money, sl_pips),
        }
        return self._rt.request("dual_order.place", params)


class Reentry(_Service):
    """``reentry.*`` (capability ``reentry``): re-entry chains the engine runs after a followed
    trade closes (SL-hunt recovery, TP continuation, exit continuation), each recovery checked by
    the safety service first."""

    __slots__ = ()

    def start(self, position_id: int, sl_hunt: bool = True, zone_pips: Any = 5, sl_factor: Any = 1,
              tp_continuation: bool = True, exit_continuation: bool = False, gap_pips: Any = 10,
              window_minutes: int = 60, max_chain_level: int = 3) -> dict:
        """Follows an open position of the plugin; returns the chain (``id``, ``level``,
        ``position``, ``watching``, ``status``…)."""
        plan = {
            "sl_hunt": bool(sl_hunt), "zone_pips": num(zone_pips), "sl_factor": num(sl_factor),
            "tp_continuation": bool(tp_continuation), "exit_continuation": bool(exit_continuation),
            "gap_pips": num(gap_pips), "window_minutes": int(window_minutes), "max_chain_level": int(max_chain_level),
        }
        return self._rt.request("reentry.start", {"position_id": position_id, "plan": plan})

    def chains(self) -> list:
        """The plugin's active re-entry chains."""
        return self._rt.request("reentry.chains", {})


class Safety(_Service):
    """``safety.*`` (capability ``safety``)."""

    __slots__ = ()

    def check_recovery_allowed(self, symbol: str) -> dict:
        """``{"allowed": bool, "reasons": [...]}``: whether a recovery may open now on ``symbol``,
        with every reason it may not (daily recovery cap, losses in a row, cooldown, spread,
        trading window, trading state)."""
        return self._rt.request("safety.check_recovery_allowed", {"symbol": symbol})

    def shield(self, position_id: int, share: Any = "0.5") -> dict:
        """Guards an open position that has a stop loss with a reverse shield: an opposite hedge
        opens when it has used ``share`` of its stop distance and closes when it recovers half of
        that; the shield ends with the position. Returns the shield."""
        return self._rt.request("safety.shield", {"position_id": position_id, "share": num(share)})


class Services:
    """Every service, as ``self.services.orders``, ``.positions``, ``.risk``, ``.market``,
    ``.trend``, ``.notify``, ``.signals``, ``.dual_order``, ``.profit_booking``, ``.reentry`` and
    ``.safety``;
    ``call(method, **params)`` reaches any other protocol method (``reentry.*``…) as is."""

    __slots__ = ("_rt", "orders", "positions", "risk", "market", "trend", "notify", "signals", "dual_order",
                 "profit_booking", "reentry", "safety")

    def __init__(self, runtime: Any) -> None:
        self._rt = runtime
        self.orders = Orders(runtime)
        self.positions = Positions(runtime)
        self.risk = Risk(runtime)
        self.market = Market(runtime)
        self.trend = Trend(runtime)
        self.notify = Notify(runtime)
        self.signals = Signals(runtime)
        self.dual_order = DualOrder(runtime)
        self.profit_booking = ProfitBooking(runtime)
        self.reentry = Reentry(runtime)
        self.safety = Safety(runtime)

    def call(self, method: str, **params: Any) -> Any:
        """A raw protocol call: ``self.services.call("reentry.start", position_id=7)``."""
        return self._rt.request(method, params)

    def log(self, message: str, level: str = "info") -> None:
        """Sends a ``log`` notification (shown in the engine's log; no answer)."""
        self._rt.notify("log", {"level": level, "message": str(message)})


_side = side
