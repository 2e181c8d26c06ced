//! Outlast's benchmarks: workload generators, runners and the report writer.
//!
//! Benchmarks measure; they never assert a timing. Each one is reproducible from one command
//! (`outlast bench ...`) and writes its numbers into a marked section of BENCHMARKS.md, together
//! with the machine it ran on. Nothing here is used by a serving node.

#![deny(missing_docs)]

pub mod all;
pub mod api_bench;
pub mod cluster_bench;
pub mod engine_bench;
pub mod etcd_bench;
pub mod failover_bench;
pub mod local_cluster;
pub mod log_bench;
pub mod machine;
pub mod memory;
pub mod naive_book;
mod peer_book;
pub mod recovery_bench;
pub mod report;
pub mod svg;
pub mod wan_bench;
