//! A node's configuration file (TOML), and the topology check that guards initialisation.
//!
//! ```toml
//! id = 1
//! data_dir = "data/n1"
//! raft_addr = "127.0.0.1:7101"      # peers' Raft RPCs
//! client_addr = "127.0.0.1:7201"    # commands and reads
//! provider = "aws"
//! region = "us-east-1"
//! zone = "us-east-1a"
//! heartbeat_ms = 50                  # optional; the same on every node
//! election_timeout_ms = [150, 300]   # optional; the same on every node; across regions the lower
//!                                    # end at least rtt_ms_max + 40 (`outlast config check` says)
//! rtt_ms_max = 132                   # optional: the longest round trip between two members, declared
//! snapshot_every_entries = 10000     # optional
//! log_kept_behind_snapshot = 1000    # optional
//! preferred_region = "us-east-1"     # optional: where the leader should be
//! succession_regions = ["us-west-2", "eu-west-1"] # optional: where a new leader comes from next, nearest first
//! raft_listen_addr = "127.0.1.1:7101" # optional: listen here; peers reach raft_addr (a proxy, NAT)
//! client_listen_addr = "127.0.1.1:7201" # optional: listen here; others reach client_addr
//! source_ip = "127.0.1.1"            # optional: dial peers from this address
//! api_addr = "127.0.0.1:7301"       # optional: where the public HTTPS/WebSocket API listens
//! operator_addr = "127.0.0.1:7401"  # optional, needs [tls] operators: the operator API over mTLS
//! api_kek_file = "secrets/api-kek.hex"          # with api_addr: key-encryption key (hex), same on every node
//! operator_token_file = "secrets/operator.token" # with api_addr: the operator API's bearer token
//!                                    # (also relayed with operator commands: see `authority`)
//! reports_dir = "reports"            # optional: chaos reports the status page links to
//! api_ip_weight_per_minute = 6000   # optional: request weight per client IP per minute
//! api_key_weight_per_minute = 6000  # optional: request weight per API key per minute
//! api_ws_connects_per_5m = 300      # optional: WebSocket connections per client IP per 5 minutes
//! api_connections_per_source_max = 256 # optional: public connections from one address
//!
//! [tls]                              # optional (clear text without): mutual TLS between nodes
//! cluster = "lab"                    # the cluster id in the certificates' names
//! ca_file = "pki/ca.pem"             # the cluster's CA certificate (not its key)
//! cert_file = "pki/node-1.pem"       # `outlast cert node --id 1`
//! key_file = "pki/node-1.key"
//! operators = ["alice"]              # operators admitted to the client port (`outlast cert operator`)
//!
//! [api_tls]                          # optional (HTTP without): HTTPS on api_addr
//! cert_file = "pki/server-ex.pem"    # for the name users reach the node by (a public CA's, or
//! key_file = "pki/server-ex.key"     #   `outlast cert server --name NAME` in a lab)
//!
//! [[peers]]                          # every voter, this node included
//! id = 1
//! raft_addr = "127.0.0.1:7101"
//! client_addr = "127.0.0.1:7201"
//! provider = "aws"
//! region = "us-east-1"
//! zone = "us-east-1a"
//! public_url = "https://ex1.example.com:7301" # with the node's api_addr: its public origin, for
//!                                    # pages, CORS and clients to fail over to
//! role = "voter"                     # optional: "voter" (default) or "learner"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::{NodeId, NodeInfo};

/// Whether a configured member votes.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Counts toward the quorum (the default).
    #[default]
    Voter,
    /// Receives the log but never blocks a commit (a read replica, e.g. in a far region). Added
    /// to a running cluster with `outlast admin add-learner`.
    Learner,
}

/// One member of the cluster as configured.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Node id (non-zero).
    pub id: NodeId,
    /// Raft RPC address.
    pub raft_addr: String,
    /// Client address.
    pub client_addr: String,
    /// Provider label.
    pub provider: String,
    /// Region label.
    pub region: String,
    /// Zone label.
    pub zone: String,
    /// The public origin users reach its API at, `https://host[:port]` (empty if it serves
    /// none; `http://` only for a loopback address or `localhost`). Not where it listens: a NAT,
    /// a load balancer or a DNS name may stand in front of `api_addr`.
    #[serde(default)]
    pub public_url: String,
    /// Voter (default) or learner.
    #[serde(default)]
    pub role: Role,
}

