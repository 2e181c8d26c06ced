//! The state directory of a process cluster: where each node's configuration, data and log
//! live, the cluster's secrets and certificates, the reports chaos runs leave, and `up`'s
//! control socket.
//!
//! Must never: create or change files (it only names them; `up::prepare` and the launcher
//! write).

use std::path::PathBuf;

/// The state directory's files.
#[derive(Clone, Debug)]
pub struct StateDir {
    /// The directory.
    pub root: PathBuf,
}

impl StateDir {
    /// The topology kept in the directory.
    pub fn topology(&self) -> PathBuf {
        self.root.join("topology.toml")
    }
    /// The API key-encryption key (hex).
    pub fn api_kek(&self) -> PathBuf {
        self.root.join("secrets").join("api-kek.hex")
    }
    /// The demo users' API keys and secrets (`outlast_lab::demo`).
    pub fn demo_keys(&self) -> PathBuf {
        self.root.join("secrets").join("demo-keys.json")
    }
    /// The lab chain's hot wallet key (hex): the payer signs with it.
    pub fn hot_wallet_key(&self) -> PathBuf {
        self.root.join("secrets").join("hot-wallet.key")
    }
    /// The lab's deposit extended public key (`xpub…`): account n's address is child n.
    pub fn deposit_xpub(&self) -> PathBuf {
        self.root.join("secrets").join("deposit.xpub")
    }
    /// Where the lab's devnet keeps its chain between runs (anvil's `--state`), and the test
    /// token's address on it.
    pub fn chain(&self) -> PathBuf {
        self.root.join("chain")
    }
    /// The operator token.
    pub fn operator_token(&self) -> PathBuf {
        self.root.join("secrets").join("operator.token")
    }
    /// The cluster's certificates (CA, one per node, the lab's operator): see `outlast_tls`.
    pub fn pki(&self) -> outlast_tls::PkiFiles {
        outlast_tls::PkiFiles::in_dir(&self.root.join("pki"))
    }
    /// Node `id`'s certificate for users' HTTPS (`[api_tls]`), from the lab's CA.
    pub fn api_tls_cert(&self, id: u64) -> PathBuf {
        self.root.join("pki").join(format!("api-{id}.pem"))
    }
    /// Its private key.
    pub fn api_tls_key(&self, id: u64) -> PathBuf {
        self.root.join("pki").join(format!("api-{id}.key"))
    }
    /// The cluster's id (in its certificates' names), chosen at random when the directory is made.
    pub fn cluster_id_file(&self) -> PathBuf {
        self.root.join("pki").join("cluster")
    }
    /// The cluster id's text.
    pub fn read_cluster_id(&self) -> Result<String, String> {
        std::fs::read_to_string(self.cluster_id_file())
            .map(|t| t.trim().to_string())
            .map_err(|e| format!("{}: {e}", self.cluster_id_file().display()))
    }
    /// Node `id`'s configuration.
    pub fn config(&self, id: u64) -> PathBuf {
        self.root.join(format!("node{id}.toml"))
    }
    /// Node `id`'s stderr log.
    pub fn log(&self, id: u64) -> PathBuf {
        self.root.join(format!("node{id}.log"))
    }
    /// Node `id`'s data.
    pub fn data(&self, id: u64) -> PathBuf {
        self.root.join("data").join(format!("node{id}"))
    }
    /// Where chaos rehearsals on this cluster leave their reports, one directory per run; the
    /// nodes' status pages link to them.
    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }
    /// The supervisor's control socket (see `control`).
    pub fn control_socket(&self) -> PathBuf {
        self.root.join("control.sock")
    }
    /// The operator token's text.
    pub fn read_token(&self) -> Result<String, String> {
        std::fs::read_to_string(self.operator_token())
            .map(|t| t.trim().to_string())
            .map_err(|e| format!("{}: {e}", self.operator_token().display()))
    }
}
