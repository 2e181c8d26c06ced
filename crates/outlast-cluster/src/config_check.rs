//! `outlast config check`: the configuration files of a whole cluster, read together, judged
//! before anything starts. Each file must pass its own check (`NodeConfig::check`, which a node
//! also runs at start); together they must describe one cluster — the same members at the same
//! addresses, one cluster id, the same Raft timing on every node (each voter's election timeout
//! is also its leader lease, so the slowest one sets the pace of every election), timing that
//! fits the declared round trips, and voters that survive the loss of any one provider.
//!
//! With round trips measured on the running cluster (`check_measured`: each member's shortest
//! recent round trip to each peer, as its clock sampler saw it), the timing is also held
//! against what the network really does, not only against what the files declare.
//!
//! Every finding says what to change. Must never: read anything but the files and measurements
//! it is given (no network, no data directory), or pass a cluster that one of its own nodes
//! would refuse.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::config::{raft_timing_ms, NodeConfig, RTT_MARGIN_MS};
use crate::topology::fatal_provider_losses;

/// One problem, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The file it is in (or the first of the files that disagree).
    pub file: PathBuf,
    /// What is wrong and what to change.
    pub problem: String,
}

/// Judges the cluster the `files` describe (each already loaded, and so checked on its own);
/// no finding means it may start.
pub fn check_cluster(files: &[(PathBuf, NodeConfig)]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some((first_path, first)) = files.first() else {
        return vec![Finding { file: PathBuf::new(), problem: "no configuration file given".into() }];
    };
    let mut found = |file: &PathBuf, problem: String| findings.push(Finding { file: file.clone(), problem });

    let mut ids = BTreeMap::new();
    for (path, config) in files {
        if let Some(other) = ids.insert(config.id, path) {
            found(
                path,
                format!("node {} is also configured in {}: give each node its own id", config.id, other.display()),
            );
        }
    }
    for (path, config) in &files[1..] {
        if config.peers != first.peers {
            found(
                path,
                format!(
                    "its [[peers]] differ from {}'s: every node must list the same members at the same addresses",
                    first_path.display()
                ),
            );
        }
        let timing = (config.heartbeat_ms, config.election_timeout_ms);
        if timing != (first.heartbeat_ms, first.election_timeout_ms) {
            found(
                path,
                format!(
                "heartbeat_ms {} and election_timeout_ms {:?} differ from {}'s ({} and {:?}): use the same on every \
                 node (a voter's election timeout is also its leader lease, so the longest sets the pace)",
                config.heartbeat_ms,
                config.election_timeout_ms,
                first_path.display(),
                first.heartbeat_ms,
                first.election_timeout_ms
            ),
            );
        }
        if config.rtt_ms_max != first.rtt_ms_max {
            found(
                path,
                format!(
                    "rtt_ms_max differs from {}'s: declare the same longest round trip on every node",
                    first_path.display()
                ),
            );
        }
        let cluster = |c: &NodeConfig| c.tls.as_ref().map(|tls| tls.cluster.clone());
        if cluster(config) != cluster(first) {
            found(
                path,
                format!(
                    "[tls] cluster {:?} differs from {}'s {:?}: one cluster has one id, and every node needs [tls]",
                    cluster(config),
                    first_path.display(),
                    cluster(first)
                ),
            );
        }
    }
    let regions: BTreeSet<&str> = first.peers.iter().map(|p| p.region.as_str()).collect();
    if regions.len() > 1 && first.rtt_ms_max.is_none() {
        found(
            first_path,
            format!(
            "the members span {} regions ({}) but no rtt_ms_max is declared: measure the longest round trip between \
             two members and set rtt_ms_max to it (the lower election timeout must exceed it by {RTT_MARGIN_MS} ms: \
             openraft gives each exchange that long to complete)",
            regions.len(),
            regions.into_iter().collect::<Vec<_>>().join(", ")
        ),
        );
    }
    let fatal = fatal_provider_losses(&first.members());
    if !fatal.is_empty() {
        found(
            first_path,
            format!(
                "the voters would stop if provider {} were lost: spread them so that no provider holds half of them \
             (see `outlast plan`)",
                fatal.join(" or ")
            ),
        );
    }
    let listed: BTreeSet<u64> = first.peers.iter().map(|p| p.id).collect();
    let given: BTreeSet<u64> = files.iter().map(|(_, c)| c.id).collect();
    let missing: Vec<String> = listed.difference(&given).map(|id| id.to_string()).collect();
    if !missing.is_empty() && files.len() > 1 {
        found(
            first_path,
            format!("no file was given for member(s) {}: check every member's file together", missing.join(", ")),
        );
    }
    findings
}