/// A node's configuration.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's id.
    pub id: NodeId,
    /// Where the log and snapshots live.
    pub data_dir: PathBuf,
    /// Address for peers' Raft RPCs.
    pub raft_addr: String,
    /// Address for client commands and reads.
    pub client_addr: String,
    /// Provider label.
    pub provider: String,
    /// Region label.
    pub region: String,
    /// Zone label.
    pub zone: String,
    /// Initialise the cluster on this node's first start, as `outlast node --init` does: for
    /// deployments that start every node the same way (a StatefulSet, one systemd unit). Set
    /// it on one node only; a node that already holds the cluster's state ignores it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bootstrap: bool,
    /// Leader heartbeat interval, in ms.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// Election timeout range, in ms.
    #[serde(default = "default_election_timeout_ms")]
    pub election_timeout_ms: [u64; 2],
    /// The longest round trip between two members, in ms, as the operator measured it: the
    /// lower election timeout must exceed it by `RTT_MARGIN_MS` (openraft, patched, gives each
    /// heartbeat and AppendEntries that long to complete; see `raft_timing_ms`). `outlast
    /// config check` asks for it when the members span regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms_max: Option<u64>,
    /// The most this node's clock may differ from the median of the members' clocks, in ms,
    /// before it stops leading (see `clocks`; default 500, as CockroachDB's `--max-offset`;
    /// 0 turns the bound off).
    #[serde(default = "default_clock_offset_ms_max")]
    pub clock_offset_ms_max: u64,
    /// Applied entries between automatic snapshots.
    #[serde(default = "default_snapshot_every_entries")]
    pub snapshot_every_entries: u64,
    /// Entries kept in the log behind a snapshot, so a briefly lagging follower catches up from
    /// the log rather than by receiving a whole snapshot.
    #[serde(default = "default_log_kept_behind_snapshot")]
    pub log_kept_behind_snapshot: u64,
    /// Where the leader should be when a healthy voter there can take it (near the users).
    #[serde(default)]
    pub preferred_region: Option<String>,
    /// After `preferred_region`, the regions a new leader should come from, nearest to the
    /// preferred region first. The nodes nearest the leader hold the freshest log, so when the
    /// preferred region is lost the first candidate in this order can win at once; a candidate
    /// farther away would be refused for a shorter log and cost a second round (see `elections`).
    #[serde(default)]
    pub succession_regions: Vec<String>,
    /// Where to listen for peers, when that differs from the address peers dial (`raft_addr`
    /// then names a proxy or NAT in front of this node).
    #[serde(default)]
    pub raft_listen_addr: Option<String>,
    /// Where to listen for client-protocol connections, when that differs from the address
    /// others dial (`client_addr` then names a proxy in front of this node).
    #[serde(default)]
    pub client_listen_addr: Option<String>,
    /// The address to dial peers from, for Raft and for forwarding to the leader alike (so a
    /// link proxy can tell which node is calling).
    #[serde(default)]
    pub source_ip: Option<std::net::IpAddr>,
    /// Where to serve the public HTTP/WebSocket API (none if absent); the peer entry's
    /// `public_url` says where users reach it.
    #[serde(default)]
    pub api_addr: Option<String>,
    /// Where to serve the operator plane: the operator API over mutual TLS, for the `[tls]`
    /// operators' certificates only. With it, the public listener serves no operator endpoint
    /// (and the bearer token opens nothing); without it, the operator API is on the public
    /// listener behind the bearer token.
    #[serde(default)]
    pub operator_addr: Option<String>,
    /// The API key-encryption key (32 bytes as hex), required with `api_addr`: it seals every
    /// HMAC key's secret in the log (see `outlast_api::auth`). Every API node holds the same one;
    /// it is never in the log, a snapshot or a backup.
    #[serde(default)]
    pub api_kek_file: Option<PathBuf>,
    /// The operator API's bearer token, required with `api_addr`. With `[tls]`, a node relays it
    /// with the operator commands it forwards; without it, it relays none (see `authority`).
    #[serde(default)]
    pub operator_token_file: Option<PathBuf>,
    /// Where `outlast chaos` leaves its reports (one directory per run), for the status page
    /// to link to (none if absent).
    #[serde(default)]
    pub reports_dir: Option<PathBuf>,
    /// Request weight one client IP may use per minute (default 6,000, as Binance). Raise it when
    /// many users share an address (behind a proxy) or for load tests.
    #[serde(default)]
    pub api_ip_weight_per_minute: Option<u32>,
    /// Request weight one API key may use per minute (default 6,000).
    #[serde(default)]
    pub api_key_weight_per_minute: Option<u32>,
    /// WebSocket connections one client IP may open per 5 minutes (default 300, as Binance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_ws_connects_per_5m: Option<u32>,
    /// Public API connections at once from one client address (default 256; see
    /// `outlast_api::http_server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_connections_per_source_max: Option<usize>,
    /// Mutual TLS between nodes (see `TlsConfig`); without it peers talk in clear, which only
    /// a simulation or a single host should do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// HTTPS on `api_addr` (see `ApiTlsConfig`); without it the public API speaks plain HTTP,
    /// which only a single host (`localhost` is a secure context for the page) should do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_tls: Option<ApiTlsConfig>,
    /// The chains this node follows for deposits and withdrawals (`[[chain]]`; see
    /// `outlast_chain::config`): custody runs where the leader runs, so every voter that may
    /// lead has the same list.
    #[serde(default, rename = "chain", skip_serializing_if = "Vec::is_empty")]
    pub chains: Vec<outlast_chain::config::ChainConfig>,
    /// The voters, this node included.
    pub peers: Vec<PeerConfig>,
}

