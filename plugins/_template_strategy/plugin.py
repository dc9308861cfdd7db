"""{{name}}: a zepix strategy plugin.

It watches the closed bars of the symbols and timeframes in plugin.toml and emits an entry signal
when a fast moving average of the closes crosses a slow one: up is a buy, down a sell. Emitted
signals enter the engine's inbox like webhook alerts and go to the logic plugin that owns their
"strategy" (the `emit_strategy` setting).

A bar is {"symbol", "timeframe", "time", "open", "high", "low", "close", "volume"}; prices arrive
as decimal strings.
"""

from collections import defaultdict, deque
from decimal import Decimal

from zepix_sdk import StrategyPlugin, run


class Plugin(StrategyPlugin):
    def on_initialize(self):
        slow = self.config["slow"]
        self.closes = defaultdict(lambda: deque(maxlen=slow))
        self.fast_above = {}  # (symbol, timeframe) -> was the fast average above the slow one

    def on_bar(self, bar):
        key = (bar["symbol"], bar["timeframe"])
        closes = self.closes[key]
        closes.append(Decimal(str(bar["close"])))
        fast_n, slow_n = self.config["fast"], self.config["slow"]
        if len(closes) < slow_n:
            return
        fast = sum(list(closes)[-fast_n:]) / fast_n
        slow = sum(closes) / slow_n
        above = fast > slow
        before = self.fast_above.get(key)
        self.fast_above[key] = above
        if before is None or before == above:
            return
        self.emit({
            "id": f"{self.plugin_id}-{bar['symbol']}-{bar['timeframe']}-{bar['time']}",
            "type": "entry",
            "strategy": self.config["emit_strategy"],
            "symbol": bar["symbol"],
            "timeframe": bar["timeframe"],
            "direction": "buy" if above else "sell",
            "price": str(bar["close"]),
        })

    def get_status(self):
        return {"watching": [f"{symbol} {timeframe}" for symbol, timeframe in self.closes]}


if __name__ == "__main__":
    run(Plugin)
