//! Each bot's send queue. Producers never wait on Telegram: notifications are pushed (the oldest
//! dropped and counted when the queue is full), command replies wait for room (backpressure). One
//! sender task per bot drains it under Telegram's limits, waits out a 429's `retry_after`, and
//! keeps retrying while Telegram is unreachable; when it is back, the number dropped is reported.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::api::{ApiError, BotApi, Keyboard};

/// Something to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A text message.
    Text {
        /// Chat.
        chat: i64,
        /// At most 4096 characters (see [`crate::text::split`]).
        text: String,
        /// Inline buttons.
        keyboard: Option<Keyboard>,
        /// Without sound.
        silent: bool,
    },
    /// A PNG photo with a caption.
    Photo {
        /// Chat.
        chat: i64,
        /// The image.
        png: Vec<u8>,
        /// At most 1024 characters.
        caption: String,
    },
    /// New text for a message (its buttons go).
    Edit {
        /// Chat.
        chat: i64,
        /// Message.
        message_id: i64,
        /// Text.
        text: String,
    },
    /// The answer to a button press.
    Answer {
        /// Callback query id.
        id: String,
        /// Shown briefly.
        text: String,
    },
}

impl Outgoing {
    /// A plain text message.
    #[must_use]
    pub fn text(chat: i64, text: impl Into<String>) -> Self {
        Self::Text { chat, text: text.into(), keyboard: None, silent: false }
    }

    /// The chat it goes to (answers to button presses are not messages and are not limited).
    #[must_use]
    pub const fn chat(&self) -> Option<i64> {
        match self {
            Self::Text { chat, .. } | Self::Photo { chat, .. } | Self::Edit { chat, .. } => Some(*chat),
            Self::Answer { .. } => None,
        }
    }
}

/// Where the sender delivers: the Bot API, or a fake in tests.
pub trait Transport: Send + Sync + 'static {
    /// Sends one item.
    fn deliver(&self, item: &Outgoing) -> impl Future<Output = Result<(), ApiError>> + Send;
}

impl Transport for BotApi {
    async fn deliver(&self, item: &Outgoing) -> Result<(), ApiError> {
        match item {
            Outgoing::Text { chat, text, keyboard, silent } => {
                self.send_message(*chat, text, keyboard.as_ref(), *silent).await
            }
            Outgoing::Photo { chat, png, caption } => self.send_photo(*chat, png.clone(), caption).await,
            Outgoing::Edit { chat, message_id, text } => self.edit_message_text(*chat, *message_id, text).await,
            Outgoing::Answer { id, text } => self.answer_callback_query(id, text).await,
        }
    }
}

/// Telegram's limits (the defaults), or faster ones for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Between two messages to one chat.
    pub per_chat: Duration,
    /// Messages to one group per `group_window`.
    pub group_max: usize,
    /// The group window.
    pub group_window: Duration,
    /// Messages overall per `global_window`.
    pub global_max: usize,
    /// The overall window.
    pub global_window: Duration,
    /// First wait while Telegram is unreachable; doubles up to `backoff_max`.
    pub backoff: Duration,
    /// Longest wait while Telegram is unreachable.
    pub backoff_max: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_chat: Duration::from_secs(1),
            group_max: 20,
            group_window: Duration::from_secs(60),
            global_max: 30,
            global_window: Duration::from_secs(1),
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// When each chat, each group and the bot may send next.
#[derive(Debug)]
struct Limiter {
    limits: Limits,
    last: HashMap<i64, Instant>,
    groups: HashMap<i64, VecDeque<Instant>>,
    global: VecDeque<Instant>,
}

impl Limiter {
    fn new(limits: Limits) -> Self {
        Self { limits, last: HashMap::new(), groups: HashMap::new(), global: VecDeque::new() }
    }

    /// The earliest instant a message to `chat` may go.
    fn ready_at(&mut self, chat: i64, now: Instant) -> Instant {
        let l = self.limits;
        let mut at = now;
        if let Some(last) = self.last.get(&chat) {
            at = at.max(*last + l.per_chat);
        }
        if chat < 0
            && let Some(sent) = self.groups.get_mut(&chat)
        {
            at = at.max(window_ready(sent, l.group_max, l.group_window, now));
        }
        at.max(window_ready(&mut self.global, l.global_max, l.global_window, now))
    }

    fn record(&mut self, chat: i64, at: Instant) {
        self.last.insert(chat, at);
        if chat < 0 {
            self.groups.entry(chat).or_default().push_back(at);
        }
        self.global.push_back(at);
    }
}

/// Forgets sends older than the window; when it is full, the instant the oldest leaves it.
fn window_ready(sent: &mut VecDeque<Instant>, max: usize, window: Duration, now: Instant) -> Instant {
    while sent.front().is_some_and(|t| *t + window <= now) {
        sent.pop_front();
    }
    if sent.len() >= max { sent[sent.len() - max] + window } else { now }
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Outgoing>,
    dropped: u64,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    capacity: usize,
    /// Wakes the sender.
    ready: Notify,
    /// Wakes producers waiting for room.
    room: Notify,
}

