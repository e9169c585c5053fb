//! Generates the SDK's types and operations from the OpenAPI document the server publishes
//! (`web/src/api/openapi.json`, which a server test keeps byte-equal to the live document), so
//! the SDK cannot drift from the API. A construct the generator does not understand fails the
//! build with the place it was found: nothing falls back to untyped JSON silently.
use std::path::PathBuf;

use serde_json::Value;

#[path = "build/naming.rs"]
mod naming;
#[path = "build/operations.rs"]
mod operations;
#[path = "build/schema.rs"]
mod schema;

const DOCUMENT: &str = "../web/src/api/openapi.json";

fn main() {
    println!("cargo:rerun-if-changed={DOCUMENT}");
    println!("cargo:rerun-if-changed=build");
    let text = std::fs::read_to_string(DOCUMENT).unwrap_or_else(|e| panic!("cannot read {DOCUMENT}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DOCUMENT} is not JSON: {e}"));
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("3.1"),
        "{DOCUMENT}: OpenAPI {version:?}, the generator reads 3.1"
    );
    let schemas = doc["components"]["schemas"]
        .as_object()
        .unwrap_or_else(|| panic!("{DOCUMENT} has no components.schemas"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("types.rs"), schema::generate(schemas)).expect("write types.rs");
    std::fs::write(out.join("operations.rs"), operations::generate(&doc)).expect("write operations.rs");
}
