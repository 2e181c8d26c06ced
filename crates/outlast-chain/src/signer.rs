//! Who signs the hot wallet's transactions: the seam between the payer and the key. Today a
//! key file on the node; a KMS or an HSM is another implementation of `HotWallet`.
//!
//! Must never: hand the key out (only signatures leave), or load a key file others can read.

use std::path::Path;

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;

use crate::tx::{key_from_hex, sign, SignedTx, Unsigned};

/// Signs transactions for one address.
pub trait HotWallet: Send + Sync {
    /// The address it signs for.
    fn address(&self) -> Address;
    /// Signs `unsigned` (deterministically: the same fields give the same bytes).
    fn sign(&self, unsigned: &Unsigned) -> Result<SignedTx, String>;
}

/// A private key read from a file (hex).
pub struct KeyFile {
    key: PrivateKeySigner,
}

impl KeyFile {
    /// Reads the key; refused if the file is readable by its group or by others.
    pub fn load(path: &Path) -> Result<KeyFile, String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{}: the hot wallet's key is readable by others (mode {:o}): chmod 600",
                    path.display(),
                    mode & 0o777
                ));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(KeyFile { key: key_from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))? })
    }

    /// From a key already in memory (tests).
    pub fn from_key(key: PrivateKeySigner) -> KeyFile {
        KeyFile { key }
    }
}

impl HotWallet for KeyFile {
    fn address(&self) -> Address {
        self.key.address()
    }

    fn sign(&self, unsigned: &Unsigned) -> Result<SignedTx, String> {
        sign(&self.key, unsigned)
    }
}
