"""Template (Python): the template logic plugin, written with the zepix Python SDK.

Copy this folder to start a plugin. The engine routes alerts whose "strategy" is "TEMPLATE_PY"
to this class. Everything the plugin does to the world goes through `self.services` (orders,
positions, risk, trend, notify) and `self.db` (its own SQLite file), each limited to the
capabilities in plugin.toml.

Handlers may be `def` or `async def`; service calls are plain function calls either way.
"""

from zepix_sdk import LogicPlugin, run


class Plugin(LogicPlugin):
    def on_initialize(self):
        # Settings are validated by the engine against plugin.toml's [settings_schema], with
        # defaults filled in, so every key is there.
        self.refused = 0
        self.logger.info("template_py ready: min_confidence=%s", self.config["min_confidence"])

    # Called before process_entry/exit/reversal: a string (or False) rejects the signal.
    def validate_alert(self, signal):
        if not signal.symbol:
            return "the alert has no symbol"
        if signal.type in ("entry", "reversal") and signal.direction not in ("buy", "sell"):
            return "the alert has no direction (buy or sell)"
        return True

    def process_entry_signal(self, signal):
        # 1. A filter on a custom alert field: unknown fields arrive as given.
        confidence = signal.decimal("confidence")
        if confidence is None:
            return self.refuse("confidence missing: the alert has no `confidence` field")
        if confidence < self.config["min_confidence"]:
            return self.refuse(f"confidence {confidence} below {self.config['min_confidence']}")

        # 2. A service call: this plugin's open positions on the symbol.
        open_now = len(self.services.positions.list(signal.symbol))
        if open_now >= self.config["max_open_per_symbol"]:
            return self.refuse(f"{open_now} open on {signal.symbol} already (max {self.config['max_open_per_symbol']})")

        # 3. The order the alert describes. Without a size but with a stop loss, risk a percent
        #    of the balance (the engine sizes it); otherwise the plugin's default lot.
        overrides = {"comment": f"TEMPLATE_PY {signal.id}"}
        has_size = any(signal.get(k) is not None for k in ("lot", "risk_pct", "risk_amount"))
        if not has_size and signal.sl is not None and self.config["risk_pct"] > 0:
            overrides["risk_pct"] = self.config["risk_pct"]
        # A risk refusal (RiskRejected) raised here is stored as the signal's outcome.
        placed = self.services.orders.place_from_signal(signal, **overrides)
        return self.executed(orders=[placed])

    # Exits and reversals: the SDK's defaults close this plugin's positions on the symbol (and
    # for a reversal then call process_entry_signal). Override them for partial exits.

    def on_sl_hit(self, trade):
        position = trade["position"]
        self.services.notify.send(
            f"TEMPLATE_PY: {position['symbol']} #{position['id']} stopped out ({trade['pnl']})", level="warning"
        )

    def get_status(self):
        return {"plugin_id": self.plugin_id, "enabled": self.enabled, "refused": self.refused}

    def refuse(self, reason):
        self.refused += 1
        if self.config["notify_rejections"]:
            self.services.notify.send(f"TEMPLATE_PY: {reason}")
        return self.reject(reason)


if __name__ == "__main__":
    run(Plugin)
