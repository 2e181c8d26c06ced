//! Who is who on the wire. Every connection between nodes, and between an operator and a node,
//! is mutual TLS under the cluster's own certificate authority; a certificate names one
//! identity in one cluster, and a listener admits only the identities it is told to (the
//! current members, say), so a certificate from another CA, of another cluster, or of a node
//! that is no longer a member is refused during the handshake, with a TLS alert the other side
//! can report.
//!
//! - `names`: the identities and the DNS names that carry them in a certificate.
//! - `authority`: making the CA and issuing node and operator certificates (rcgen), as files.
//! - `config`: loading them and building the rustls configurations: a `Connector` that dials a
//!   named peer and checks it is that peer, an `Acceptor` that checks who dialled.
//! - `public`: `PublicAcceptor`, HTTPS for users (a server certificate for the node's public
//!   name, no client certificates).
//! - `live`: certificates and keys read again on SIGHUP or when their files change, without a
//!   restart: new handshakes use the new material.
//! - `plane`: the operator's HTTPS client for the operator plane (it accepts any node of the
//!   cluster, whatever address it dialled), and SPKI pins for a lab's browser.
//! - `stream`: `MaybeTls`, a dialled stream with or without TLS (the simulation has none).
//!
//! Must never: accept a peer without a certificate chaining to the cluster's CA, trust a
//! peer's claim about who it is over what its certificate proves, or hold the CA's private key
//! where a node can read it (nodes get the CA certificate only; `outlast cert` keeps the key
//! with the operator).

#![deny(missing_docs)]

mod authority;
mod config;
mod live;
mod names;
mod plane;
mod public;
mod stream;

pub use authority::{write_cluster_pki, Authority, Issued, PkiFiles};
pub use config::{Acceptor, Admit, Connector, TlsFiles, HANDSHAKE_TIMEOUT, PROTOCOL};
pub use live::{certificate_expiries, reload_all, reload_changed, Reloaded, WATCH_PERIOD};
pub use names::{any_node_name, node_name, operator_name, valid_cluster_id, Identity};
pub use plane::{operator_client_config, spki_pin};
pub use public::PublicAcceptor;
pub use stream::MaybeTls;
