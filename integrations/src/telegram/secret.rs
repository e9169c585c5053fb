//! The webhook's shared secret: Telegram sends back, in a header, the `secret_token` given
//! to `setWebhook`, which is how a webhook request proves it comes from Telegram.
use subtle::ConstantTimeEq;

/// The header carrying the webhook's secret token.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// Whether the secret header matches `expected`. Compared in constant time (only the length
/// can show); an absent header or an empty expected secret never matches.
pub fn verify_secret(header: Option<&str>, expected: &str) -> bool {
    match header {
        Some(sent) if !expected.is_empty() => sent.as_bytes().ct_eq(expected.as_bytes()).into(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_matches() {
        assert!(verify_secret(Some("s3cret-token"), "s3cret-token"));
        assert!(!verify_secret(Some("s3cret-tokeN"), "s3cret-token"));
        assert!(!verify_secret(Some("s3cret"), "s3cret-token"));
        assert!(!verify_secret(None, "s3cret-token"));
        assert!(!verify_secret(Some(""), ""), "no configured secret accepts nothing");
    }
}
