//! Slack's request signatures (the `v0` scheme) and a guard against replayed requests.
//!
//! Slack signs every request it sends to our HTTP endpoints: HMAC-SHA256, keyed with the
//! app's signing secret, over `v0:{timestamp}:{body}`. The timestamp bounds how long a
//! captured request stays usable; [`ReplayGuard`] closes the window left inside it.
use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying `v0=<hex HMAC>`.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// The header carrying the request's Unix time in seconds, which the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// How far a request's timestamp may be from now, either way (Slack's recommended 5 minutes).
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// Why a request is not accepted as coming from Slack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No signing secret is configured: nothing can be verified, so nothing is accepted.
    #[error("no Slack signing secret is configured")]
    NoSecret,
    /// A header is absent or empty.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but not in Slack's format.
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    /// The timestamp is more than five minutes from now.
    #[error("request timestamp {timestamp} is more than five minutes from now ({now})")]
    Stale {
        /// The request's timestamp.
        timestamp: i64,
        /// The time it was checked at.
        now: i64,
    },
    /// The signature does not match the body: not from Slack, or altered on the way.
    #[error("request signature does not match")]
    BadSignature,
    /// The same signed request was already accepted.
    #[error("request was already received (replayed)")]
    Replayed,
    /// The guard holds as many requests as it may; refusing is safer than forgetting one.
    #[error("too many requests in the last five minutes to guard against replays")]
    Overloaded,
}

/// Checks that `body` was signed by Slack with `signing_secret`, given the two headers'
/// values (empty when absent) and the current Unix time.
pub fn verify(
    signing_secret: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    if signing_secret.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    if timestamp.is_empty() {
        return Err(VerifyError::MissingHeader(TIMESTAMP_HEADER));
    }
    if signature.is_empty() {
        return Err(VerifyError::MissingHeader(SIGNATURE_HEADER));
    }
    let sent_at = parse_timestamp(timestamp)?;
    if (now_unix.saturating_sub(sent_at)).abs() > MAX_SKEW_SECS {
        return Err(VerifyError::Stale {
            timestamp: sent_at,
            now: now_unix,
        });
    }
    let digest = signature
        .strip_prefix("v0=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .filter(|digest| digest.len() == 32)
        .ok_or(VerifyError::MalformedHeader(SIGNATURE_HEADER))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret.as_bytes()).map_err(|_| VerifyError::NoSecret)?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    // Constant time, so the comparison does not reveal how much of a forged digest is right.
    mac.verify_slice(&digest).map_err(|_| VerifyError::BadSignature)
}

/// The timestamp header as seconds: digits only, as Slack sends it.
fn parse_timestamp(timestamp: &str) -> Result<i64, VerifyError> {
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::MalformedHeader(TIMESTAMP_HEADER));
    }
    timestamp
        .parse()
        .map_err(|_| VerifyError::MalformedHeader(TIMESTAMP_HEADER))
}

/// Remembers the verified requests of the last five minutes and refuses to accept one twice.
///
/// A signature is only valid for five minutes, so a request older than that is refused as
/// stale by [`verify`] and need not be remembered: memory is bounded by the traffic of one
/// window, and by `capacity` in any case.
#[derive(Debug)]
pub struct ReplayGuard {
    seen: Mutex<BTreeSet<(i64, String)>>,
    capacity: usize,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        ReplayGuard::new(100_000)
    }
}

impl ReplayGuard {
    /// A guard remembering at most `capacity` requests at once.
    pub fn new(capacity: usize) -> Self {
        ReplayGuard {
            seen: Mutex::new(BTreeSet::new()),
            capacity,
        }
    }

    /// Accepts a verified request's (timestamp, signature) once; refuses it after that.
    pub fn check(&self, timestamp: i64, signature: &str, now: i64) -> Result<(), VerifyError> {
        if (now.saturating_sub(timestamp)).abs() > MAX_SKEW_SECS {
            return Err(VerifyError::Stale { timestamp, now });
        }
        // Every operation below leaves the set whole, so a panic elsewhere while it was held
        // cannot have left it inconsistent.
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let cutoff = (now.saturating_sub(MAX_SKEW_SECS), String::new());
        *seen = seen.split_off(&cutoff);
        let key = (timestamp, signature.to_owned());
        if seen.contains(&key) {
            return Err(VerifyError::Replayed);
        }
        if seen.len() >= self.capacity {
            return Err(VerifyError::Overloaded);
        }
        seen.insert(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_headers_are_named() {
        let now = 1_700_000_000;
        let sig = format!("v0={}", "00".repeat(32));
        assert_eq!(
            verify("s", "", &sig, b"", now),
            Err(VerifyError::MissingHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify("s", "1700000000", "", b"", now),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify("s", "-5", &sig, b"", now),
            Err(VerifyError::MalformedHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify("s", "99999999999999999999999", &sig, b"", now),
            Err(VerifyError::MalformedHeader(TIMESTAMP_HEADER))
        );
        for bad in ["v1=00", "v0=zz", "v0=abcd", "00"] {
            assert_eq!(
                verify("s", "1700000000", bad, b"", now),
                Err(VerifyError::MalformedHeader(SIGNATURE_HEADER)),
                "{bad}"
            );
        }
        assert_eq!(verify("", "1700000000", &sig, b"", now), Err(VerifyError::NoSecret));
    }

    #[test]
    fn replay_guard_forgets_requests_older_than_the_window() {
        let guard = ReplayGuard::new(10);
        guard.check(1000, "v0=aa", 1000).unwrap();
        assert_eq!(guard.check(1000, "v0=aa", 1200), Err(VerifyError::Replayed));
        guard.check(1350, "v0=bb", 1351).unwrap();
        // At 1601 the first request is stale: pruned, and refused as stale if it comes back.
        guard.check(1400, "v0=cc", 1601).unwrap();
        assert_eq!(guard.seen.lock().unwrap().len(), 2, "the entry from 1000 is pruned");
        assert!(matches!(
            guard.check(1000, "v0=aa", 1601),
            Err(VerifyError::Stale { .. })
        ));
    }

    #[test]
    fn a_full_replay_guard_refuses_rather_than_forgets() {
        let guard = ReplayGuard::new(2);
        guard.check(1000, "v0=aa", 1000).unwrap();
        guard.check(1000, "v0=bb", 1000).unwrap();
        assert_eq!(guard.check(1000, "v0=cc", 1000), Err(VerifyError::Overloaded));
        assert_eq!(guard.check(1000, "v0=aa", 1000), Err(VerifyError::Replayed));
    }
}
