//! The web console: the single-page app built into `web/dist`, served at `/` and at every
//! client route.
//!
//! Release builds carry the assets inside the binary (no Node at run time); debug builds read
//! them from `web/dist` as they are, so rebuilding the console needs no Rust rebuild. Vite
//! names every bundled file by its content hash under `assets/`, so those are cached for a
//! year; `index.html` is revalidated on every load, so a new release is picked up at once.
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::error::ApiError;

#[derive(RustEmbed)]
#[folder = "$STEWARD_WEB_DIR"]
struct Assets;

/// Paths that belong to the server, never to the app: an unknown one there is a JSON 404.
const SERVER_PREFIXES: &[&str] = &["/api/", "/integrations/", "/docs", "/metrics", "/healthz"];

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";
/// The app loads only its own scripts; Naive UI injects its styles at run time, hence
/// `'unsafe-inline'` for styles (never for scripts).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                   object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

/// `GET /`: the app.
pub async fn index(headers: HeaderMap) -> Response {
    asset("index.html", &headers).unwrap_or_else(|| ApiError::not_found("the web console is missing").into_response())
}

/// Every request no route matched: a file of the app, the app itself for a client route, or
/// a JSON 404 for what is neither.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if !(method == Method::GET || method == Method::HEAD) || SERVER_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return ApiError::not_found("no such route").into_response();
    }
    let file = path.trim_start_matches('/');
    if let Some(r) = asset(file, &headers) {
        return r;
    }
    // A missing file (a stale chunk name, a typo) is a 404, not the app: a browser that asked
    // for a script must not be handed HTML. Client routes have no extension.
    let last = file.rsplit('/').next().unwrap_or("");
    if last.contains('.') {
        return ApiError::not_found(format!("no such file: /{file}")).into_response();
    }
    index(headers).await
}

/// The file `name` of the app with its content type, cache policy and ETag; the gzip twin that
/// the build writes beside it when the client accepts gzip. None when there is no such file.
fn asset(name: &str, headers: &HeaderMap) -> Option<Response> {
    if name.is_empty() || name.ends_with(".gz") {
        return None;
    }
    let file = Assets::get(name)?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let cache = if name.starts_with("assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let mime = file.metadata.mimetype().to_owned();
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, with_charset(&mime))
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, &etag)
        .header(header::VARY, "accept-encoding")
        .header("x-content-type-options", "nosniff");
    if mime == "text/html" {
        builder = builder
            .header("content-security-policy", CSP)
            .header("referrer-policy", "no-referrer")
            .header("x-frame-options", "DENY");
    }
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return builder.status(StatusCode::NOT_MODIFIED).body(Body::empty()).ok();
    }
    let gzip = accepts_gzip(headers)
        .then(|| Assets::get(&format!("{name}.gz")))
        .flatten();
    let body = match gzip {
        Some(gz) => {
            builder = builder.header(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            gz.data
        }
        None => file.data,
    };
    builder.status(StatusCode::OK).body(Body::from(body.into_owned())).ok()
}

fn with_charset(mime: &str) -> String {
    if mime.starts_with("text/") || mime == "application/javascript" || mime == "application/json" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|enc| {
                let mut parts = enc.split(';');
                let name = parts.next().unwrap_or("").trim();
                // `gzip;q=0` is a refusal.
                let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                (name == "gzip" || name == "*") && !refused
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(enc: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(enc).unwrap());
        h
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts_gzip(&with("gzip, deflate, br")));
        assert!(accepts_gzip(&with("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(&with("*")));
        assert!(!accepts_gzip(&with("gzip;q=0")));
        assert!(!accepts_gzip(&with("br, deflate")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn text_types_name_their_charset() {
        assert_eq!(with_charset("text/html"), "text/html; charset=utf-8");
        assert_eq!(
            with_charset("application/javascript"),
            "application/javascript; charset=utf-8"
        );
        assert_eq!(with_charset("image/png"), "image/png");
    }
}