/// Mutual TLS between nodes, and between operators and nodes: this node dials and admits only
/// nodes of `cluster` whose certificates come from the CA in `ca_file`, only current members
/// (or the configured peers, before the cluster has a membership), and on its client port also
/// the `operators` named here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The cluster's id, as in its certificates (`node-<id>.<cluster>.outlast`).
    pub cluster: String,
    /// The cluster's CA certificate (PEM). Not its key: that stays with the operator.
    pub ca_file: PathBuf,
    /// This node's certificate (PEM), issued by `outlast cert node`.
    pub cert_file: PathBuf,
    /// This node's private key (PEM).
    pub key_file: PathBuf,
    /// The operators whose certificates (`outlast cert operator`) the client port admits, for
    /// `outlast admin` and the lab's tools.
    #[serde(default)]
    pub operators: Vec<String>,
}

/// The public API's server certificate: users' HTTPS (`outlast_tls::PublicAcceptor`), with HSTS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTlsConfig {
    /// The certificate chain (PEM, leaf first) for the name users reach this node by.
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
}

impl TlsConfig {
    /// The files, as `outlast_tls` takes them.
    pub fn files(&self) -> outlast_tls::TlsFiles {
        outlast_tls::TlsFiles { ca: self.ca_file.clone(), cert: self.cert_file.clone(), key: self.key_file.clone() }
    }
}

/// How much longer than the longest round trip an exchange's deadline must be: fsync and
/// scheduling on both ends of an AppendEntries.
pub const RTT_MARGIN_MS: u64 = 40;

/// The Raft timing for a longest round trip of `rtt_ms`: the heartbeat interval and the
/// election timeouts. The lower election timeout is the deadline of every exchange (a vote;
/// a heartbeat and an AppendEntries too, in our patched openraft: upstream gives those one
/// heartbeat interval, which forced the interval, and with it the lease, above the round trip),
/// so it is the round trip plus `RTT_MARGIN_MS`. The upper end is every voter's leader lease,
/// the least silence before anyone can win a vote: it must outlast the longest gap between two
/// heartbeats a follower hears, which is a round trip when the follower is the farthest from
/// the leader (the leader sends the next heartbeat when the last one is answered), so half a
/// heartbeat more than the lower end. The heartbeat is an eighth of the exchange: a node
/// campaigns a lease and 1.25 heartbeats after the last one it heard (`elections`), so a short
/// heartbeat shortens failover (21 ms in the WAN lab: ~50 small messages a second to each
/// follower).
pub fn raft_timing_ms(rtt_ms: u64) -> (u64, [u64; 2]) {
    let exchange = rtt_ms + RTT_MARGIN_MS;
    let heartbeat = exchange / 8;
    (heartbeat, [exchange, exchange + heartbeat / 2])
}

