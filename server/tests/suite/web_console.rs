//! The web console is served by the `steward` binary itself: the app at `/` and at every
//! client route, its hashed assets cached for a year and sent gzip-compressed, and anything
//! that is neither a JSON 404.

use std::io::Read;

use crate::common::*;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH};

fn header(r: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The app's entry script, named in its index.html (`/assets/index-<hash>.js`).
fn entry_script(index: &str) -> String {
    let at = index
        .find("/assets/")
        .unwrap_or_else(|| panic!("index.html names no /assets/ file; is web/dist built (make web)?\n{index}"));
    let rest = &index[at..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn the_console_is_served_at_every_client_route_with_cache_headers_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path(), &repo_stacks(), "127.0.0.1:0", "127.0.0.1:0", &[]);
    let c = reqwest::Client::new();

    let root = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(header(&root, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&root, CACHE_CONTROL), "no-cache");
    assert!(header(&root, "content-security-policy").contains("script-src 'self'"));
    let index = root.text().await.unwrap();
    assert!(
        index.contains("id=\"app\""),
        "/ is not the built console (run `make web` before the tests):\n{index}"
    );

    // Client routes (deep links, reloads) get the same page; the app routes itself.
    for route in ["/jobs/42", "/chat", "/hosts/1", "/login"] {
        let r = c.get(s.url(route)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{route}");
        assert_eq!(r.text().await.unwrap(), index, "{route}");
    }

    // A hashed asset: its type, a year of caching, gzip when asked for, and the same bytes.
    let script = entry_script(&index);
    let plain = c
        .get(s.url(&script))
        .header(ACCEPT_ENCODING, "identity")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, CONTENT_TYPE), "text/javascript; charset=utf-8");
    assert_eq!(header(&plain, CACHE_CONTROL), "public, max-age=31536000, immutable");
    assert_eq!(header(&plain, CONTENT_ENCODING), "");
    let etag = header(&plain, ETAG);
    let plain = plain.bytes().await.unwrap();
    let gz = c
        .get(s.url(&script))
        .header(ACCEPT_ENCODING, "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&gz, CONTENT_ENCODING), "gzip");
    let gz = gz.bytes().await.unwrap();
    assert!(gz.len() < plain.len() / 2, "gzip {} vs plain {}", gz.len(), plain.len());
    let mut unzipped = vec![];
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
    let again = c.get(s.url(&script)).header(IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    // Neither a file nor a client route: JSON 404s, never the app.
    for path in [
        "/assets/index-00000000.js",
        "/favicon-missing.png",
        "/api/v1/nothing",
        "/assets/x.js.gz",
    ] {
        let r = c.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(header(&r, CONTENT_TYPE).starts_with("application/json"), "{path}");
    }
    let r = c.post(s.url("/jobs")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

/// An open console tab holds `/api/v1/events` open for ever; a server asked to stop must not
/// wait for it (a restart would hang while anyone has the console open).
#[tokio::test]
async fn a_server_with_an_open_event_stream_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = start_server(dir.path(), &repo_stacks(), "127.0.0.1:0", "127.0.0.1:0", &[]);
    let stream = reqwest::Client::new()
        .get(s.url("/api/v1/events"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    let pid = s.proc.child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while s.proc.alive() {
        assert!(
            std::time::Instant::now() < deadline,
            "steward serve is still running 15 s after SIGTERM with an event stream open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(stream);
}
