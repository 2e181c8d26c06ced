//! The web front-end every node serves: the trading page (`/`), the status page (`/status`),
//! their scripts and styles (`/assets/…`), and the latest chaos reports (`/reports/…`).
//!
//! Every asset is compiled into the binary, so a node alone serves the whole front-end (no
//! separate web server, no npm step). An asset's URL carries a hash of its bytes and never
//! changes meaning, so it is cached for a year; the pages are revalidated on every load and
//! name each asset with its Subresource Integrity hash, so a browser refuses a script that is
//! not the one this binary was built with. A page carries the list of every node's public
//! origin, which its scripts fail over between when the origin they talk to dies; a service
//! worker (`/sw.js`) keeps the pages and assets, so a page reopens even from a dead node.
//!
//! Must never: hold a user's API secret (signing happens in the browser), serve a file outside
//! the reports directory, or depend on anything of the cluster beyond the origins it is given.

#![deny(missing_docs)]

pub mod assets;
pub mod base64;
mod pages;
mod reports;

use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use serde::Serialize;

/// One node's public endpoint, as the pages show it and fail over between.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The node's id.
    pub id: u64,
    /// Scheme, host and port, e.g. `http://127.0.0.1:8001`.
    pub url: String,
    /// Its cloud provider.
    pub provider: String,
    /// Its region.
    pub region: String,
    /// Its zone.
    pub zone: String,
}

/// What a node's web front-end needs from the node.
#[derive(Clone)]
pub struct Site {
    /// Every node's public origin, this one's included (read on each page load, so a page
    /// served after a membership change names the new nodes).
    pub origins: Arc<dyn Fn() -> Vec<Origin> + Send + Sync>,
    /// Where chaos runs leave their reports (one directory per run), if anywhere.
    pub reports_dir: Option<PathBuf>,
}

/// The request's `Origin` header if it names one of `origins`: the only sites that get CORS
/// access (a page served by one node calls the others when it fails over).
pub fn allowed_origin(origins: &[Origin], headers: &axum::http::HeaderMap) -> Option<axum::http::HeaderValue> {
    let origin = headers.get(axum::http::header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    origins.iter().any(|o| o.url == text).then(|| origin.clone())
}

/// The front-end's routes; merge them into the node's API router.
pub fn router<S: Clone + Send + Sync + 'static>(site: Site) -> Router<S> {
    let site = Arc::new(site);
    Router::new()
        .route("/", get(pages::trade))
        .route("/trade", get(pages::trade))
        .route("/status", get(pages::status))
        .route("/assets/{file}", get(pages::asset))
        .route("/sw.js", get(pages::service_worker))
        .route("/reports/index.json", get(reports::index))
        .route("/reports/{run}/{file}", get(reports::file))
        .with_state(site)
}

/// A 404 in the API's error shape (`{"code":-1000,"msg":"Unknown path."}`, as the API's own
/// unknown paths answer): a Binance client that wanders onto these paths gets an error it parses.
pub(crate) fn not_found() -> axum::response::Response {
    use axum::response::IntoResponse;
    let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
    (axum::http::StatusCode::NOT_FOUND, json, r#"{"code":-1000,"msg":"Unknown path."}"#).into_response()
}