fn default_clock_offset_ms_max() -> u64 {
    500
}

fn default_heartbeat_ms() -> u64 {
    50
}

fn default_election_timeout_ms() -> [u64; 2] {
    [150, 300]
}

fn default_snapshot_every_entries() -> u64 {
    10_000
}

fn default_log_kept_behind_snapshot() -> u64 {
    1_000
}

/// Checks an origin: `https://host[:port]`, or `http://` for localhost or a loopback address,
/// with no path, query or credentials (browsers compare origins byte for byte).
pub fn check_public_url(url: &str) -> Result<(), String> {
    let (scheme, authority) = url.split_once("://").ok_or("needs a scheme (https://)")?;
    if scheme != "https" && scheme != "http" {
        return Err(format!("scheme {scheme:?}: use https"));
    }
    let name_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if authority.is_empty() || !authority.chars().all(name_char) {
        return Err("must be scheme://host[:port] in lower case, with no path, query or user".into());
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => {
            port.parse::<std::num::NonZeroU16>().map_err(|_| format!("port {port:?}"))?;
            host
        }
        _ => authority,
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    if scheme == "http" && !loopback(&format!("{host}:1")) {
        return Err("serves users in clear: use https (plain http only on localhost or a loopback address)".into());
    }
    Ok(())
}

/// Whether `addr` (`host:port`) is on a loopback address: 127.0.0.0/8, ::1, or `localhost`.
fn loopback(addr: &str) -> bool {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(socket) => socket.ip().is_loopback(),
        Err(_) => addr.rsplit_once(':').is_some_and(|(host, _)| host == "localhost"),
    }
}

impl NodeConfig {
    /// The configuration of `peers`' member `id`, keeping its data in `data_dir`, with every
    /// optional setting at its default. None if `id` is not among `peers`.
    pub fn of_peer(id: NodeId, data_dir: PathBuf, peers: Vec<PeerConfig>) -> Option<NodeConfig> {
        let me = peers.iter().find(|p| p.id == id)?.clone();
        Some(NodeConfig {
            id,
            data_dir,
            raft_addr: me.raft_addr,
            client_addr: me.client_addr,
            provider: me.provider,
            region: me.region,
            zone: me.zone,
            bootstrap: false,
            heartbeat_ms: default_heartbeat_ms(),
            election_timeout_ms: default_election_timeout_ms(),
            rtt_ms_max: None,
            clock_offset_ms_max: default_clock_offset_ms_max(),
            snapshot_every_entries: default_snapshot_every_entries(),
            log_kept_behind_snapshot: default_log_kept_behind_snapshot(),
            preferred_region: None,
            succession_regions: Vec::new(),
            raft_listen_addr: None,
            client_listen_addr: None,
            source_ip: None,
            api_addr: None,
            operator_addr: None,
            api_kek_file: None,
            operator_token_file: None,
            reports_dir: None,
            api_ip_weight_per_minute: None,
            api_key_weight_per_minute: None,
            api_ws_connects_per_5m: None,
            api_connections_per_source_max: None,
            tls: None,
            api_tls: None,
            chains: Vec::new(),
            peers,
        })
    }

