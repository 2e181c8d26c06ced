//! The two pages and the asset route, with the headers each needs.
//!
//! A page is rendered per request from its template: every `{{asset NAME}}` becomes the tag
//! that loads that asset by its hashed URL with its integrity hash, and `{{origins}}` becomes
//! the JSON list of every node's public origin. Pages are `no-cache` (revalidated on each
//! load, so a new build's asset names are picked up); assets are immutable for a year.
//!
//! The Content-Security-Policy allows scripts and styles from this origin only, and network
//! connections to the cluster's origins only (HTTP and WebSocket): the page has no reason to
//! talk to anything else, and an injected script could not send a pasted secret elsewhere.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::{assets, Origin, Site};

const TRADE: &str = include_str!("../assets/trade.html");
const STATUS: &str = include_str!("../assets/status.html");
const SERVICE_WORKER: &str = include_str!("../assets/sw.js");

/// A year, the longest `max-age` caches honour: hashed assets never change.
const ASSET_MAX_AGE_S: u64 = 365 * 24 * 3600;

pub async fn trade(State(site): State<Arc<Site>>) -> Response {
    page(TRADE, &(site.origins)())
}

pub async fn status(State(site): State<Arc<Site>>) -> Response {
    page(STATUS, &(site.origins)())
}

pub async fn asset(Path(file): Path<String>) -> Response {
    let Some(asset) = assets::served_as(&file) else {
        return crate::not_found();
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={ASSET_MAX_AGE_S}, immutable")) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Scripts load with an integrity check; a cross-origin load of them needs CORS.
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// The service worker, at the root so its scope is the whole origin; revalidated on every
/// check, as browsers expect of a worker script.
pub async fn service_worker() -> Response {
    let mut response = SERVICE_WORKER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `template` with its placeholders filled, and a page's headers.
fn page(template: &str, origins: &[Origin]) -> Response {
    let html = render(template, origins);
    let mut response = html.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(value) = HeaderValue::from_str(&content_security_policy(origins)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// Fills `{{asset NAME}}` and `{{origins}}`. An unknown asset name is a build mistake: the
/// tests render every page.
pub fn render(template: &str, origins: &[Origin]) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else { break };
        let placeholder = rest[start + 2..start + end].trim();
        if placeholder == "origins" {
            out.push_str(&origins_json(origins));
        } else if let Some(asset) = placeholder.strip_prefix("asset ").and_then(assets::named) {
            out.push_str(&assets::tag(asset));
        } else {
            panic!("unknown placeholder {{{{{placeholder}}}}} in a page template");
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// The origins as JSON that is safe inside `<script type="application/json">`: no `<`, `>`
/// or `&` can end the element or start markup.
fn origins_json(origins: &[Origin]) -> String {
    let json = serde_json::to_string(origins).unwrap_or_else(|_| "[]".into());
    json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

fn content_security_policy(origins: &[Origin]) -> String {
    let mut connect = vec!["'self'".to_string()];
    for origin in origins {
        if !origin.url.chars().all(|c| c.is_ascii_alphanumeric() || ":/.-[]".contains(c)) {
            continue;
        }
        connect.push(origin.url.clone());
        if let Some(rest) = origin.url.strip_prefix("http://") {
            connect.push(format!("ws://{rest}"));
        } else if let Some(rest) = origin.url.strip_prefix("https://") {
            connect.push(format!("wss://{rest}"));
        }
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        connect.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> Vec<Origin> {
        vec![Origin {
            id: 1,
            url: "http://127.0.0.1:8001".into(),
            provider: "aws</script>".into(),
            region: "us-east".into(),
            zone: "a".into(),
        }]
    }

    #[test]
    fn pages_name_every_asset_by_hash_with_integrity() {
        for template in [TRADE, STATUS] {
            let html = render(template, &origins());
            assert!(!html.contains("{{"), "every placeholder filled");
            assert!(!html.contains("</script>\""), "origins cannot close the script element");
            let mut tags = 0;
            for asset in assets::all() {
                if html.contains(&format!("/assets/{}", asset.hashed_name)) {
                    tags += 1;
                    assert!(html.contains(&format!("integrity=\"{}\"", asset.integrity)));
                }
            }
            assert!(tags >= 3, "a page loads its style and scripts");
        }
    }

    #[test]
    fn the_policy_lets_pages_reach_the_cluster_and_nothing_else() {
        let policy = content_security_policy(&origins());
        assert!(policy.contains("connect-src 'self' http://127.0.0.1:8001 ws://127.0.0.1:8001;"));
        assert!(policy.contains("script-src 'self';"));
        let odd = Origin { url: "http://x; script-src *".into(), ..origins()[0].clone() };
        assert!(!content_security_policy(&[odd]).contains("script-src *"), "an odd origin cannot widen the policy");
    }
}
