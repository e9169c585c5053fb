//! TLS for both listeners: the HTTP API and the agents' gRPC serve the same certificate and
//! key (`tls_cert`, `tls_key`) when both are configured, and plain text otherwise.
//!
//! The PEM files are read and checked here, once, so a wrong path or a file that holds the
//! wrong thing stops `steward serve` with a message naming the file, instead of failing on the
//! first handshake. gRPC goes through tonic's own rustls acceptor; HTTP through [`http`].
pub mod http;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How long a client may take to finish its TLS handshake; a connection that says nothing
/// would otherwise hold its task forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate and key that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read at all.
    #[error("cannot read the TLS {what} {}: {source}", path.display())]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file as configured.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// The file is readable but does not hold what it should.
    #[error("the TLS {what} {} is not usable: {reason}", path.display())]
    Invalid {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file as configured.
        path: PathBuf,
        /// What is wrong with its content.
        reason: String,
    },
}

/// The server's TLS identity, checked and ready for both listeners.
#[derive(Clone)]
pub struct ServerTls {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    http: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// The configured identity, or `None` when TLS is off.
    pub fn from_files(files: Option<(&Path, &Path)>) -> anyhow::Result<Option<ServerTls>> {
        Ok(files.map(|(cert, key)| ServerTls::load(cert, key)).transpose()?)
    }

    /// Reads and checks a PEM certificate chain (leaf first) and its PEM private key.
    pub fn load(cert: &Path, key: &Path) -> Result<ServerTls, TlsError> {
        install_crypto_provider();
        let cert_pem = read(cert, "certificate")?;
        let key_pem = read(key, "private key")?;
        let invalid = |what: &'static str, path: &Path, reason: String| TlsError::Invalid {
            what,
            path: path.to_owned(),
            reason,
        };
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("certificate", cert, format!("bad PEM: {e}")))?;
        if chain.is_empty() {
            return Err(invalid(
                "certificate",
                cert,
                "no PEM \"BEGIN CERTIFICATE\" block in it".into(),
            ));
        }
        let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => invalid(
                "private key",
                key,
                "no PEM private key block in it (PKCS#8, PKCS#1 or SEC1)".into(),
            ),
            e => invalid("private key", key, format!("bad PEM: {e}")),
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut http = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the default provider supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .map_err(|e| {
                invalid(
                    "private key",
                    key,
                    format!("it does not go with the certificate {}: {e}", cert.display()),
                )
            })?;
        // axum serves HTTP/1.1 only (its `http2` feature is off), so offer nothing else.
        http.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls {
            cert_pem,
            key_pem,
            http: Arc::new(http),
        })
    }

    /// tonic's settings for the agents' gRPC listener (it negotiates `h2` itself).
    pub fn grpc(&self) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&self.cert_pem, &self.key_pem))
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// The rustls settings for the HTTP listener.
    pub fn http(&self) -> Arc<rustls::ServerConfig> {
        self.http.clone()
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Makes aws-lc-rs the process's rustls crypto provider.
///
/// Both ring (reqwest, sqlx) and aws-lc-rs (async-openai) are compiled in, so rustls cannot
/// choose by itself and would panic where a library asks for the default (tonic's server
/// acceptor does). Installing twice is harmless: the first one stays.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_and_invalid_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = ServerTls::load(&missing, &missing).unwrap_err().to_string();
        assert!(e.contains("certificate") && e.contains("missing.pem"), "{e}");

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = ServerTls::load(&junk, &junk).unwrap_err().to_string();
        assert!(e.contains("junk.pem") && e.contains("BEGIN CERTIFICATE"), "{e}");

        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        let e = ServerTls::load(&broken, &junk).unwrap_err().to_string();
        assert!(e.contains("broken.pem") && e.contains("bad PEM"), "{e}");
    }
}
