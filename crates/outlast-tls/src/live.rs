//! Certificates and keys that change without a restart.
//!
//! Every `Connector`, `Acceptor` and `PublicAcceptor` reads its material through a `Live`
//! cell: the parsed files and a generation number. `reload_all` (a node calls it on SIGHUP)
//! and `reload_changed` (a node calls it every `WATCH_PERIOD`: files whose modification time or
//! size changed) read the files again; a handshake after that uses the new material, while
//! connections already open keep theirs (TLS does not re-authenticate a live connection, and
//! cutting them would cost the cluster its heartbeats mid-rotation).
//!
//! Must never: replace working material by files that do not load (a half-written key, a
//! certificate that does not match its key) or, for a node's or operator's material, by a
//! certificate that does not chain to the cluster's CA, is not valid now, or (on a listener)
//! names no node of the cluster: the old material stays and the error is reported.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

/// How often a node looks for changed certificate and key files.
pub const WATCH_PERIOD: Duration = Duration::from_secs(5);

/// What a file looked like when it was loaded: its modification time and size.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &PathBuf) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Material of type `M` loaded from `paths` by `load`, reloadable.
pub(crate) struct Live<M> {
    paths: Vec<PathBuf>,
    /// Loads the material; its argument says whether it replaces material in use (a reload,
    /// checked harder: see the module doc).
    load: Box<dyn Fn(bool) -> io::Result<M> + Send + Sync>,
    current: RwLock<(u64, Arc<M>)>,
    stamps: Mutex<Vec<Stamp>>,
    /// When the certificates of the material in use expire, per file (read when it was loaded).
    expiries: Mutex<Vec<(PathBuf, i64)>>,
}

/// What the registry can ask of any `Live`.
trait Reload: Send + Sync {
    fn expiries(&self) -> Vec<(PathBuf, i64)>;
    fn reload(&self) -> io::Result<()>;
    fn changed_on_disk(&self) -> bool;
    fn describe(&self) -> String;
}

/// Every `Live` in the process, for `reload_all` and `reload_changed`.
static REGISTRY: Mutex<Vec<Weak<dyn Reload>>> = Mutex::new(Vec::new());

impl<M: Send + Sync + 'static> Live<M> {
    /// Loads `paths` with `load` now (an error is the caller's) and registers the result.
    pub(crate) fn new(
        paths: Vec<PathBuf>,
        load: impl Fn(bool) -> io::Result<M> + Send + Sync + 'static,
    ) -> io::Result<Arc<Live<M>>> {
        let stamps = paths.iter().map(stamp).collect();
        let material = load(false)?;
        let expiries = Mutex::new(expiries_of(&paths));
        let live = Arc::new(Live {
            paths,
            load: Box::new(load),
            current: RwLock::new((0, Arc::new(material))),
            stamps: Mutex::new(stamps),
            expiries,
        });
        let weak: Weak<dyn Reload> = Arc::downgrade(&(live.clone() as Arc<dyn Reload>));
        let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        registry.retain(|entry| entry.strong_count() > 0);
        registry.push(weak);
        Ok(live)
    }

    /// The current material and its generation (which changes with every reload).
    pub(crate) fn get(&self) -> (u64, Arc<M>) {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        (current.0, current.1.clone())
    }
}

impl<M: Send + Sync + 'static> Reload for Live<M> {
    fn expiries(&self) -> Vec<(PathBuf, i64)> {
        self.expiries.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn reload(&self) -> io::Result<()> {
        let stamps: Vec<Stamp> = self.paths.iter().map(stamp).collect();
        let material = (self.load)(true)?;
        *self.expiries.lock().unwrap_or_else(|p| p.into_inner()) = expiries_of(&self.paths);
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        *current = (current.0 + 1, Arc::new(material));
        *self.stamps.lock().unwrap_or_else(|p| p.into_inner()) = stamps;
        Ok(())
    }

    fn changed_on_disk(&self) -> bool {
        let now: Vec<Stamp> = self.paths.iter().map(stamp).collect();
        *self.stamps.lock().unwrap_or_else(|p| p.into_inner()) != now
    }

    fn describe(&self) -> String {
        let names: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        names.join(", ")
    }
}

/// What one reload did: the files, and the error if they did not load (the old material stays).
#[derive(Debug)]
pub struct Reloaded {
    /// The files, comma-separated.
    pub files: String,
    /// Why they were not taken, if they were not.
    pub error: Option<String>,
}

