//! The internal client protocol under its former path, kept so that the `outlast` binary's
//! commands and tests (`admin_cmd`, `cluster_processes`) build unchanged while `main.rs` is
//! being rewritten; new code imports `protocol`.
//!
//! Must never: hold code of its own (re-exports only).

pub use crate::protocol::{call, Answer, ClientReply, ClientRequest, Connection, NodeStatus, Query};
