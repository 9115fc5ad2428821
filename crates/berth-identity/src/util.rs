//! Small helpers: identifiers and secrets (times are `berth_time`'s).

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A new resource id: 32 lowercase hex digits, like Keystone's.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    OsRng.fill_bytes(&mut buf);
    buf
}

/// A new bearer token: 32 random bytes, URL-safe base64 (43 characters).
pub(crate) fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A new application credential secret: 64 random bytes, URL-safe base64
/// (86 characters), as Keystone generates them.
pub(crate) fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<64>())
}

/// A new audit id: 16 random bytes, URL-safe base64 (22 characters), as Keystone.
pub(crate) fn new_audit_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// Lowercase hex SHA-256 of a string.
pub(crate) fn sha256_hex(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_times_in_keystone_format() {
        assert_eq!(berth_time::iso_micros_z(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(berth_time::iso_micros_z(1_446_823_937_893_769), "2015-11-06T15:32:17.893769Z");
    }

    #[test]
    fn tokens_are_random_and_long() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(new_audit_id().len(), 22);
        assert_eq!(new_id().len(), 32);
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
