//! The cluster's certificate authority and the certificates it issues, with rcgen.
//!
//! A CA is a key pair and a self-signed certificate whose subject names the cluster. Issuing
//! needs only the key: the issuer's name and key identifier are rebuilt from the cluster id and
//! the key, so signing works from `ca.key` without parsing `ca.pem` (which would take an X.509
//! parser). Node and operator certificates get a fresh P-256 key each, both TLS usages (a node
//! both dials and is dialled), and a bounded validity.
//!
//! Files (`PkiFiles`): `ca.pem`, `ca.key`, `node-<id>.pem`/`.key`, `operator-<name>.pem`/`.key`
//! in one directory; private keys are written readable by their owner only.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::names::{valid_cluster_id, Identity};

/// How long an issued node or operator certificate is valid, in days: a year, renewed by
/// reissuing (nodes reload on change).
pub const CERT_VALIDITY_DAYS: i64 = 365;
/// How long a CA is valid, in days.
pub const CA_VALIDITY_DAYS: i64 = 3650;
/// How far back a certificate's validity starts, for clocks a little behind the issuer's.
const BACKDATE_HOURS: i64 = 1;

/// A certificate and its private key, PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

/// A cluster's certificate authority: its key, able to issue.
pub struct Authority {
    cluster: String,
    key: KeyPair,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

fn ca_params(cluster: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Outlast");
    name.push(DnType::CommonName, format!("Outlast cluster {cluster} CA"));
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(BACKDATE_HOURS);
    params.not_after = now + Duration::days(days);
}

impl Authority {
    /// A new CA for cluster `cluster`, and its certificate (PEM).
    pub fn generate(cluster: &str) -> Result<(Authority, String), String> {
        if !valid_cluster_id(cluster) {
            return Err(format!("cluster id {cluster:?}: use 1 to 40 of a-z, 0-9 and '-'"));
        }
        let key = KeyPair::generate().map_err(|e| err("CA key", e))?;
        let mut params = ca_params(cluster);
        validity(&mut params, CA_VALIDITY_DAYS);
        let cert = params.self_signed(&key).map_err(|e| err("CA certificate", e))?;
        Ok((Authority { cluster: cluster.to_string(), key }, cert.pem()))
    }

    /// The CA of cluster `cluster` whose private key is `key_pem`.
    pub fn from_key_pem(cluster: &str, key_pem: &str) -> Result<Authority, String> {
        if !valid_cluster_id(cluster) {
            return Err(format!("cluster id {cluster:?}: use 1 to 40 of a-z, 0-9 and '-'"));
        }
        let key = KeyPair::from_pem(key_pem).map_err(|e| err("CA key", e))?;
        Ok(Authority { cluster: cluster.to_string(), key })
    }

    /// The CA's private key, PEM.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The cluster this CA is for.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// A certificate for `who`, with a fresh key, valid for `CERT_VALIDITY_DAYS`.
    pub fn issue(&self, who: &Identity) -> Result<Issued, String> {
        if let Identity::Operator(name) = who {
            if !valid_cluster_id(name) {
                return Err(format!("operator name {name:?}: use 1 to 40 of a-z, 0-9 and '-'"));
            }
        }
        let name = who.name(&self.cluster);
        let key = KeyPair::generate().map_err(|e| err("key", e))?;
        let names = match who {
            Identity::Node(_) => vec![name.clone(), Identity::AnyNode.name(&self.cluster)],
            Identity::Operator(_) => vec![name.clone()],
            Identity::AnyNode => return Err("a certificate is for one node or operator".into()),
        };
        let mut params = CertificateParams::new(names).map_err(|e| err("certificate", e))?;
        let mut subject = DistinguishedName::new();
        subject.push(DnType::OrganizationName, "Outlast");
        subject.push(DnType::CommonName, name);
        params.distinguished_name = subject;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, CERT_VALIDITY_DAYS);
        let issuer = Issuer::new(ca_params(&self.cluster), &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(|e| err("certificate", e))?;
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }

    /// Issues a server certificate for users' HTTPS (`PublicAcceptor`) valid for the DNS names
    /// (or IP addresses) `names`: for a lab whose clients trust this CA. It proves nothing on the
    /// nodes' own ports (it names no node or operator), and in production a public CA's
    /// certificate takes its place.
    pub fn issue_server(&self, names: &[String]) -> Result<Issued, String> {
        if names.is_empty() {
            return Err("a server certificate needs at least one name".into());
        }
        let key = KeyPair::generate().map_err(|e| err("key", e))?;
        let mut params = CertificateParams::new(names.to_vec()).map_err(|e| err("certificate", e))?;
        let mut subject = DistinguishedName::new();
        subject.push(DnType::OrganizationName, "Outlast");
        subject.push(DnType::CommonName, names[0].clone());
        params.distinguished_name = subject;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, CERT_VALIDITY_DAYS);
        let issuer = Issuer::new(ca_params(&self.cluster), &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(|e| err("certificate", e))?;
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

/// Where a cluster's certificate files are, in one directory.
#[derive(Clone, Debug)]
pub struct PkiFiles {
    /// The directory.
    pub dir: PathBuf,
}

impl PkiFiles {
    /// The files in `dir`.
    pub fn in_dir(dir: &Path) -> PkiFiles {
        PkiFiles { dir: dir.to_path_buf() }
    }

    /// The CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The CA key: the operator's, never a node's.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// `who`'s certificate.
    pub fn cert(&self, who: &Identity) -> PathBuf {
        self.dir.join(format!("{}.pem", stem(who)))
    }

    /// `who`'s private key.
    pub fn key(&self, who: &Identity) -> PathBuf {
        self.dir.join(format!("{}.key", stem(who)))
    }

    /// Writes `issued` as `who`'s certificate and key.
    pub fn write(&self, who: &Identity, issued: &Issued) -> Result<(), String> {
        write_file(&self.cert(who), &issued.cert_pem, false)?;
        write_file(&self.key(who), &issued.key_pem, true)
    }
}

fn stem(who: &Identity) -> String {
    match who {
        Identity::Node(id) => format!("node-{id}"),
        Identity::AnyNode => "node".to_string(),
        Identity::Operator(name) => format!("operator-{name}"),
    }
}

/// Writes `text` to `path` (created or replaced), readable by its owner only if `secret`.
pub(crate) fn write_file(path: &Path, text: &str, secret: bool) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| err(&path.display().to_string(), e))?;
    file.write_all(text.as_bytes()).map_err(|e| err(&path.display().to_string(), e))?;
    file.sync_all().map_err(|e| err(&path.display().to_string(), e))
}

/// A whole cluster's certificates in `dir`: a new CA for `cluster`, and a certificate for each
/// of `identities`. For `outlast up` and tests; production clusters issue one at a time
/// (`outlast cert`).
pub fn write_cluster_pki(dir: &Path, cluster: &str, identities: &[Identity]) -> Result<PkiFiles, String> {
    std::fs::create_dir_all(dir).map_err(|e| err(&dir.display().to_string(), e))?;
    let files = PkiFiles::in_dir(dir);
    let (ca, ca_pem) = Authority::generate(cluster)?;
    write_file(&files.ca_cert(), &ca_pem, false)?;
    write_file(&files.ca_key(), &ca.key_pem(), true)?;
    for who in identities {
        files.write(who, &ca.issue(who)?)?;
    }
    Ok(files)
}