    /// The configuration as file text (TOML): what `load` reads back, equal to `self`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a node configuration always serialises (plain keys, then the peer tables)")
    }

    /// Reads and checks a configuration file; the error says what to fix.
    pub fn load(path: &Path) -> Result<NodeConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let config: NodeConfig = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        config.check().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(config)
    }

    /// Checks internal consistency.
    pub fn check(&self) -> Result<(), String> {
        let labels = [&self.raft_addr, &self.client_addr, &self.provider, &self.region, &self.zone];
        if self.id == 0 || labels.iter().any(|l| l.is_empty()) {
            return Err("id must be non-zero and addresses and labels non-empty".into());
        }
        let [low, high] = self.election_timeout_ms;
        if self.heartbeat_ms == 0 || low <= self.heartbeat_ms || high <= low {
            return Err("need 0 < heartbeat_ms < election_timeout_ms[0] < election_timeout_ms[1]".into());
        }
        if let Some(rtt_ms) = self.rtt_ms_max {
            if low < rtt_ms + RTT_MARGIN_MS {
                let (heartbeat, election) = raft_timing_ms(rtt_ms);
                return Err(format!(
                    "election_timeout_ms[0] {low} does not exceed the longest round trip ({rtt_ms} ms) by {RTT_MARGIN_MS} ms: replication would never settle; set heartbeat_ms = {heartbeat} and election_timeout_ms = {election:?}"
                ));
            }
        }
        if self.snapshot_every_entries == 0 {
            return Err("snapshot_every_entries must be positive".into());
        }
        // A withdrawal names an asset, not a chain: an asset on two chains would be paid on
        // whichever signs first; one chain under two names would credit every deposit twice.
        let (mut chains, mut ids, mut symbols) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for chain in &self.chains {
            chain.validate()?;
            if !chains.insert(&chain.name) || !ids.insert(chain.chain_id) {
                return Err(format!("chain {} (id {}) is configured twice", chain.name, chain.chain_id));
            }
            if let Some(asset) = chain.assets.iter().find(|a| !symbols.insert(&a.symbol)) {
                return Err(format!("{} is on two chains: an asset is paid on one chain", asset.symbol));
            }
        }
        let ids: BTreeSet<NodeId> = self.peers.iter().map(|p| p.id).collect();
        if ids.len() != self.peers.len() {
            return Err("peer ids must be distinct".into());
        }
        match self.peers.iter().find(|p| p.id == self.id) {
            None => return Err(format!("node {} is not among its peers", self.id)),
            Some(me) => {
                let mine = (&me.raft_addr, &me.client_addr, &me.provider, &me.region, &me.zone);
                if mine != (&self.raft_addr, &self.client_addr, &self.provider, &self.region, &self.zone) {
                    return Err(format!("peer entry {} disagrees with this node's own settings", self.id));
                }
                if me.public_url.is_empty() != self.api_addr.is_none() {
                    return Err(format!(
                        "node {}: give its peer entry a public_url if and only if it has an api_addr",
                        self.id
                    ));
                }
                if self.api_tls.is_some() && !me.public_url.is_empty() && !me.public_url.starts_with("https://") {
                    return Err(format!("node {}: with [api_tls] its public_url is https://", self.id));
                }
            }
        }
        if let Some(tls) = &self.tls {
            if !outlast_tls::valid_cluster_id(&tls.cluster) {
                return Err(format!("tls.cluster {:?}: use 1 to 40 of a-z, 0-9 and '-'", tls.cluster));
            }
        }
        if self.api_addr.is_some() && (self.api_kek_file.is_none() || self.operator_token_file.is_none()) {
            return Err("api_addr needs api_kek_file and operator_token_file".into());
        }
        if let Some(addr) = &self.operator_addr {
            let operators = self.tls.as_ref().map_or(0, |tls| tls.operators.len());
            if self.api_addr.is_none() || operators == 0 {
                return Err(format!(
                    "operator_addr {addr} needs api_addr and [tls] with operators (only their certificates are admitted)"
                ));
            }
        }
        if self.api_tls.is_some() && self.api_addr.is_none() {
            return Err("api_tls needs api_addr".into());
        }
        for peer in &self.peers {
            if !peer.public_url.is_empty() {
                check_public_url(&peer.public_url).map_err(|why| format!("peer {}: public_url {why}", peer.id))?;
            }
        }
        if let (Some(addr), None) = (&self.api_addr, &self.api_tls) {
            // WebCrypto, which the page signs with, exists only in a secure context: HTTPS, or
            // plain HTTP on this host. And nothing should cross a network in clear.
            if !loopback(addr) {
                return Err(format!(
                    "node {}: its API on {addr} would serve users in clear: add [api_tls], or listen on a loopback address",
                    self.id
                ));
            }
        }
        if self.tls.is_some() && self.operator_token_file.is_none() {
            // Without it the node can relay no operator command (see `authority`).
            return Err("[tls] needs operator_token_file".into());
        }
        if self.api_connections_per_source_max == Some(0) {
            return Err("api_connections_per_source_max must be at least 1".into());
        }
        if self.tls.is_none() {
            // A cluster without TLS trusts its network (`authority`): only loopback is that.
            let listens = [
                self.raft_listen_addr.as_ref().unwrap_or(&self.raft_addr),
                self.client_listen_addr.as_ref().unwrap_or(&self.client_addr),
            ];
            if let Some(addr) = listens.into_iter().find(|addr| !loopback(addr)) {
                return Err(format!(
                    "without [tls], node {} would take Raft and client traffic in clear, unauthenticated, on {addr}: \
                     add [tls] (`outlast cert`), or listen on a loopback address",
                    self.id
                ));
            }
        }
        Ok(())
    }

    /// The voters as openraft membership.
    pub fn members(&self) -> BTreeMap<NodeId, NodeInfo> {
        voters(&self.peers)
    }

    /// This node as the cluster should know it.
    pub fn own_info(&self) -> NodeInfo {
        self.peers.iter().find(|p| p.id == self.id).expect("checked: the node is among its peers").info()
    }
}

