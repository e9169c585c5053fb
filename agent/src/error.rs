//! Why the agent could not start at all. Everything that happens after start (a server that
//! is away, a refused session, a failing script) is logged and retried or reported as a task
//! result instead, so it never surfaces here.

use std::{io, path::PathBuf};

/// A configuration or environment problem that stops [`crate::run`] before it connects.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The server address is not a URI tonic can dial.
    #[error("invalid server address {server:?}: {reason}")]
    InvalidServer {
        /// The address as configured.
        server: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA certificate to pin cannot be read or holds no certificate.
    #[error("cannot use the CA certificate {path}: {reason}")]
    InvalidCa {
        /// The file as configured.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The token cannot travel as gRPC metadata (it must be visible ASCII).
    #[error("the agent token is empty or contains characters that cannot be sent as gRPC metadata")]
    InvalidToken,
    /// The server refused the enrollment token (unknown, spent, expired, or for another host).
    #[error("the server refused to enroll this agent: {0}")]
    EnrollmentRefused(String),
    /// Neither a token, an enrollment token nor a stored credential was given.
    #[error("no credential: pass --enroll TOKEN (from `steward enrollments create`) or --token")]
    NoCredential,
    /// The data directory (task work dirs and the durable task records) is unusable.
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        /// The directory or file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
}

/// An error with its causes: tonic's transport errors say little at the top level.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let causes = std::iter::successors(Some(error), |e| e.source());
    causes.map(ToString::to_string).collect::<Vec<_>>().join(": ")
}
