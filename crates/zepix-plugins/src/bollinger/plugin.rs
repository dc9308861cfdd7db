//! The strategy: one band calculator and one position state per feed.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use zepix_model::{Bar, Feed, Level, Price, Side, Signal, SignalId, SignalType, Sizing};
use zepix_plugin::indicators::Bollinger as Bands;
use zepix_plugin::{Decision, Plugin, PluginContext, PluginResult};

use super::config::{BollingerConfig, Direction};

/// Where the strategy stands on one feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holding {
    Flat,
    Long,
    Short,
}

#[derive(Debug, Clone)]
struct FeedState {
    feed: Feed,
    bands: Bands,
    holding: Holding,
}

/// The `bollinger` plugin.
#[derive(Debug, Clone)]
pub struct Bollinger {
    config: BollingerConfig,
    /// Fresh bands for a feed seen for the first time.
    fresh: Bands,
    /// The id emitted signals carry until the engine stamps theirs.
    unstamped: SignalId,
    feeds: Vec<FeedState>,
    entries: u64,
    exits: u64,
}

impl Bollinger {
    /// A strategy with these settings and no history.
    ///
    /// # Errors
    /// When the bands cannot be built from the settings.
    pub fn new(config: BollingerConfig) -> Result<Self, String> {
        let fresh = Bands::new(config.period, config.k).map_err(|e| e.to_string())?;
        let unstamped = SignalId::new(super::ID).map_err(|e| e.to_string())?;
        Ok(Self { config, fresh, unstamped, feeds: Vec::new(), entries: 0, exits: 0 })
    }

    fn state(&mut self, feed: &Feed) -> &mut FeedState {
        let index = match self.feeds.iter().position(|s| &s.feed == feed) {
            Some(i) => i,
            None => {
                let bands = self.fresh.clone();
                self.feeds.push(FeedState { feed: feed.clone(), bands, holding: Holding::Flat });
                self.feeds.len() - 1
            }
        };
        &mut self.feeds[index]
    }

    /// The signal for `kind` on `side` at `close`, with the configured levels and size.
    fn signal(&self, kind: SignalType, side: Side, close: Price) -> Signal {
        let level = |pct: Decimal, sign: Decimal| {
            (pct > Decimal::ZERO)
                .then(|| Price::new(close.value() * (Decimal::ONE_HUNDRED + sign * pct) / Decimal::ONE_HUNDRED).ok())
                .flatten()
                .map(Level::Price)
        };
        let entry = kind == SignalType::Entry;
        let sl = if entry { level(self.config.sl_pct, -side.sign()) } else { None };
        let tp = if entry { level(self.config.tp_pct, side.sign()).into_iter().collect() } else { Vec::new() };
        Signal {
            // The engine stamps the real id from the plugin, feed and bar.
            id: self.unstamped.clone(),
            strategy: None,
            timeframe: None,
            symbol: None,
            kind,
            side: Some(side),
            price: Some(close),
            sl,
            tp,
            size: entry.then_some(Sizing::Lots(self.config.lot)),
            plugin_hint: Some(self.config.target.clone()),
            timestamp: None,
            max_lag: None,
            extra: Map::new(),
        }
    }
}

impl Plugin for Bollinger {
    fn on_bar(&mut self, feed: &Feed, bar: &Bar, ctx: &mut dyn PluginContext) -> PluginResult<()> {
        let direction = self.config.direction;
        let close = bar.close;
        let x = close.as_f64();
        let state = self.state(feed);
        let Some(bands) = state.bands.update(x) else {
            return Ok(());
        };
        let (kind, side, next) = match state.holding {
            Holding::Flat if x < bands.lower && direction != Direction::Short => {
                (SignalType::Entry, Side::Buy, Holding::Long)
            }
            Holding::Flat if x > bands.upper && direction != Direction::Long => {
                (SignalType::Entry, Side::Sell, Holding::Short)
            }
            Holding::Long if x > bands.middle => (SignalType::Exit, Side::Buy, Holding::Flat),
            Holding::Short if x < bands.middle => (SignalType::Exit, Side::Sell, Holding::Flat),
            _ => return Ok(()),
        };
        state.holding = next;
        let signal = self.signal(kind.clone(), side, close);
        ctx.emit_signal(signal)?;
        if kind == SignalType::Entry {
            self.entries += 1;
        } else {
            self.exits += 1;
        }
        Ok(())
    }

    fn process_entry_signal(&mut self, _signal: &Signal, _ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        Ok(Decision::ignored("bollinger trades on bars, not on alerts"))
    }

    fn status(&self) -> Value {
        let feeds: Vec<Value> = self
            .feeds
            .iter()
            .map(|s| json!({"feed": s.feed.to_string(), "holding": format!("{:?}", s.holding).to_lowercase()}))
            .collect();
        json!({"entries": self.entries, "exits": self.exits, "feeds": feeds})
    }
}