/// A cluster file for `outlast plan`: the `[[peers]]` of a node configuration (other keys are
/// ignored, so a node's own file works too).
#[derive(Clone, Debug, Deserialize)]
pub struct ClusterFile {
    /// The voters.
    pub peers: Vec<PeerConfig>,
}

impl ClusterFile {
    /// Reads a cluster file.
    pub fn load(path: &Path) -> Result<ClusterFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The voters as openraft membership.
    pub fn members(&self) -> BTreeMap<NodeId, NodeInfo> {
        voters(&self.peers)
    }
}

/// The peers that vote, as openraft membership.
fn voters(peers: &[PeerConfig]) -> BTreeMap<NodeId, NodeInfo> {
    peers.iter().filter(|p| p.role == Role::Voter).map(|p| (p.id, p.info())).collect()
}

impl PeerConfig {
    /// The node as openraft membership knows it.
    pub fn info(&self) -> NodeInfo {
        NodeInfo {
            addr: self.raft_addr.clone(),
            client_addr: self.client_addr.clone(),
            provider: self.provider.clone(),
            region: self.region.clone(),
            zone: self.zone.clone(),
            public_url: self.public_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_asset_on_two_chains_or_a_chain_twice_is_refused() {
        use outlast_chain::config::{ChainAssetConfig, ChainConfig};
        use outlast_chain::pool::UpstreamConfig;
        let chain = |name: &str, chain_id: u64, symbol: &str| ChainConfig {
            name: name.into(),
            chain_id,
            confirmations: 2,
            deposit_xpub: outlast_chain::devnet::DEV_XPUB.into(),
            hot_wallet_key_file: "/dev/null".into(),
            poll_ms: 1_000,
            bump_after_ms: 60_000,
            fee_per_gas_max_gwei: 1_000,
            agreement_min: None,
            upstreams: vec![UpstreamConfig { label: "a".into(), url: "http://a".into() }],
            assets: vec![ChainAssetConfig { symbol: symbol.into(), token: None, decimals: 18 }],
        };
        let mut config = NodeConfig::of_peer(1, "/d".into(), vec![peer(1, "127.0.0.1")]).unwrap();
        config.chains = vec![chain("ethereum", 1, "ETH"), chain("base", 8453, "BASEETH")];
        assert_eq!(config.check(), Ok(()));
        config.chains = vec![chain("ethereum", 1, "ETH"), chain("base", 8453, "ETH")];
        assert!(config.check().unwrap_err().contains("ETH is on two chains"));
        config.chains = vec![chain("ethereum", 1, "ETH"), chain("mainnet", 1, "WETH")];
        assert!(config.check().unwrap_err().contains("configured twice"));
    }

    /// Voter `id` on `host`, in provider aws, with no public API.
    fn peer(id: NodeId, host: &str) -> PeerConfig {
        PeerConfig {
            id,
            raft_addr: format!("{host}:{}", 7100 + id),
            client_addr: format!("{host}:{}", 7200 + id),
            provider: "aws".into(),
            region: "r".into(),
            zone: format!("z{id}"),
            public_url: String::new(),
            role: Role::Voter,
        }
    }

    #[test]
    fn a_config_that_disagrees_with_itself_is_refused_with_a_reason() {
        let text = r#"
            id = 2
            data_dir = "d"
            raft_addr = "127.0.0.1:1"
            client_addr = "127.0.0.1:2"
            provider = "aws"
            region = "r"
            zone = "z"
            [[peers]]
            id = 1
            raft_addr = "127.0.0.1:3"
            client_addr = "127.0.0.1:4"
            provider = "gcp"
            region = "r"
            zone = "z"
        "#;
        let config: NodeConfig = toml::from_str(text).unwrap();
        assert!(config.check().unwrap_err().contains("not among its peers"));
        assert!(toml::from_str::<NodeConfig>("id = 1\nbogus = 2").is_err());
    }

    #[test]
    fn a_cluster_without_tls_may_only_listen_on_loopback() {
        for host in ["127.0.0.1", "127.0.1.7", "[::1]", "localhost"] {
            NodeConfig::of_peer(1, "d".into(), vec![peer(1, host)]).unwrap().check().unwrap();
        }
        let open = NodeConfig::of_peer(1, "d".into(), vec![peer(1, "10.0.0.5")]).unwrap();
        assert!(open.check().unwrap_err().contains("without [tls]"), "{:?}", open.check());
        let mut listening = NodeConfig::of_peer(1, "d".into(), vec![peer(1, "127.0.0.1")]).unwrap();
        listening.client_listen_addr = Some("0.0.0.0:7201".into());
        assert!(listening.check().unwrap_err().contains("0.0.0.0:7201"));
    }

    #[test]
    fn a_public_url_is_an_https_origin_and_http_only_on_this_host() {
        for good in [
            "https://ex1.example.com",
            "https://ex1.example.com:7301",
            "https://10.0.0.5:443",
            "https://[2001:db8::1]:8443",
            "http://127.0.0.1:8001",
            "http://localhost:8001",
            "http://[::1]:8001",
        ] {
            check_public_url(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for (bad, why) in [
            ("ex1.example.com:7301", "scheme"),
            ("ftp://ex1.example.com", "scheme"),
            ("http://ex1.example.com:8001", "in clear"),
            ("http://10.0.0.5", "in clear"),
            ("https://ex1.example.com/", "no path"),
            ("https://Ex1.example.com", "lower case"),
            ("https://user@ex1.example.com", "no path, query or user"),
            ("https://ex1.example.com:0", "port"),
            ("https://ex1.example.com:99999", "port"),
            ("https://:8001", "no host"),
        ] {
            let error = check_public_url(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn an_api_needs_a_public_url_and_tls_off_this_host() {
        let mut peer = peer(1, "127.0.0.1");
        let mut config = NodeConfig::of_peer(1, "d".into(), vec![peer.clone()]).unwrap();
        config.api_kek_file = Some("k".into());
        config.operator_token_file = Some("t".into());
        config.api_addr = Some("127.0.0.1:8001".into());
        assert!(config.check().unwrap_err().contains("public_url if and only if"));
        peer.public_url = "http://127.0.0.1:8001".into();
        config.peers = vec![peer.clone()];
        config.check().unwrap();
        config.api_addr = Some("0.0.0.0:8001".into());
        assert!(config.check().unwrap_err().contains("add [api_tls]"));
        config.api_tls = Some(ApiTlsConfig { cert_file: "c".into(), key_file: "k".into() });
        assert!(config.check().unwrap_err().contains("is https://"));
        peer.public_url = "https://ex1.example.com:8001".into();
        config.peers = vec![peer];
        config.check().unwrap();
        config.api_addr = None;
        config.api_tls = None;
        assert!(config.check().unwrap_err().contains("public_url if and only if"));
    }

    #[test]
    fn a_written_config_reads_back_equal() {
        let peer = |id: NodeId| PeerConfig {
            public_url: if id == 2 { format!("http://127.0.0.1:{}", 7300 + id) } else { String::new() },
            role: if id == 3 { Role::Learner } else { Role::Voter },
            ..peer(id, "127.0.0.1")
        };
        let mut config = NodeConfig::of_peer(2, "data/n2".into(), vec![peer(1), peer(2), peer(3)]).unwrap();
        config.api_addr = Some("127.0.0.1:7302".into());
        config.source_ip = Some("127.0.1.2".parse().unwrap());
        config.api_kek_file = Some("secrets/api-kek.hex".into());
        config.operator_token_file = Some("secrets/operator.token".into());
        config.preferred_region = Some("r".into());
        config.check().unwrap();
        let text = config.to_toml();
        assert_eq!(toml::from_str::<NodeConfig>(&text).unwrap(), config, "{text}");
        assert!(NodeConfig::of_peer(9, "d".into(), vec![peer(1)]).is_none());
    }
}
