//! zepix storage: where the engine keeps what happened.
//!
//! - [`store`]: [`SqliteStore`], the engine's `Store` on `data/zepix.db`, with one writer thread
//!   committing queued ops in batches.
//! - [`plugin_db`]: each plugin's `data/plugins/<id>/plugin.db`: its trades, its daily performance
//!   and its own tables ([`SqlitePluginDb`]).
//! - [`inbox`]: [`LogInbox`], the durable, idempotent inbox: an append-only log with group commit,
//!   fast enough to acknowledge webhooks.
//! - `schema`: the migrations of both databases; `writer`: the store's writer thread; `copier`:
//!   the thread copying trades into the plugins' databases; `codec`: how values are stored.

mod codec;
mod copier;
pub mod inbox;
pub mod plugin_db;
mod schema;
pub mod store;
mod writer;

pub use inbox::{InboxOptions, InboxSink, LogInbox};
pub use plugin_db::{SqlitePluginDb, plugin_db_path};
pub use store::SqliteStore;
