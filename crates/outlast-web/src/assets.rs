//! The embedded assets: each file's bytes, its content-hashed URL and its integrity hash.
//!
//! The URL holds the first 16 hex digits of the file's SHA-256, so a changed file gets a new
//! URL and an unchanged one stays cached; the integrity value is the whole SHA-256 in base64,
//! as Subresource Integrity wants it.
//!
//! Must never: serve an asset under a URL whose hash is not of its bytes.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// The file's own name, as the pages' templates refer to it (`trade.js`).
    pub name: &'static str,
    /// The file name it is served under (`trade.0123456789abcdef.js`).
    pub hashed_name: String,
    /// Its bytes.
    pub bytes: &'static [u8],
    /// Its media type.
    pub content_type: &'static str,
    /// `sha256-…`, for the `integrity` attribute.
    pub integrity: String,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The embedded files: (name, bytes, media type).
const FILES: [(&str, &[u8], &str); 5] = [
    ("outlast.css", include_bytes!("../assets/outlast.css"), CSS),
    ("origins.js", include_bytes!("../assets/origins.js"), JS),
    ("ui.js", include_bytes!("../assets/ui.js"), JS),
    ("trade.js", include_bytes!("../assets/trade.js"), JS),
    ("status.js", include_bytes!("../assets/status.js"), JS),
];

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(name, bytes, content_type)| {
            let digest = Sha256::digest(bytes);
            let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            let (stem, extension) = name.rsplit_once('.').expect("asset names have an extension");
            Asset {
                name,
                hashed_name: format!("{stem}.{hex}.{extension}"),
                bytes,
                content_type,
                integrity: format!("sha256-{}", crate::base64::encode(&digest)),
            }
        })
        .collect()
});

/// Every embedded asset.
pub fn all() -> &'static [Asset] {
    &ASSETS
}

/// The asset named `name` in a template.
pub fn named(name: &str) -> Option<&'static Asset> {
    all().iter().find(|a| a.name == name)
}

/// The asset served as `hashed_name`.
pub fn served_as(hashed_name: &str) -> Option<&'static Asset> {
    all().iter().find(|a| a.hashed_name == hashed_name)
}

/// The HTML tag that loads `asset` with its integrity hash.
pub fn tag(asset: &Asset) -> String {
    let url = format!("/assets/{}", asset.hashed_name);
    if asset.content_type == CSS {
        format!(r#"<link rel="stylesheet" href="{url}" integrity="{}">"#, asset.integrity)
    } else {
        format!(r#"<script src="{url}" integrity="{}" defer></script>"#, asset.integrity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_named_by_its_hash_and_carries_its_integrity() {
        for asset in all() {
            let digest = Sha256::digest(asset.bytes);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            assert!(asset.hashed_name.contains(&hex[..16]), "{}", asset.hashed_name);
            assert_eq!(asset.integrity, format!("sha256-{}", crate::base64::encode(&digest)));
            assert!(served_as(&asset.hashed_name).is_some_and(|a| a.name == asset.name));
            assert!(served_as(asset.name).is_none(), "an asset is never served under its bare name");
        }
    }
}
