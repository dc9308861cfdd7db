"""bollinger_py: the Bollinger bands strategy as a Python strategy plugin.

Long only: buy when the close is below the lower band (the mean of the last `period` closes minus
`k` population standard deviations), exit when the close is above the middle band. The signals go
to the `target` plugin (signal_executor by default), which places and closes the orders.
"""

from collections import deque
from math import sqrt

from zepix_sdk import StrategyPlugin, run


class Plugin(StrategyPlugin):
    def on_initialize(self):
        self.period = int(self.config["period"])
        self.k = float(self.config["k"])
        self.window = {}  # (symbol, timeframe) -> deque of closes
        self.long = {}  # (symbol, timeframe) -> holding a position

    def on_bar(self, bar):
        key = (bar["symbol"], bar["timeframe"])
        window = self.window.get(key)
        if window is None:
            window = self.window[key] = deque(maxlen=self.period)
        close = float(bar["close"])
        window.append(close)
        n = self.period
        if len(window) < n:
            return
        mean = sum(window) / n
        sd = sqrt(sum((x - mean) * (x - mean) for x in window) / n)
        holding = self.long.get(key, False)
        if not holding and close < mean - self.k * sd:
            self.long[key] = True
            self.emit({"type": "entry", "direction": "buy", "lot": self.config["lot"],
                       "plugin_hint": self.config["target"]})
        elif holding and close > mean:
            self.long[key] = False
            self.emit({"type": "exit", "direction": "buy", "plugin_hint": self.config["target"]})

    def get_status(self):
        return {"holding": [f"{s} {tf}" for (s, tf), held in self.long.items() if held]}


if __name__ == "__main__":
    run(Plugin)
