//! Rebuilds when the stacks change: the binary carries a copy of them (`include_dir!`).
fn main() {
    println!("cargo:rerun-if-changed=../stacks");
}
