//! Rehearsal clusters on one machine: real node processes labelled with providers, regions and
//! zones, joined by simulated WAN links.
//!
//! `topology` reads the file that describes nodes and latencies (with a built-in default of five
//! nodes over three providers and three regions); `up` writes node configurations and secrets
//! into one state directory, starts the link proxies and the node processes, seeds a demo
//! exchange, and stops everything cleanly; `demo` is that seed. Running `up` again on the same
//! directory resumes the same cluster.

#![deny(missing_docs)]

pub mod chaos;
pub mod checker;
pub mod control;
pub mod demo;
pub mod history;
pub mod load;
pub mod report;
pub mod target;
pub mod topology;
pub mod up;