/// A round trip measured on the running cluster: from one member to another, ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measured {
    /// The member that measured.
    pub from: u64,
    /// The peer it reached.
    pub to: u64,
    /// The shortest recent round trip, ms.
    pub rtt_ms: u64,
}

/// The share of a measured round trip taken for the network's: a measurement also holds the
/// answering node's own work and some jitter, which `RTT_MARGIN_MS` is there to absorb.
const MEASURED_NETWORK_PERCENT: u64 = 90;

/// Judges the files' Raft timing against round trips measured on the running cluster: the
/// longest one's network share (`MEASURED_NETWORK_PERCENT`) must not exceed the declared
/// `rtt_ms_max`, and every heartbeat must exceed it by `RTT_MARGIN_MS`. The fix offered
/// declares the whole measurement. No measurement is no finding (the files alone are
/// `check_cluster`'s).
pub fn check_measured(files: &[(PathBuf, NodeConfig)], measured: &[Measured]) -> Vec<Finding> {
    let Some(longest) = measured.iter().max_by_key(|m| m.rtt_ms) else {
        return Vec::new();
    };
    let network_ms = longest.rtt_ms * MEASURED_NETWORK_PERCENT / 100;
    let (heartbeat, election) = raft_timing_ms(longest.rtt_ms);
    let fix = format!(
        "set rtt_ms_max = {}, heartbeat_ms = {heartbeat} and election_timeout_ms = {election:?}",
        longest.rtt_ms
    );
    let mut findings = Vec::new();
    for (path, config) in files {
        let declared = config.rtt_ms_max.filter(|&declared| network_ms > declared);
        if let Some(declared) = declared {
            findings.push(Finding {
                file: path.clone(),
                problem: format!(
                    "node {} measured a {} ms round trip to node {}, longer than the declared rtt_ms_max {declared}: {fix}",
                    longest.from, longest.rtt_ms, longest.to
                ),
            });
        } else if config.election_timeout_ms[0] < network_ms + RTT_MARGIN_MS {
            findings.push(Finding {
                file: path.clone(),
                problem: format!(
                    "election_timeout_ms[0] {} does not exceed the {} ms round trip node {} measured to node {} by {RTT_MARGIN_MS} ms: replication would not settle; {fix}",
                    config.election_timeout_ms[0], longest.rtt_ms, longest.from, longest.to
                ),
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PeerConfig, Role, TlsConfig};

    fn peer(id: u64, provider: &str, region: &str) -> PeerConfig {
        PeerConfig {
            id,
            raft_addr: format!("10.0.{id}.1:7100"),
            client_addr: format!("10.0.{id}.1:7200"),
            provider: provider.into(),
            region: region.into(),
            zone: format!("{region}-a"),
            public_url: String::new(),
            role: Role::Voter,
        }
    }

    /// The files of a three-provider, three-region cluster with TLS and declared round trips.
    fn cluster(peers: &[PeerConfig]) -> Vec<(PathBuf, NodeConfig)> {
        peers
            .iter()
            .map(|p| {
                let mut config = NodeConfig::of_peer(p.id, "d".into(), peers.to_vec()).unwrap();
                (config.heartbeat_ms, config.election_timeout_ms) = crate::config::raft_timing_ms(132);
                config.rtt_ms_max = Some(132);
                config.operator_token_file = Some("t".into());
                config.tls = Some(TlsConfig {
                    cluster: "prod".into(),
                    ca_file: "ca.pem".into(),
                    cert_file: format!("node-{}.pem", p.id).into(),
                    key_file: format!("node-{}.key", p.id).into(),
                    operators: vec!["alice".into()],
                });
                config.check().unwrap();
                (format!("node{}.toml", p.id).into(), config)
            })
            .collect()
    }

    fn three() -> Vec<PeerConfig> {
        vec![peer(1, "aws", "us-east-1"), peer(2, "gcp", "eu-west-1"), peer(3, "azure", "us-west-2")]
    }

    fn problems(files: &[(PathBuf, NodeConfig)]) -> String {
        check_cluster(files)
            .iter()
            .map(|f| format!("{}: {}", f.file.display(), f.problem))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn one_consistent_cluster_passes_and_each_disagreement_is_named_with_its_fix() {
        assert_eq!(problems(&cluster(&three())), "");
        // One node with its own timing.
        let mut files = cluster(&three());
        files[2].1.heartbeat_ms = 400;
        let found = problems(&files);
        assert!(found.starts_with("node3.toml: heartbeat_ms 400") && found.contains("same on every node"), "{found}");
        // Another member list, another cluster id, a repeated id.
        let mut files = cluster(&three());
        files[1].1.peers[2].raft_addr = "10.0.9.9:7100".into();
        files[2].1.tls.as_mut().unwrap().cluster = "staging".into();
        files.push(files[0].clone());
        let found = problems(&files);
        assert!(found.contains("node2.toml: its [[peers]] differ"), "{found}");
        assert!(found.contains("node3.toml: [tls] cluster Some(\"staging\")"), "{found}");
        assert!(found.contains("node 1 is also configured in node1.toml"), "{found}");
        // A member without a file, when several are checked together.
        let found = problems(&cluster(&three())[..2]);
        assert!(found.contains("no file was given for member(s) 3"), "{found}");
        assert_eq!(problems(&cluster(&three())[..1]), "", "one node's file alone is checked on its own");
    }

    #[test]
    fn regions_without_declared_round_trips_and_a_fatal_provider_are_refused() {
        let mut files = cluster(&three());
        for (_, config) in &mut files {
            config.rtt_ms_max = None;
        }
        let found = problems(&files);
        assert!(found.contains("span 3 regions") && found.contains("set rtt_ms_max"), "{found}");
        let lopsided = vec![peer(1, "aws", "us-east-1"), peer(2, "aws", "us-east-1"), peer(3, "gcp", "us-east-1")];
        let found = problems(&cluster(&lopsided));
        assert!(found.contains("would stop if provider aws were lost"), "{found}");
    }

    #[test]
    fn measured_round_trips_longer_than_declared_or_than_an_exchange_are_refused() {
        // The files declare a longest round trip of 132 ms, with 172 ms exchanges.
        let files = cluster(&three());
        // 140 ms measured is within: its network share is 126 ms.
        let within = [Measured { from: 1, to: 2, rtt_ms: 2 }, Measured { from: 2, to: 3, rtt_ms: 140 }];
        assert!(check_measured(&files, &within).is_empty());
        assert!(check_measured(&files, &[]).is_empty());
        let beyond = [Measured { from: 1, to: 2, rtt_ms: 2 }, Measured { from: 3, to: 1, rtt_ms: 150 }];
        let findings = check_measured(&files, &beyond);
        assert_eq!(findings.len(), files.len());
        let problem = &findings[0].problem;
        assert!(problem.contains("node 3 measured a 150 ms round trip to node 1"), "{problem}");
        assert!(problem.contains("longer than the declared rtt_ms_max 132"), "{problem}");
        assert!(problem.contains("heartbeat_ms = 23 and election_timeout_ms = [190, 201]"), "{problem}");
        // Nothing declared: the exchange itself must clear the measured round trip.
        let mut undeclared = cluster(&three());
        for (_, config) in &mut undeclared {
            config.rtt_ms_max = None;
            (config.heartbeat_ms, config.election_timeout_ms) = (12, [50, 56]);
        }
        let near = [Measured { from: 1, to: 2, rtt_ms: 9 }];
        assert!(check_measured(&undeclared, &near).is_empty());
        let findings = check_measured(&undeclared, &[Measured { from: 2, to: 1, rtt_ms: 20 }]);
        assert!(
            findings[0].problem.contains("election_timeout_ms[0] 50 does not exceed the 20 ms round trip"),
            "{findings:?}"
        );
    }

    #[test]
    fn an_exchange_within_the_declared_round_trip_is_refused_by_the_node_itself() {
        let mut config = cluster(&three()).remove(0).1;
        config.heartbeat_ms = 50;
        config.election_timeout_ms = [150, 300];
        let refused = config.check().unwrap_err();
        assert!(refused.contains("set heartbeat_ms = 21 and election_timeout_ms = [172, 182]"), "{refused}");
    }
}
