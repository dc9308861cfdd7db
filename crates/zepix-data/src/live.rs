//! The random walk as a live source: one bar of a feed every interval, so strategies can run
//! live without a network. The bars' times advance by the feed's timeframe whatever the
//! interval, so a demo can play a one-minute feed at one bar a second.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zepix_model::Feed;

use crate::event::MarketEvent;
use crate::generate::RandomWalk;

/// A live source of random-walk bars.
#[derive(Debug, Clone)]
pub struct RandomWalkSource {
    feed: Feed,
    walk: RandomWalk,
    every: Duration,
}

impl RandomWalkSource {
    /// Bars of `feed` from the walk seeded with `seed`, the first opening at `start`, one every
    /// `every` of wall time.
    #[must_use]
    pub fn new(feed: Feed, seed: u64, start: DateTime<Utc>, every: Duration) -> Self {
        let walk = RandomWalk::new(seed, start, feed.timeframe);
        Self { feed, walk, every }
    }

    /// Runs [`RandomWalkSource::run`] on a task.
    pub fn spawn(self, events: mpsc::Sender<MarketEvent>) -> JoinHandle<()> {
        tokio::spawn(self.run(events))
    }

    /// Sends [`MarketEvent::Connected`], then a bar at the end of every interval, until the
    /// receiver is dropped.
    pub async fn run(mut self, events: mpsc::Sender<MarketEvent>) {
        if events.send(MarketEvent::Connected).await.is_err() {
            return;
        }
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + self.every, self.every);
        loop {
            ticker.tick().await;
            let bar = self.walk.next_bar();
            if events.send(MarketEvent::Bar(self.feed.clone(), bar)).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use zepix_model::{Symbol, Timeframe};

    #[tokio::test(start_paused = true)]
    async fn one_bar_per_interval_the_same_as_the_generator() {
        let feed = Feed::new(Symbol::new("DEMO").unwrap(), Timeframe::M5);
        let start: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let began = tokio::time::Instant::now();
        let task = RandomWalkSource::new(feed.clone(), 9, start, Duration::from_secs(2)).spawn(tx);
        assert_eq!(rx.recv().await, Some(MarketEvent::Connected));
        let expected: Vec<_> = RandomWalk::new(9, start, Timeframe::M5).take(3).collect();
        for (i, want) in expected.into_iter().enumerate() {
            assert_eq!(rx.recv().await, Some(MarketEvent::Bar(feed.clone(), want)));
            // On the paused clock, each bar arrives exactly one interval after the previous.
            assert_eq!(began.elapsed(), Duration::from_secs(2 * (i as u64 + 1)));
        }
        drop(rx);
        task.await.unwrap();
    }
}
