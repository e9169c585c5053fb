//! Rebuilds when the prompts change: the crate carries a copy of them (`include_dir!`).
fn main() {
    println!("cargo:rerun-if-changed=../prompts");
}
