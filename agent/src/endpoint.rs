//! Where the agent dials: the server's address and, for `https://`, whom it trusts.
//!
//! With a CA file the agent trusts that CA and nothing else, so a certificate from any other
//! authority, public or private, is refused: that is how an agent pins its Steward server.
//! Without one, an `https://` server must present a certificate the host's own trust store
//! (its native roots, e.g. `/etc/ssl/certs`) accepts.

use std::{path::Path, time::Duration};

use rustls::pki_types::{pem::PemObject, CertificateDer};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Uri};

use crate::AgentError;

/// How long the TLS handshake may take before the attempt counts as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The endpoint for `server`, over TLS for `https://`, trusting only `ca` when given.
///
/// Everything is checked here, up front: neither a malformed address nor an unreadable CA
/// gets better by retrying.
pub(crate) fn endpoint(server: &str, ca: Option<&Path>) -> Result<Endpoint, AgentError> {
    let invalid = |reason: String| AgentError::InvalidServer {
        server: server.to_owned(),
        reason,
    };
    let uri = server.parse::<Uri>().map_err(|error| invalid(error.to_string()))?;
    if uri.host().is_none() {
        return Err(invalid("expected an address like https://steward.example:9090".into()));
    }
    let tls = match (uri.scheme_str(), ca) {
        (Some("http"), None) => None,
        (Some("http"), Some(_)) => {
            return Err(invalid(
                "a CA is configured but the address is plain http://; use https:// so the CA is checked".into(),
            ))
        }
        (Some("https"), Some(ca)) => Some(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read_ca(ca)?))
                .timeout(HANDSHAKE_TIMEOUT),
        ),
        (Some("https"), None) => Some(ClientTlsConfig::new().with_native_roots().timeout(HANDSHAKE_TIMEOUT)),
        _ => return Err(invalid("expected an address like https://steward.example:9090".into())),
    };
    let mut endpoint = Endpoint::from(uri)
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        // Notices a server that vanished without closing the connection.
        .http2_keep_alive_interval(Duration::from_secs(15))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|error| invalid(format!("cannot set up TLS: {}", crate::error::chain(&error))))?;
    }
    Ok(endpoint)
}

/// The CA file's PEM, once it is known to hold at least one certificate: tonic skips what it
/// cannot parse, which would turn a wrong file into a baffling "unknown issuer" at connect.
fn read_ca(path: &Path) -> Result<Vec<u8>, AgentError> {
    let invalid = |reason: String| AgentError::InvalidCa {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|error| invalid(error.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("bad PEM: {error}")))?;
    if certs.is_empty() {
        return Err(invalid("no PEM \"BEGIN CERTIFICATE\" block in it".into()));
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_needs_https_and_a_readable_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = endpoint("https://steward:9090", Some(&missing)).unwrap_err();
        assert!(
            matches!(&error, AgentError::InvalidCa { path, .. } if path == &missing),
            "{error}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let error = endpoint("https://steward:9090", Some(&junk)).unwrap_err();
        assert!(error.to_string().contains("junk.pem"), "{error}");
        let error = endpoint("http://steward:9090", Some(&junk)).unwrap_err();
        assert!(matches!(error, AgentError::InvalidServer { .. }), "{error}");
    }
}
