//! Rebuilds when the stacks or the web console change: the binary carries a copy of both.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=../stacks");
    println!("cargo:rerun-if-changed=../web/dist");
    println!("cargo:rustc-env=STEWARD_WEB_DIR={}", web_dir().display());
}

/// The console's built assets (`web/dist`), or a one-page stand-in when they are not built, so
/// `cargo build` works without Node and the page says what to run instead of failing.
///
/// The built assets are named relative to this crate (rust-embed resolves it from the manifest
/// dir): two checkouts sharing a target dir share this script's output, and an absolute path
/// would send the second to the first's copy, which may be gone.
fn web_dir() -> PathBuf {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dist = Path::new("../web/dist");
    if manifest.join(dist).join("index.html").is_file() {
        return dist.to_owned();
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("web-missing");
    std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
    std::fs::write(
        out.join("index.html"),
        "<!doctype html><meta charset=utf-8><title>Steward</title><h1>Steward</h1>\
         <p>The web console was not built into this binary. Build it with <code>make web</code> \
         (or <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>) and rebuild; \
         meanwhile see the <a href=\"/docs\">API documentation</a> or use the <code>steward</code> CLI.</p>\n",
    )
    .expect("OUT_DIR is writable");
    out
}
