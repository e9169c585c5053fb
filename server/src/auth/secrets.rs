//! Bearer secrets: generated from the OS's random source, stored only as SHA-256 digests.
//!
//! Tokens carry 256 random bits, so a fast digest is enough to store them (unlike passwords,
//! which people choose and which get argon2).
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new secret such as `stw_api_3f9c…`: the prefix says what it is when one leaks into a
/// ticket or a shell history.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("stw_{prefix}_{}", hex::encode(bytes))
}

/// The digest a secret is stored and looked up by.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A generated password for the first admin.
pub fn password() -> String {
    Alphanumeric.sample_string(&mut OsRng, 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_prefixed_and_digested() {
        let a = generate("api");
        let b = generate("api");
        assert_ne!(a, b);
        assert!(a.starts_with("stw_api_") && a.len() == 8 + 64);
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(password().len(), 24);
    }
}
