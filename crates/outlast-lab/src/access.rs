//! How the lab's tools reach a lab cluster's APIs, as its users and as its operator.
//!
//! With TLS on (the default topology), each node serves users over HTTPS under the lab's own
//! CA, and its operator API only on the operator plane (mutual TLS): the tools trust that CA for
//! the public origins and present the lab operator's certificate on the plane, which is their
//! only operator credential. With TLS off (a topology that measures what TLS costs), the API
//! is plain HTTP on loopback and the operator API takes the bearer token on it.
//!
//! Must never: send the operator token where a certificate is the credential, or trust
//! anything for HTTPS but the lab's CA.

use std::path::Path;

use outlast_client::{Client, ClientError, Credentials, FailoverPolicy};
use outlast_tls::{Identity, TlsFiles};
use serde_json::Value;

use crate::state_dir::StateDir;
use crate::topology::Topology;
use crate::up::{NodeAddrs, LAB_OPERATOR};

/// How to reach one lab cluster's nodes.
#[derive(Clone)]
pub struct Access {
    ids: Vec<u64>,
    /// Each node's addresses (loopback or its namespace's).
    addrs: std::collections::BTreeMap<u64, NodeAddrs>,
    /// Trusts the lab's CA for the public origins (`None`: plain HTTP).
    public_tls: Option<rustls::ClientConfig>,
    operator: Credential,
}

#[derive(Clone)]
enum Credential {
    /// The operator plane, as the lab's operator (its certificate in the configuration).
    Plane(rustls::ClientConfig),
    /// The bearer token, on the public listener.
    Token(String),
}

impl Access {
    /// Access to the cluster in `dir` with `topology`: its CA and operator certificate, or its
    /// token.
    pub fn of(dir: &StateDir, topology: &Topology) -> Result<Access, String> {
        let ids = topology.nodes.iter().map(|n| n.id).collect();
        let addrs = topology.nodes.iter().map(|n| (n.id, NodeAddrs::in_topology(topology, n.id))).collect();
        if !topology.tls {
            return Ok(Access { ids, addrs, public_tls: None, operator: Credential::Token(dir.read_token()?) });
        }
        let pki = dir.pki();
        let ca = pki.ca_cert();
        let public_tls = outlast_client::trusting_ca_file(&ca).map_err(|e| e.to_string())?;
        let me = Identity::Operator(LAB_OPERATOR.into());
        let files = TlsFiles { ca, cert: pki.cert(&me), key: pki.key(&me) };
        let plane = outlast_tls::operator_client_config(&dir.read_cluster_id()?, &files)
            .map_err(|e| format!("the lab operator's certificate: {e}"))?;
        Ok(Access { ids, addrs, public_tls: Some(public_tls), operator: Credential::Plane(plane) })
    }

    /// The nodes, in topology order.
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// Whether the public API speaks HTTPS.
    pub fn https(&self) -> bool {
        self.public_tls.is_some()
    }

    /// Node `id`'s public API, as the tools dial it (by address: the certificate names it too).
    pub fn endpoint(&self, id: u64) -> String {
        self.addrs(id).api_url(self.https())
    }

    fn addrs(&self, id: u64) -> &NodeAddrs {
        self.addrs.get(&id).expect("a node of this cluster")
    }

    /// Every node's public API, in topology order.
    pub fn endpoints(&self) -> Vec<String> {
        self.ids.iter().map(|id| self.endpoint(*id)).collect()
    }

    /// A user's client over `endpoints` (from `endpoints`), trusting the lab's CA.
    pub fn client(&self, endpoints: Vec<String>, credentials: Option<Credentials>, policy: FailoverPolicy) -> Client {
        Client::with_tls(endpoints, credentials, policy, self.public_tls.clone())
    }

    /// What `wss://` streams trust (see `outlast_client::connect_websocket`).
    pub fn stream_tls(&self) -> Option<std::sync::Arc<rustls::ClientConfig>> {
        self.public_tls.clone().map(std::sync::Arc::new)
    }

    /// The operator's client over nodes `ids` (in that order), on the operator plane if the
    /// cluster has one.
    pub fn operator(&self, ids: &[u64], policy: FailoverPolicy) -> OperatorClient {
        match &self.operator {
            Credential::Plane(config) => {
                let endpoints = ids.iter().map(|id| self.addrs(*id).operator_url()).collect();
                OperatorClient { client: Client::with_tls(endpoints, None, policy, Some(config.clone())), token: None }
            }
            Credential::Token(token) => {
                let endpoints = ids.iter().map(|id| self.endpoint(*id)).collect();
                OperatorClient { client: self.client(endpoints, None, policy), token: Some(token.clone()) }
            }
        }
    }

    /// Node `id`'s answer to `GET path` as text (`/metrics`), with the operator's credential.
    pub async fn operator_text(&self, id: u64, path: &str) -> Result<String, String> {
        let deadline = std::time::Duration::from_secs(5);
        let (url, tls, token) = match &self.operator {
            Credential::Plane(config) => (self.addrs(id).operator_url(), config.clone(), None),
            Credential::Token(token) => {
                (self.endpoint(id), outlast_client::public_roots(), Some(format!("Bearer {token}")))
            }
        };
        let headers: Vec<(&str, &str)> = token.iter().map(|t| ("authorization", t.as_str())).collect();
        let transport = outlast_client::Transport::new(deadline, tls);
        match transport.send("GET", &format!("{url}{path}"), &headers, String::new(), deadline).await {
            outlast_client::Attempt::Answer { status: 200, body } => Ok(body),
            outlast_client::Attempt::Answer { status, body } => Err(format!("{url}{path}: {status} {body}")),
            outlast_client::Attempt::Failed(error) => Err(format!("{url}{path}: {error}")),
        }
    }

    /// The operator's client over every node.
    pub fn operator_all(&self, policy: FailoverPolicy) -> OperatorClient {
        self.operator(&self.ids, policy)
    }
}

/// Operator calls to a lab cluster, with whichever credential it takes.
pub struct OperatorClient {
    client: Client,
    token: Option<String>,
}

impl OperatorClient {
    /// One operator call (`/operator/v1/...`), failing over between the nodes it was given.
    pub async fn call(&self, method: &str, path: &str, params: &[(&str, String)]) -> Result<Value, ClientError> {
        match &self.token {
            Some(token) => self.client.operator(token, method, path, params).await,
            None => self.client.operator_plane(method, path, params).await,
        }
    }

    /// The node calls go to now.
    pub fn current(&self) -> &str {
        self.client.current()
    }
}

/// The SPKI pins of every node's public certificate in `dir` (see `outlast_tls::spki_pin`),
/// comma-separated: what Chromium's `--ignore-certificate-errors-spki-list` takes.
pub fn public_pins(dir: &StateDir, ids: &[u64]) -> Result<String, String> {
    let pin = |path: &Path| {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        outlast_tls::spki_pin(&pem)
    };
    let pins: Result<Vec<String>, String> = ids.iter().map(|id| pin(&dir.api_tls_key(*id))).collect();
    Ok(pins?.join(","))
}
