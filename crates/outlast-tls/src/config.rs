//! Mutual TLS between nodes and operators, with rustls (TLS 1.3 only, the `ring` provider).
//!
//! A `Connector` dials a named peer: the peer must present a certificate from the cluster's CA
//! valid for that peer's name (`node-3.<cluster>.outlast`), and this side presents its own. An
//! `Acceptor` requires a client certificate from the CA and, during the handshake, that it be
//! valid for one of the identities its `Admit` returns at that moment (the current members, the
//! configured operators); anyone else gets a TLS alert, not a connection. After the handshake
//! the acceptor says which identity it was, for the server to authorise by.
//!
//! Both sides also name the wire protocol's version (`PROTOCOL`, by ALPN): a node of an
//! incompatible version is refused during the handshake, with the versions named on both sides,
//! instead of misreading frames afterwards.
//!
//! Must never: accept a handshake that has not finished within `HANDSHAKE_TIMEOUT` (a
//! slow or silent client holds a socket, nothing more), or admit an identity by anything but
//! webpki's name check on a verified chain.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::client::verify_server_name;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

use crate::live::Live;
use crate::names::Identity;

/// Longest a TLS handshake may take on either side: several WAN round trips, and short
/// enough that a client which never finishes one does not hold a connection slot for long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The version of the messages nodes and tools exchange over TLS (`outlast_cluster`'s `rpc` and
/// `protocol`), named in every handshake. Change it with any change a node of the previous
/// version would misread.
pub const PROTOCOL: &[u8] = b"outlast/3";

/// The identities a listener admits right now (read at every handshake: membership changes).
pub type Admit = Arc<dyn Fn() -> Vec<Identity> + Send + Sync>;

/// Where this side's TLS material is: the cluster's CA certificate, and this node's or
/// operator's own certificate and key (PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The cluster's CA certificate.
    pub ca: PathBuf,
    /// This side's certificate (chain).
    pub cert: PathBuf,
    /// This side's private key.
    pub key: PathBuf,
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: &Path, e: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", what.display()))
}

pub(crate) struct Material {
    pub(crate) roots: Arc<RootCertStore>,
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl Material {
    /// Checks that the certificate chains to the CA and is valid now (a reload must not swap
    /// working material for a certificate of another CA, or an expired one).
    fn check_chain(&self, files: &TlsFiles) -> io::Result<()> {
        let ca = WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider())
            .build()
            .map_err(|e| invalid(&files.ca, e))?;
        ca.verify_client_cert(&self.chain[0], &self.chain[1..], UnixTime::now())
            .map(|_| ())
            .map_err(|e| invalid(&files.cert, format!("not a valid certificate of the cluster's CA now: {e}")))
    }
}

impl TlsFiles {
    /// The three files.
    fn paths(&self) -> Vec<PathBuf> {
        vec![self.ca.clone(), self.cert.clone(), self.key.clone()]
    }

    pub(crate) fn load(&self) -> io::Result<Material> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.ca).map_err(|e| invalid(&self.ca, e))? {
            roots.add(cert.map_err(|e| invalid(&self.ca, e))?).map_err(|e| invalid(&self.ca, e))?;
        }
        if roots.is_empty() {
            return Err(invalid(&self.ca, "no CA certificate"));
        }
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| invalid(&self.cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(&self.cert, e))?;
        if chain.is_empty() {
            return Err(invalid(&self.cert, "no certificate"));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| invalid(&self.key, e))?;
        Ok(Material { roots: Arc::new(roots), chain, key })
    }
}

/// Dials peers of one cluster over TLS, as one identity.
#[derive(Clone)]
pub struct Connector {
    cluster: String,
    /// The protocol version it speaks (`PROTOCOL` but in tests).
    protocol: Vec<u8>,
    /// Reloaded when its files change (`live`).
    connector: Arc<Live<TlsConnector>>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Connector({})", self.cluster)
    }
}

impl Connector {
    /// A connector for cluster `cluster` from `files`, speaking `PROTOCOL`.
    pub fn new(cluster: &str, files: &TlsFiles) -> io::Result<Connector> {
        Connector::speaking(cluster, files, PROTOCOL)
    }