/// A bot's bounded send queue.
#[derive(Debug, Clone)]
pub struct Outbox(Arc<Shared>);

impl Outbox {
    /// A queue holding at most `capacity` items.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self(Arc::new(Shared {
            state: Mutex::new(State::default()),
            capacity: capacity.max(1),
            ready: Notify::new(),
            room: Notify::new(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues without waiting: when full, the oldest item is dropped and counted.
    pub fn push(&self, item: Outgoing) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        if state.items.len() >= self.0.capacity {
            state.items.pop_front();
            state.dropped += 1;
        }
        state.items.push_back(item);
        drop(state);
        self.0.ready.notify_one();
    }

    /// Queues, waiting for room while the queue is full.
    pub async fn send(&self, item: Outgoing) {
        loop {
            let room = self.0.room.notified();
            {
                let mut state = self.lock();
                if state.closed {
                    return;
                }
                if state.items.len() < self.0.capacity {
                    state.items.push_back(item);
                    drop(state);
                    self.0.ready.notify_one();
                    return;
                }
            }
            room.await;
        }
    }

    /// Items waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether nothing waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes every waiting item (tests read what a handler queued).
    pub fn take_all(&self) -> Vec<Outgoing> {
        let items = self.lock().items.drain(..).collect();
        self.0.room.notify_waiters();
        items
    }

    /// Stops taking items; the sender ends once the queue is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.0.ready.notify_one();
        self.0.room.notify_waiters();
    }

    /// The next item and how many were dropped before it; `None` once closed and empty.
    async fn next(&self) -> Option<(Outgoing, u64)> {
        loop {
            let ready = self.0.ready.notified();
            {
                let mut state = self.lock();
                if let Some(item) = state.items.pop_front() {
                    let dropped = std::mem::take(&mut state.dropped);
                    drop(state);
                    self.0.room.notify_one();
                    return Some((item, dropped));
                }
                if state.closed {
                    return None;
                }
            }
            ready.await;
        }
    }
}

/// The notice sent when Telegram is reachable again after items were dropped.
#[must_use]
pub fn dropped_notice(count: u64) -> String {
    format!("⚠️ Telegram was unreachable: {count} older notifications were dropped. Trading went on.")
}

/// Drains `outbox` through `transport` until it is closed and empty.
pub async fn run_sender<T: Transport>(outbox: Outbox, transport: T, limits: Limits) {
    let mut limiter = Limiter::new(limits);
    let mut dropped_total = 0;
    while let Some((item, dropped)) = outbox.next().await {
        dropped_total += dropped;
        let delivered = deliver(&transport, &mut limiter, &item, limits).await;
        if delivered && dropped_total > 0 {
            // Counted again if drops happen while the notice itself waits.
            if let Some(chat) = item.chat() {
                let notice = Outgoing::text(chat, dropped_notice(dropped_total));
                if deliver(&transport, &mut limiter, &notice, limits).await {
                    dropped_total = 0;
                }
            }
        }
    }
}

