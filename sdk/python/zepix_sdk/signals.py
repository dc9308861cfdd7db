"""The signal a handler receives.

A :class:`Signal` is a ``dict`` holding the engine's canonical signal (docs/protocol.md): ``id``,
``type``, ``strategy``, ``timeframe``, ``symbol``, ``direction``, ``price``, ``sl``, ``tp`` (a list),
``lot`` | ``risk_pct`` | ``risk_amount``, ``plugin_hint``, ``timestamp``, ``max_lag`` and every other
alert field as given (``confidence``, ``adx``…). Prices and sizes arrive as decimal strings, so
``signal["price"]`` is ``"2030.5"`` while ``signal.price`` is ``Decimal("2030.5")``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def to_decimal(value: Any) -> Decimal | None:
    """``value`` (a decimal string, int, float or Decimal) as a Decimal; None stays None.

    Raises ValueError when it is not a number.
    """
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    raise ValueError(f"not a number: {value!r}")


class Signal(dict):
    """A canonical signal: a dict with typed conveniences.

    ``signal["symbol"]`` and ``signal.get("confidence")`` work as for any dict; the properties read
    the canonical fields (``None`` when absent).
    """

    __slots__ = ()

    @property
    def id(self) -> str | None:
        return self.get("id")

    @property
    def symbol(self) -> str | None:
        return self.get("symbol")

    @property
    def direction(self) -> str | None:
        """``"buy"`` or ``"sell"`` (``"neutral"`` for a trend signal without a side)."""
        return self.get("direction")

    @property
    def side(self) -> str | None:
        """The same as :attr:`direction`."""
        return self.get("direction")

    @property
    def timeframe(self) -> str | None:
        return self.get("timeframe")

    @property
    def strategy(self) -> str | None:
        return self.get("strategy")

    @property
    def type(self) -> str | None:
        """``entry``, ``exit``, ``reversal``, ``trend``, ``market`` or a custom type."""
        return self.get("type")

    @property
    def price(self) -> Decimal | None:
        return to_decimal(self.get("price"))

    @property
    def sl(self) -> Any:
        """The stop loss as sent: a price string or ``{"pips": "25"}``; None when absent."""
        return self.get("sl")

    @property
    def tp(self) -> Any:
        """The take-profit targets as sent: a list of price strings or ``{"pips": n}``."""
        return self.get("tp")

    @property
    def sl_price(self) -> Decimal | None:
        """The stop loss as a price, or None when absent or given in pips."""
        sl = self.get("sl")
        return None if sl is None or isinstance(sl, dict) else to_decimal(sl)

    @property
    def tp_prices(self) -> list[Decimal]:
        """The take-profit targets given as prices (pip targets are left out)."""
        tp = self.get("tp")
        if tp is None:
            return []
        if not isinstance(tp, list):
            tp = [tp]
        return [to_decimal(t) for t in tp if not isinstance(t, dict)]

    def decimal(self, key: str, default: Any = None) -> Decimal | None:
        """A numeric field (``signal.decimal("adx")``) as a Decimal; ``default`` when absent."""
        value = self.get(key)
        if value is None:
            return to_decimal(default)
        return to_decimal(value)

    def copy(self) -> "Signal":
        return Signal(self)

    def __repr__(self) -> str:
        return f"Signal({dict.__repr__(self)})"