    /// A connector that speaks `protocol` (another version than this build's, or none if
    /// empty: for tests).
    pub fn speaking(cluster: &str, files: &TlsFiles, protocol: &[u8]) -> io::Result<Connector> {
        let (paths, files, offered) = (files.paths(), files.clone(), protocol.to_vec());
        let load = move |reload: bool| {
            let material = files.load()?;
            if reload {
                material.check_chain(&files)?;
            }
            let Material { roots, chain, key } = material;
            let mut config = ClientConfig::builder_with_provider(provider())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .map_err(|e| invalid(&files.cert, e))?
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid(&files.key, e))?;
            // An empty `protocol` offers none (a client of a build before versions were named).
            config.alpn_protocols = if offered.is_empty() { Vec::new() } else { vec![offered.clone()] };
            Ok(TlsConnector::from(Arc::new(config)))
        };
        let connector = Live::new(paths, load)?;
        Ok(Connector { cluster: cluster.to_string(), protocol: protocol.to_vec(), connector })
    }

    /// Runs the handshake on `stream` with the peer that must be `peer`.
    pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        peer: &Identity,
    ) -> io::Result<client::TlsStream<S>> {
        let name = ServerName::try_from(peer.name(&self.cluster))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let connector = self.connector.get().1;
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, stream)).await {
            Ok(Ok(stream)) => match stream.get_ref().1.alpn_protocol() {
                Some(spoken) if spoken == self.protocol => Ok(stream),
                // A connector that names no version (a test's stand-in for an old build) does
                // not check one either.
                _ if self.protocol.is_empty() => Ok(stream),
                spoken => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "TLS with {peer}: it speaks {}, this side {}",
                        version(spoken),
                        version(Some(self.protocol.as_slice()))
                    ),
                )),
            },
            Ok(Err(e)) if no_common_protocol(&e) => Err(io::Error::new(
                e.kind(),
                format!("TLS with {peer}: it does not speak {} ({e})", version(Some(self.protocol.as_slice()))),
            )),
            Ok(Err(e)) => Err(io::Error::new(e.kind(), format!("TLS with {peer}: {e}"))),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("TLS with {peer}: no handshake within {HANDSHAKE_TIMEOUT:?}"),
            )),
        }
    }
}

/// Accepts TLS connections of one cluster from the identities `Admit` names.
#[derive(Clone)]
pub struct Acceptor {
    cluster: String,
    admit: Admit,
    /// Reloaded when its files change (`live`).
    acceptor: Arc<Live<TlsAcceptor>>,
    /// The protocol version a peer must speak (`PROTOCOL`); `None` on an HTTP listener, whose
    /// clients (curl, Prometheus, browsers) may offer `http/1.1` or nothing.
    protocol: Option<&'static [u8]>,
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Acceptor({})", self.cluster)
    }
}

/// Whether `cert` (whose chain is verified) is valid for `who` in `cluster`.
fn proves(cert: &ParsedCertificate<'_>, cluster: &str, who: &Identity) -> bool {
    ServerName::try_from(who.name(cluster)).is_ok_and(|name| verify_server_name(cert, &name).is_ok())
}

/// The first of `admitted` that `cert` proves.
fn identify(cert: &CertificateDer<'_>, cluster: &str, admitted: &[Identity]) -> Option<Identity> {
    let parsed = ParsedCertificate::try_from(cert).ok()?;
    admitted.iter().find(|who| proves(&parsed, cluster, who)).cloned()
}

/// The CA's check, then the admission check, in the handshake.
struct AdmitVerifier {
    cluster: String,
    admit: Admit,
    ca: Arc<dyn ClientCertVerifier>,
}

impl fmt::Debug for AdmitVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdmitVerifier({})", self.cluster)
    }
}

impl ClientCertVerifier for AdmitVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.ca.verify_client_cert(end_entity, intermediates, now)?;
        match identify(end_entity, &self.cluster, &(self.admit)()) {
            Some(_) => Ok(verified),
            None => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.ca.supported_verify_schemes()
    }
}

