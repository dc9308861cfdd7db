"""{{name}}: a zepix logic plugin.

The engine routes alerts whose "strategy" is "{{strategy}}" to this class. Everything the plugin
does to the world goes through `self.services` (orders, positions, risk, trend, notify) and
`self.db` (this plugin's own SQLite file), each limited to the capabilities in plugin.toml.
"""

from zepix_sdk import LogicPlugin, run


class Plugin(LogicPlugin):
    def process_entry_signal(self, signal):
        confidence = float(signal.get("confidence", 0))
        if confidence < self.config["min_confidence"]:
            return self.reject(f"confidence {confidence} below {self.config['min_confidence']}")
        order = self.services.orders.place_from_signal(signal)
        return self.executed(orders=[order["id"]])

    def process_exit_signal(self, signal):
        closed = self.services.orders.close_symbol(signal["symbol"])
        return self.executed(closed=[t["position"]["id"] for t in closed])


if __name__ == "__main__":
    run(Plugin)
