//! Steward's agent protocol: generated messages, client and server for `steward.v1`.

/// Version 1 of the agent protocol.
pub mod v1 {
    tonic::include_proto!("steward.v1");
}
