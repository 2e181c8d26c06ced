//! A backup's destination: an object store and a prefix inside it, named by one URL.
//!
//! `s3://BUCKET/PREFIX` (Amazon S3 and what speaks its protocol; credentials, region and
//! endpoint from the `AWS_*` environment variables), `gs://BUCKET/PREFIX` (Google Cloud
//! Storage; `GOOGLE_*`), `az://CONTAINER/PREFIX` (Azure Blob Storage; `AZURE_*`, including
//! `AZURE_STORAGE_USE_EMULATOR` for Azurite) and `file:///DIR` (a local directory, for tests and
//! for a mounted volume). Secrets stay in the environment, never in a URL or a log line.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

/// Where a backup lives.
#[derive(Clone, Debug)]
pub struct Destination {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// The URL it was opened from.
    pub url: String,
}

impl Destination {
    /// Opens the destination `url` names.
    pub fn open(url: &str) -> Result<Destination, String> {
        // rustls on ring for the providers' HTTPS, as everywhere else in the tree (a second
        // call finds it installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (scheme, rest) =
            url.split_once("://").ok_or_else(|| format!("{url}: not a URL (s3://, gs://, az:// or file://)"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let fail = |e: object_store::Error| format!("{url}: {e}");
        let store: Arc<dyn ObjectStore> = match scheme {
            "s3" => {
                Arc::new(object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket).build().map_err(fail)?)
            }
            "gs" => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(fail)?,
            ),
            "az" => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_container_name(bucket)
                    .build()
                    .map_err(fail)?,
            ),
            "file" => {
                let dir = format!("/{prefix}");
                std::fs::create_dir_all(&dir).map_err(|e| format!("{dir}: {e}"))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(fail)?;
                return Ok(Destination { store: Arc::new(store), prefix: Path::default(), url: url.to_string() });
            }
            other => return Err(format!("{url}: unknown scheme {other:?} (s3, gs, az or file)")),
        };
        if bucket.is_empty() {
            return Err(format!("{url}: no bucket or container"));
        }
        Ok(Destination { store, prefix: Path::from(prefix), url: url.to_string() })
    }

    fn key(&self, name: &str) -> Path {
        name.split('/').fold(self.prefix.clone(), |path, part| path.join(part))
    }

    /// Writes object `name`; returns the SHA-256 of its bytes (hex).
    pub async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<String, String> {
        let sha = sha256_hex(&bytes);
        self.store
            .put(&self.key(name), PutPayload::from(Bytes::from(bytes)))
            .await
            .map_err(|e| format!("{}: writing {name}: {e}", self.url))?;
        Ok(sha)
    }

    /// Reads object `name`, or `None` if there is none.
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        match self.store.get(&self.key(name)).await {
            Ok(result) => {
                let bytes = result.bytes().await.map_err(|e| format!("{}: reading {name}: {e}", self.url))?;
                Ok(Some(bytes.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(format!("{}: reading {name}: {e}", self.url)),
        }
    }

    /// Deletes object `name` (absent is fine).
    pub async fn delete(&self, name: &str) -> Result<(), String> {
        match self.store.delete(&self.key(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(format!("{}: deleting {name}: {e}", self.url)),
        }
    }
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
