//! Helpers for tests of this crate and of its users (`features = ["testing"]`).

use std::path::Path;

/// Overwrites every file under `dir` with bytes that are no index format: an index damaged on
/// disk, which opening must report rather than serve.
pub fn scribble_over(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scribble_over(&path);
        } else {
            std::fs::write(&path, b"\xde\xad\xbe\xef garbage, not an index \x00\x01\x02").unwrap();
        }
    }
}
