//! Generates the agent protocol with a vendored `protoc`, so a fresh machine needs no system package.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY-free: build scripts are single-threaded; tonic-prost-build reads PROTOC.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=steward/v1/agent.proto");
    tonic_prost_build::configure().compile_protos(&["steward/v1/agent.proto"], &["."])?;
    Ok(())
}
