//! Out-of-process plugins (DESIGN §4.6, `docs/protocol.md`).
//!
//! - [`sandbox`]: the Linux sandbox a plugin process runs in (rlimits, no-new-privileges, Landlock,
//!   seccomp), applied by the `zepix-sandbox` launcher before it execs the plugin.

pub mod sandbox;
