//! Outlast's benchmarks: workload generators, runners and the report writer.
//!
//! Benchmarks measure; they never assert a timing. Each one is reproducible from one command
//! (`outlast bench ...`, in a build with `--features bench`; `cli` holds the subcommands) and writes its numbers into a marked section of BENCHMARKS.md, together
//! with the machine it ran on. Nothing here is used by a serving node.

#![deny(missing_docs)]

pub mod all;
pub mod api_bench;
pub mod backup_bench;
pub mod chain_bench;
pub mod cli;
pub mod cluster_bench;
pub mod engine_bench;
pub mod etcd_bench;
pub mod failover_bench;
pub mod faults_bench;
pub mod log_bench;
pub mod machine;
pub mod memory;
pub mod naive_book;
mod peer_book;
pub mod recovery_bench;
pub mod report;
pub mod svg;
pub mod wan_bench;

/// Lifts the API's request-weight and per-address connection limits (a load test sends far more
/// than a trader may, all from one address).
pub(crate) fn unthrottled(config: &mut outlast_cluster::config::NodeConfig) {
    config.api_ip_weight_per_minute = Some(4_000_000_000);
    config.api_key_weight_per_minute = Some(4_000_000_000);
    config.api_ws_connects_per_5m = Some(4_000_000_000);
    config.api_connections_per_source_max = Some(outlast_api::http_server::HTTP_CONNECTIONS_MAX);
}
