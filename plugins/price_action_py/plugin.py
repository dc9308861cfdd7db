"""Price action (Python): price-action entries with risk sizing, trend alignment and a journal.

Alerts look like:

    {"strategy": "PRICE_ACTION_PY", "symbol": "XAUUSD", "tf": "15", "action": "buy",
     "price": 2030.5, "sl": 2025.0, "tp": [2040.0, 2050.0], "pattern": "pin_bar"}

An entry is taken when
  1. its `pattern` (if any) is one of the `patterns` setting,
  2. the trend agrees on every `trend_timeframes` (when `require_trend_alignment`),
  3. the reward:risk to the first target is at least `min_reward_risk` (when both are prices),
  4. fewer than `max_open_per_symbol` positions of this plugin are open on the symbol.
The size is `risk_pct` % of the balance over the stop distance (`risk.lot_size`) when the alert
has a stop-loss price, the risk percentage handed to the engine for a stop in pips, the alert's own
size when it gives one, and `default_lot` otherwise. Every entry is journaled in the plugin's own
SQLite table `pa_entries`, and closed by on_sl_hit / on_tp_hit with its outcome.
"""

import time

from zepix_sdk import LogicPlugin, run

SCHEMA = """
CREATE TABLE IF NOT EXISTS pa_entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id   TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    side        TEXT NOT NULL,
    timeframe   TEXT,
    pattern     TEXT,
    price       TEXT,
    sl          TEXT,
    tp          TEXT,
    lots        TEXT NOT NULL,
    order_id    INTEGER NOT NULL,
    position_id INTEGER NOT NULL,
    opened_at   REAL NOT NULL,
    outcome     TEXT,          -- NULL while open; stop_loss / take_profit / closed
    pnl         TEXT
)
"""


class Plugin(LogicPlugin):
    def on_initialize(self):
        self.db.execute(SCHEMA)
        self.db.execute("CREATE INDEX IF NOT EXISTS pa_entries_position ON pa_entries (position_id)")
        self.rejections = {}

    # -- filters -----------------------------------------------------------------------------

    def validate_alert(self, signal):
        if not signal.symbol:
            return "the alert has no symbol"
        if signal.type != "exit" and signal.direction not in ("buy", "sell"):
            return "the alert has no direction (buy or sell)"
        return True

    def _refuse(self, key, reason):
        self.rejections[key] = self.rejections.get(key, 0) + 1
        return self.reject(reason)

    # -- entries -----------------------------------------------------------------------------

    def process_entry_signal(self, signal):
        cfg = self.config
        symbol, side = signal.symbol, signal.direction

        pattern = signal.get("pattern")
        if pattern is not None and cfg["patterns"] and pattern not in cfg["patterns"]:
            return self._refuse("pattern", f"pattern `{pattern}` is not one of {', '.join(cfg['patterns'])}")

        if cfg["require_trend_alignment"] and cfg["trend_timeframes"]:
            if not self.services.trend.aligned(symbol, side, cfg["trend_timeframes"]):
                trends = ", ".join(
                    f"{tf} {self.services.trend.get(symbol, tf)}" for tf in cfg["trend_timeframes"]
                )
                return self._refuse("trend", f"trend not aligned with {side}: {trends}")

        entry = signal.price
        sl = signal.sl_price
        targets = signal.tp_prices
        if cfg["min_reward_risk"] > 0 and entry is not None and sl is not None and targets:
            risk = abs(entry - sl)
            reward = abs(targets[0] - entry)
            if risk == 0 or reward / risk < cfg["min_reward_risk"]:
                ratio = "∞" if risk == 0 else f"{reward / risk:.2f}"
                return self._refuse("reward_risk", f"reward:risk {ratio} below {cfg['min_reward_risk']}")

        open_now = len(self.services.positions.list(symbol))
        if open_now >= cfg["max_open_per_symbol"]:
            return self._refuse("max_open", f"{open_now} open on {symbol} already (max {cfg['max_open_per_symbol']})")

        # Size: the alert's own size, else risk over the stop, else the default lot.
        size = {}
        if not any(signal.get(k) is not None for k in ("lot", "risk_pct", "risk_amount")):
            if entry is not None and sl is not None:
                # RiskRejected (e.g. lot_below_min) propagates: the engine stores it as rejected.
                size["lot"] = self.services.risk.lot_size(symbol, entry, sl, risk_pct=cfg["risk_pct"])
            elif isinstance(signal.sl, dict):
                size["risk_pct"] = cfg["risk_pct"]  # a stop in pips: the engine sizes at the fill
            else:
                size["lot"] = cfg["default_lot"]

        placed = self.services.orders.place_from_signal(
            signal, comment=f"PRICE_ACTION_PY {pattern or 'entry'} {signal.timeframe or ''}".strip(), **size
        )
        position = placed["position"]
        self.db.execute(
            "INSERT INTO pa_entries (signal_id, symbol, side, timeframe, pattern, price, sl, tp, lots,"
            " order_id, position_id, opened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                signal.id, symbol, side, signal.timeframe, pattern, position["entry_price"], position["sl"],
                position["tp"], position["lots"], placed["order"]["id"], position["id"], time.time(),
            ),
        )
        if cfg["notify_entries"]:
            self.services.notify.send(
                f"PRICE_ACTION_PY {side} {position['lots']} {symbol} at {position['entry_price']}"
                f" ({pattern or 'no pattern'}, sl {position['sl']}, tp {position['tp']})"
            )
        return self.executed(orders=[placed])

    # Exits use the SDK default (close every position of this plugin on the symbol); record them.
    def process_exit_signal(self, signal):
        decision = super().process_exit_signal(signal)
        for position_id in decision["closed"]:
            self._close_entry(position_id, "closed", None)
        return decision

    # -- outcomes ----------------------------------------------------------------------------

    def _close_entry(self, position_id, outcome, pnl):
        self.db.execute(
            "UPDATE pa_entries SET outcome = ?, pnl = ? WHERE position_id = ? AND outcome IS NULL",
            (outcome, pnl, position_id),
        )

    def on_sl_hit(self, trade):
        self._close_entry(trade["position"]["id"], "stop_loss", trade["pnl"])

    def on_tp_hit(self, trade):
        self._close_entry(trade["position"]["id"], "take_profit", trade["pnl"])

    def get_status(self):
        rows = dict(self.db.execute("SELECT coalesce(outcome, 'open'), count(*) FROM pa_entries GROUP BY 1"))
        return {
            "plugin_id": self.plugin_id,
            "enabled": self.enabled,
            "entries": sum(rows.values()),
            "open": rows.get("open", 0),
            "take_profit": rows.get("take_profit", 0),
            "stop_loss": rows.get("stop_loss", 0),
            "rejections": dict(self.rejections),
        }


if __name__ == "__main__":
    run(Plugin)