/// Sends one item under the limits; true when Telegram took it. A 429 waits `retry_after` and
/// sends again; an unreachable Telegram is retried with backoff; a refusal drops the item.
async fn deliver<T: Transport>(transport: &T, limiter: &mut Limiter, item: &Outgoing, limits: Limits) -> bool {
    let mut backoff = limits.backoff;
    loop {
        if let Some(chat) = item.chat() {
            let at = limiter.ready_at(chat, Instant::now());
            tokio::time::sleep_until(at).await;
            limiter.record(chat, Instant::now());
        }
        match transport.deliver(item).await {
            Ok(()) => return true,
            Err(ApiError::RetryAfter(wait)) => {
                tracing::warn!("Telegram asked to wait {wait:?}");
                tokio::time::sleep(wait).await;
            }
            Err(ApiError::Unreachable(why)) => {
                tracing::warn!("Telegram unreachable ({why}); retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(limits.backoff_max);
            }
            Err(e @ ApiError::Refused { .. }) => {
                tracing::warn!("Telegram refused a message: {e}");
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records when each item arrived; fails the first `failures` calls as given.
    #[derive(Clone, Default)]
    struct Fake {
        log: Arc<Mutex<Vec<(Outgoing, Instant)>>>,
        failures: Arc<Mutex<VecDeque<ApiError>>>,
        delivered: Arc<Notify>,
    }

    impl Transport for Fake {
        async fn deliver(&self, item: &Outgoing) -> Result<(), ApiError> {
            if let Some(e) = self.failures.lock().unwrap().pop_front() {
                return Err(e);
            }
            self.log.lock().unwrap().push((item.clone(), Instant::now()));
            self.delivered.notify_one();
            Ok(())
        }
    }

    impl Fake {
        async fn wait_for(&self, n: usize) -> Vec<(Outgoing, Instant)> {
            loop {
                let next = self.delivered.notified();
                if self.log.lock().unwrap().len() >= n {
                    return self.log.lock().unwrap().clone();
                }
                next.await;
            }
        }
    }

    fn offsets(log: &[(Outgoing, Instant)], start: Instant) -> Vec<u64> {
        log.iter().map(|(_, t)| (*t - start).as_millis().try_into().unwrap()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn one_message_per_second_per_chat() {
        let outbox = Outbox::new(100);
        let fake = Fake::default();
        let start = Instant::now();
        for i in 0..3 {
            outbox.push(Outgoing::text(1, format!("a{i}")));
        }
        outbox.push(Outgoing::text(2, "b"));
        tokio::spawn(run_sender(outbox.clone(), fake.clone(), Limits::default()));
        let log = fake.wait_for(4).await;
        // Chat 2 does not wait behind chat 1's limit longer than the queue order makes it.
        assert_eq!(offsets(&log, start), [0, 1000, 2000, 2000]);
    }

    #[tokio::test(start_paused = true)]
    async fn twenty_per_minute_per_group() {
        let outbox = Outbox::new(100);
        let fake = Fake::default();
        let limits = Limits { per_chat: Duration::ZERO, ..Limits::default() };
        let start = Instant::now();
        for i in 0..22 {
            outbox.push(Outgoing::text(-100, format!("g{i}")));
        }
        tokio::spawn(run_sender(outbox.clone(), fake.clone(), limits));
        let log = fake.wait_for(22).await;
        let at = offsets(&log, start);
        assert!(at[..20].iter().all(|t| *t < 1000), "{at:?}");
        assert_eq!(&at[20..], [60_000, 60_000]);
    }

    #[tokio::test(start_paused = true)]
    async fn thirty_per_second_overall() {
        let outbox = Outbox::new(100);
        let fake = Fake::default();
        let start = Instant::now();
        for chat in 1..=35 {
            outbox.push(Outgoing::text(chat, "x"));
        }
        tokio::spawn(run_sender(outbox.clone(), fake.clone(), Limits::default()));
        let at = offsets(&fake.wait_for(35).await, start);
        assert!(at[..30].iter().all(|t| *t == 0), "{at:?}");
        assert!(at[30..].iter().all(|t| *t == 1000), "{at:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_waits_exactly_retry_after() {
        let outbox = Outbox::new(10);
        let fake = Fake::default();
        fake.failures.lock().unwrap().push_back(ApiError::RetryAfter(Duration::from_secs(7)));
        let start = Instant::now();
        outbox.push(Outgoing::text(1, "hello"));
        tokio::spawn(run_sender(outbox.clone(), fake.clone(), Limits::default()));
        let log = fake.wait_for(1).await;
        assert_eq!(offsets(&log, start), [7000]);
        assert_eq!(log[0].0, Outgoing::text(1, "hello"), "the same message is sent again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_message_is_dropped_and_the_next_goes() {
        let outbox = Outbox::new(10);
        let fake = Fake::default();
        fake.failures.lock().unwrap().push_back(ApiError::Refused { code: 400, description: "bad".into() });
        outbox.push(Outgoing::text(1, "bad"));
        outbox.push(Outgoing::text(2, "good"));
        tokio::spawn(run_sender(outbox.clone(), fake.clone(), Limits::default()));
        let log = fake.wait_for(1).await;
        assert_eq!(log[0].0, Outgoing::text(2, "good"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_keeps_the_newest_and_reports_the_dropped() {
        let outbox = Outbox::new(3);
        let fake = Fake::default();
        for _ in 0..4 {
            fake.failures.lock().unwrap().push_back(ApiError::Unreachable("down".into()));
        }
        let sender = tokio::spawn(run_sender(outbox.clone(), fake.clone(), Limits::default()));
        outbox.push(Outgoing::text(1, "m0"));
        tokio::task::yield_now().await;
        // m0 is in the sender's hands, retrying; the queue keeps the 3 newest of m1..m6.
        for i in 1..=6 {
            outbox.push(Outgoing::text(1, format!("m{i}")));
        }
        assert_eq!(outbox.len(), 3);
        let texts: Vec<String> = fake
            .wait_for(5)
            .await
            .into_iter()
            .map(|(o, _)| match o {
                Outgoing::Text { text, .. } => text,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, ["m0", "m4", &dropped_notice(3), "m5", "m6"]);
        outbox.close();
        sender.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn send_waits_for_room() {
        let outbox = Outbox::new(1);
        outbox.push(Outgoing::text(1, "first"));
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.send(Outgoing::text(1, "second")).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a full queue makes the producer wait");
        assert_eq!(outbox.take_all(), [Outgoing::text(1, "first")]);
        waiting.await.unwrap();
        assert_eq!(outbox.take_all(), [Outgoing::text(1, "second")]);
    }
}
