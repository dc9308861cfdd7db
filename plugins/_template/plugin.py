"""{{name}}: a zepix logic plugin.

The engine routes alerts whose "strategy" is "{{strategy}}" to this class, which runs in its own
sandboxed process through the zepix_sdk package. Everything the plugin does to the world goes
through `self.services` (orders, positions, risk, trend, notify) and `self.db` (this plugin's own
SQLite file), each limited to the capabilities in plugin.toml.
"""

from zepix_sdk import LogicPlugin, run


class Plugin(LogicPlugin):
    def process_entry_signal(self, signal):
        confidence = float(signal.get("confidence", 0))
        minimum = self.config["min_confidence"]
        if confidence < minimum:
            return self.reject(f"confidence {confidence:g} below {minimum:g}")
        placed = self.services.orders.place_from_signal(signal)
        return self.executed(orders=[placed])

    def process_exit_signal(self, signal):
        closed = self.services.orders.close_all(signal["symbol"])
        if not closed:
            return self.ignore(f"no open position on {signal['symbol']}")
        return self.executed(closed=closed)


if __name__ == "__main__":
    run(Plugin)
