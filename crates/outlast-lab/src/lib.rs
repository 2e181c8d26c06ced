//! Rehearsal clusters on one machine: real node processes labelled with providers, regions and
//! zones, joined by simulated WAN links.
//!
//! `processes` is the one launcher of node processes (configurations written by serialising
//! `NodeConfig`, one readiness rule, bounded stops) that `up`, `chaos`, the process tests and
//! the benchmarks share; `state_dir` names a cluster's files. `topology` reads the file that
//! describes nodes and latencies (with a built-in default of five nodes over three providers
//! and three regions); `up` writes secrets into one state directory, gives each node its own
//! addresses, starts the link proxies and the nodes, and stops everything cleanly; `demo` seeds
//! the demo exchange; `namespaces` runs the same cluster with each node in a network namespace
//! of its own, on real addresses and host names, with nftables cuts; `access` is how the tools
//! reach the nodes' APIs (HTTPS under the lab's CA, the operator plane with the lab operator's
//! certificate). Running `up` again on the same directory resumes the same cluster.

#![deny(missing_docs)]

pub mod access;
pub mod chain;
pub mod chain_checker;
mod chain_faults;
pub mod chaos;
pub mod checker;
pub mod control;
pub mod demo;
pub mod functions;
pub mod history;
pub mod load;
pub mod namespaces;
pub mod processes;
pub mod report;
pub mod state_dir;
pub mod target;
pub mod topology;
pub mod up;