fn registered() -> Vec<Arc<dyn Reload>> {
    let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    registry.retain(|entry| entry.strong_count() > 0);
    registry.iter().filter_map(Weak::upgrade).collect()
}

fn reload_where(pick: impl Fn(&dyn Reload) -> bool) -> Vec<Reloaded> {
    registered()
        .iter()
        .filter(|live| pick(live.as_ref()))
        .map(|live| Reloaded { files: live.describe(), error: live.reload().err().map(|e| e.to_string()) })
        .collect()
}

/// Reads every certificate and key file of this process again (SIGHUP).
pub fn reload_all() -> Vec<Reloaded> {
    reload_where(|_| true)
}

/// Reads again the files that changed on disk since they were last loaded.
pub fn reload_changed() -> Vec<Reloaded> {
    reload_where(|live| live.changed_on_disk())
}

/// When the certificates in use expire: each certificate file of the material this process
/// uses now, with the earliest `notAfter` of the certificates in it, in seconds since the Unix
/// epoch, as read when that material was loaded (so a rotated file that was refused does not
/// hide the date of the certificate still in use).
pub fn certificate_expiries() -> Vec<(PathBuf, i64)> {
    let mut all: Vec<(PathBuf, i64)> = registered().iter().flat_map(|live| live.expiries()).collect();
    all.sort();
    all.dedup_by(|later, earlier| later.0 == earlier.0);
    all
}

/// Each of `paths` that holds certificates, with their earliest `notAfter` (a certificate
/// that does not parse counts as expired). Files with no certificate (keys) are left out.
fn expiries_of(paths: &[PathBuf]) -> Vec<(PathBuf, i64)> {
    use rustls::pki_types::pem::PemObject;
    paths
        .iter()
        .filter_map(|path| {
            let certs: Vec<_> =
                rustls::pki_types::CertificateDer::pem_file_iter(path).ok()?.filter_map(Result::ok).collect();
            let earliest = certs.iter().map(|cert| not_after(cert).unwrap_or(0)).min()?;
            Some((path.clone(), earliest))
        })
        .collect()
}

/// A certificate's `notAfter`, in seconds since the Unix epoch (DER, read with yasna, the
/// parser rcgen already brings).
fn not_after(der: &[u8]) -> Option<i64> {
    use yasna::{BERReader, Tag};
    fn time(reader: BERReader<'_, '_>) -> yasna::ASN1Result<i64> {
        if reader.lookahead_tag()? == yasna::tags::TAG_UTCTIME {
            Ok(reader.read_utctime()?.datetime().unix_timestamp())
        } else {
            Ok(reader.read_generalized_time()?.datetime().unix_timestamp())
        }
    }
    let parsed = yasna::parse_der(der, |certificate| {
        certificate.read_sequence(|certificate| {
            let expiry = certificate.next().read_sequence(|tbs| {
                tbs.read_optional(|version| version.read_tagged(Tag::context(0), |v| v.read_der()))?;
                for _serial_signature_issuer in 0..3 {
                    tbs.next().read_der()?;
                }
                let expiry = tbs.next().read_sequence(|validity| {
                    time(validity.next())?;
                    time(validity.next())
                })?;
                // Subject, key, and the optional identifiers and extensions.
                while tbs.read_optional(|rest| rest.read_der())?.is_some() {}
                Ok(expiry)
            })?;
            certificate.next().read_der()?;
            certificate.next().read_der()?;
            Ok(expiry)
        })
    });
    parsed.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Authority, Identity};

    #[test]
    fn an_issued_certificates_expiry_is_read_from_its_der() {
        use rustls::pki_types::pem::PemObject;
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
        let (ca, ca_pem) = Authority::generate("lab").unwrap();
        let day = 86_400;
        for (pem, days) in [
            (ca_pem, crate::authority::CA_VALIDITY_DAYS),
            (ca.issue(&Identity::Node(1)).unwrap().cert_pem, crate::authority::CERT_VALIDITY_DAYS),
        ] {
            let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
            let expiry = not_after(&der).expect("parses");
            assert!((expiry - (now + days * day)).abs() < 600, "{expiry} vs {}", now + days * day);
        }
        assert_eq!(not_after(b"\x30\x03\x02\x01\x01"), None);
    }
}