impl Acceptor {
    /// An acceptor for cluster `cluster` from `files`, admitting what `admit` returns.
    pub fn new(cluster: &str, files: &TlsFiles, admit: Admit) -> io::Result<Acceptor> {
        Acceptor::build(cluster, files, admit, Some(PROTOCOL))
    }

    /// An acceptor for an HTTPS listener of cluster `cluster` (the operator plane): the same
    /// certificate checks and admission, HTTP/1.1 instead of the node protocol.
    pub fn for_http(cluster: &str, files: &TlsFiles, admit: Admit) -> io::Result<Acceptor> {
        Acceptor::build(cluster, files, admit, None)
    }

    fn build(cluster: &str, files: &TlsFiles, admit: Admit, protocol: Option<&'static [u8]>) -> io::Result<Acceptor> {
        let (paths, files, name, admitted) = (files.paths(), files.clone(), cluster.to_string(), admit.clone());
        let load = move |reload: bool| {
            let material = files.load()?;
            if reload {
                material.check_chain(&files)?;
                // A listener's certificate is a node's: every one names "a node of the cluster".
                let leaf = ParsedCertificate::try_from(&material.chain[0]).map_err(|e| invalid(&files.cert, e))?;
                if !proves(&leaf, &name, &Identity::AnyNode) {
                    return Err(invalid(&files.cert, format!("names no node of cluster {name}")));
                }
            }
            let Material { roots, chain, key } = material;
            let ca = WebPkiClientVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|e| invalid(&files.ca, e))?;
            let verifier = Arc::new(AdmitVerifier { cluster: name.clone(), admit: admitted.clone(), ca });
            let mut config = ServerConfig::builder_with_provider(provider())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .map_err(|e| invalid(&files.cert, e))?
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .map_err(|e| invalid(&files.key, e))?;
            // A client offering other versions only gets a `no_application_protocol` alert.
            config.alpn_protocols = vec![protocol.unwrap_or(b"http/1.1").to_vec()];
            Ok(TlsAcceptor::from(Arc::new(config)))
        };
        let acceptor = Live::new(paths, load)?;
        Ok(Acceptor { cluster: cluster.to_string(), admit, acceptor, protocol })
    }

    /// Runs the handshake on `stream`; on success, who is on the other end.
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
    ) -> io::Result<(server::TlsStream<S>, Identity)> {
        let acceptor = self.acceptor.get().1;
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Err(e)) if no_common_protocol(&e) => {
                let why = format!("the peer does not speak {} ({e})", version(self.protocol));
                return Err(io::Error::new(io::ErrorKind::InvalidData, why));
            }
            Ok(result) => result?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no TLS handshake within {HANDSHAKE_TIMEOUT:?}"),
                ))
            }
        };
        // A client that offered no version at all is not refused by rustls; by us it is.
        if let Some(protocol) = self.protocol.filter(|p| stream.get_ref().1.alpn_protocol() != Some(*p)) {
            let spoken = version(stream.get_ref().1.alpn_protocol());
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the peer speaks {spoken}, this node {}", version(Some(protocol))),
            ));
        }
        let cert = stream.get_ref().1.peer_certificates().and_then(|chain| chain.first().cloned());
        // Checked in the handshake; looked up again only to say who it was.
        let who = cert.and_then(|cert| identify(&cert, &self.cluster, &(self.admit)()));
        match who {
            Some(who) => Ok((stream, who)),
            None => Err(io::Error::new(io::ErrorKind::PermissionDenied, "peer no longer admitted")),
        }
    }
}

/// A protocol name for a message: `outlast/2`, or "no protocol version".
fn version(protocol: Option<&[u8]>) -> String {
    match protocol {
        Some(name) => String::from_utf8_lossy(name).into_owned(),
        None => "no protocol version".into(),
    }
}

/// Whether a handshake failed because the two sides share no protocol version: the listener
/// found none it speaks, or the dialler was told so by an alert.
fn no_common_protocol(error: &io::Error) -> bool {
    matches!(
        error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        Some(
            rustls::Error::NoApplicationProtocol
                | rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)
        )
    )
}
