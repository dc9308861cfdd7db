//! Out-of-process plugins (DESIGN §4.6, `docs/protocol.md`).
//!
//! - [`launch`]: how a plugin's process is started (launcher, sandbox policy, program).
//! - [`process`]: one plugin process and its pipes.
//! - [`supervisor`]: deadlines, restarts with backoff, health pings and hot reload of one plugin,
//!   behind the [`ProcessLink`] the kernel talks to.
//! - [`sandbox`]: the Linux sandbox a plugin process runs in (rlimits, no-new-privileges, Landlock,
//!   seccomp), applied by the `zepix-sandbox` launcher before it execs the plugin.

pub mod launch;
pub mod process;
pub mod sandbox;
pub mod supervisor;

pub use process::Launch;
pub use supervisor::{PluginSpec, ProcessLink, Sink};
