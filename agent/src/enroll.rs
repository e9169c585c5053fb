//! First contact: exchanging a one-time enrollment token for this host's credential.
//!
//! The credential is written to `<data_dir>/credential` with mode 0600 (through a temporary
//! file and a rename, so a crash never leaves half a secret) and used from then on; the
//! enrollment token is spent and no longer needed.
use std::io::Write;
use std::path::{Path, PathBuf};

use steward_proto::v1 as pb;

use crate::backoff::Backoff;
use crate::endpoint::endpoint;
use crate::{AgentConfig, AgentError};

/// The credential's file name inside the data directory.
pub const CREDENTIAL_FILE: &str = "credential";

/// Where `data_dir` keeps the credential.
pub fn credential_path(data_dir: &Path) -> PathBuf {
    data_dir.join(CREDENTIAL_FILE)
}

/// The stored credential, if this host has enrolled before.
pub(crate) fn stored(data_dir: &Path) -> Result<Option<String>, AgentError> {
    let path = credential_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AgentError::DataDir { path, source }),
    }
}

fn store(data_dir: &Path, credential: &str) -> Result<(), AgentError> {
    let path = credential_path(data_dir);
    let failed = |source| AgentError::DataDir {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(failed)?;
    // tempfile creates the file owner-only (0600), and the rename publishes it whole.
    let mut f = tempfile::NamedTempFile::new_in(data_dir).map_err(failed)?;
    f.write_all(credential.as_bytes()).map_err(failed)?;
    f.as_file().sync_all().map_err(failed)?;
    f.persist(&path).map_err(|e| failed(e.error))?;
    Ok(())
}

/// Enrolls with `token` unless a credential is already stored; returns the credential.
/// Retries while the server is unreachable; a refusal (spent, expired, foreign token) is final.
pub(crate) async fn enroll(config: &AgentConfig, token: &str) -> Result<String, AgentError> {
    if let Some(c) = stored(&config.data_dir)? {
        tracing::info!("already enrolled; the enrollment token is not needed");
        return Ok(c);
    }
    let endpoint = endpoint(&config.server, config.ca.as_deref())?;
    let mut backoff = Backoff::new();
    loop {
        let attempt = async {
            let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
            pb::agent_service_client::AgentServiceClient::new(channel)
                .enroll(pb::EnrollRequest {
                    token: token.to_owned(),
                    hostname: config.hostname.clone(),
                })
                .await
                .map_err(|s| match s.code() {
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::DeadlineExceeded => {
                        s.message().to_owned()
                    }
                    _ => format!("refused:{}", s.message()),
                })
        };
        match attempt.await {
            Ok(r) => {
                let credential = r.into_inner().credential;
                store(&config.data_dir, &credential)?;
                tracing::info!(path = %credential_path(&config.data_dir).display(), "enrolled; credential stored");
                return Ok(credential);
            }
            Err(e) if e.starts_with("refused:") => {
                return Err(AgentError::EnrollmentRefused(e["refused:".len()..].to_owned()));
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, ?delay, "cannot reach the server to enroll; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_credential_is_stored_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(stored(dir.path()).unwrap(), None);
        store(dir.path(), "stw_agt_abc").unwrap();
        let mode = std::fs::metadata(credential_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(stored(dir.path()).unwrap().as_deref(), Some("stw_agt_abc"));
    }
}
