//! Key pairs for the API: import (fingerprint computed as Nova does: MD5 of
//! the decoded OpenSSH public key for `ssh`, SHA-1 of the certificate's DER
//! for `x509`), generation (RSA 2048 as Nova generates it: the private key
//! in PKCS#1 PEM, the public key in OpenSSH form) and the `key_pairs` quota.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use sha1::Sha1;

use super::ComputeService;
use crate::error::{ComputeError, Result};
use crate::model::KeyPair;
use crate::store::NewKeyPair;

/// Nova's comment on the public keys it generates.
const GENERATED_COMMENT: &str = "Generated-by-Nova";

fn invalid_keypair(reason: &str) -> ComputeError {
    ComputeError::bad_request(format!("Keypair data is invalid: {reason}"))
}

fn colon_hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Reads SSH wire-format fields (RFC 4251 `string`/`mpint`).
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.0.get(..4)?.try_into().ok()?) as usize;
        let field = self.0.get(4..4usize.checked_add(len)?)?;
        self.0 = &self.0[4 + len..];
        Some(field)
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether `blob` is a well-formed public key of `kind` (the key types
/// OpenSSH and Nova's key loader accept).
fn well_formed(kind: &str, blob: &[u8]) -> bool {
    let mut w = Wire(blob);
    if w.string() != Some(kind.as_bytes()) {
        return false;
    }
    let ok = match kind {
        "ssh-rsa" => {
            let e = w.string();
            let n = w.string();
            matches!((e, n), (Some(e), Some(n)) if !e.is_empty() && n.len() >= 64)
        }
        "ssh-dss" => (0..4).all(|_| w.string().is_some_and(|f| !f.is_empty())),
        "ssh-ed25519" => w.string().is_some_and(|k| k.len() == 32),
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let curve = w.string();
            let point = w.string();
            curve == Some(&kind.as_bytes()["ecdsa-sha2-".len()..])
                && point.is_some_and(|p| p.first() == Some(&4) && p.len() > 1)
        }
        _ => false,
    };
    ok && w.done()
}

/// The fingerprint of an OpenSSH public key line (`type base64 [comment]`).
pub(crate) fn ssh_fingerprint(public_key: &str) -> Result<String> {
    let fail = || invalid_keypair("failed to generate fingerprint");
    let mut parts = public_key.split_whitespace();
    let kind = parts.next().ok_or_else(fail)?;
    let blob = B64.decode(parts.next().ok_or_else(fail)?).map_err(|_| fail())?;
    if !well_formed(kind, &blob) {
        return Err(fail());
    }
    Ok(colon_hex(&Md5::digest(&blob)))
}

/// The fingerprint of a PEM certificate: SHA-1 of its DER.
pub(crate) fn x509_fingerprint(pem: &str) -> Result<String> {
    let fail = || invalid_keypair("failed to generate fingerprint");
    let text = pem.trim();
    let body = text
        .strip_prefix("-----BEGIN CERTIFICATE-----")
        .and_then(|t| t.strip_suffix("-----END CERTIFICATE-----"))
        .ok_or_else(fail)?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = B64.decode(b64).map_err(|_| fail())?;
    // A DER certificate is a SEQUENCE whose length covers the whole input.
    if !der_sequence_spans(&der) {
        return Err(fail());
    }
    Ok(colon_hex(&Sha1::digest(&der)))
}

fn der_sequence_spans(der: &[u8]) -> bool {
    let (Some(&0x30), Some(&l0)) = (der.first(), der.get(1)) else { return false };
    let (len, header) = if l0 < 0x80 {
        (l0 as usize, 2)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || der.len() < 2 + n {
            return false;
        }
        (der[2..2 + n].iter().fold(0usize, |a, b| (a << 8) | *b as usize), 2 + n)
    };
    header + len == der.len()
}

/// A new RSA 2048 key pair: (PKCS#1 PEM private key, OpenSSH public key).
fn generate_rsa() -> Result<(String, String)> {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|e| ComputeError::internal(format!("RSA key generation failed: {e}")))?;
    let private = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| ComputeError::internal(format!("RSA key encoding failed: {e}")))?
        .to_string();
    let mut blob = Vec::new();
    for field in [b"ssh-rsa".to_vec(), mpint(&key.e().to_bytes_be()), mpint(&key.n().to_bytes_be())] {
        blob.extend_from_slice(&(field.len() as u32).to_be_bytes());
        blob.extend_from_slice(&field);
    }
    Ok((private, format!("ssh-rsa {} {GENERATED_COMMENT}", B64.encode(blob))))
}

/// An unsigned big-endian integer as an SSH `mpint` body (a leading zero
/// when the high bit is set).
fn mpint(be: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = &be[be.iter().take_while(|b| **b == 0).count()..];
    let mut v = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(trimmed);
    v
}

impl ComputeService {
    /// Import a public key (`ssh` or `x509`) for `user_id`, counted against
    /// the `key_pairs` quota of `project`.
    pub(crate) async fn import_key_pair(
        &self,
        project: &str,
        user_id: &str,
        name: &str,
        key_type: &str,
        public_key: &str,
    ) -> Result<KeyPair> {
        let fingerprint = match key_type {
            "x509" => x509_fingerprint(public_key)?,
            _ => ssh_fingerprint(public_key)?,
        };
        let limit = self.quota_limits(project).await?.get("key_pairs").copied().unwrap_or(-1);
        let new = NewKeyPair { user_id, name, key_type, public_key, fingerprint: &fingerprint };
        self.db.create_key_pair(&new, limit).await
    }

    /// Generate an `ssh` key pair for `user_id`: the stored key pair and
    /// the private key (never stored).
    pub(crate) async fn generate_key_pair(
        &self,
        project: &str,
        user_id: &str,
        name: &str,
    ) -> Result<(KeyPair, String)> {
        let limit = self.quota_limits(project).await?.get("key_pairs").copied().unwrap_or(-1);
        // Fail fast on a duplicate or a full quota before spending the
        // key generation (the insert checks again).
        if self.db.key_pair(user_id, name).await?.is_some() {
            return Err(ComputeError::conflict(format!("Key pair '{name}' already exists.")));
        }
        let (private, public) = tokio::task::spawn_blocking(generate_rsa)
            .await
            .map_err(|e| ComputeError::internal(format!("key generation task failed: {e}")))??;
        let fingerprint = ssh_fingerprint(&public)?;
        let new = NewKeyPair { user_id, name, key_type: "ssh", public_key: &public, fingerprint: &fingerprint };
        let kp = self.db.create_key_pair(&new, limit).await?;
        Ok((kp, private))
    }

    pub(crate) async fn key_pair(&self, user_id: &str, name: &str) -> Result<KeyPair> {
        self.db
            .key_pair(user_id, name)
            .await?
            .ok_or_else(|| ComputeError::not_found(format!("Keypair {name} not found for user {user_id}")))
    }

    /// A user's key pair by name, if any (server create's `key_name`).
    pub(crate) async fn find_key_pair(&self, user_id: &str, name: &str) -> Result<Option<KeyPair>> {
        self.db.key_pair(user_id, name).await
    }

    pub(crate) async fn key_pairs(
        &self,
        user_id: &str,
        marker: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<KeyPair>> {
        if let Some(m) = marker {
            // A marker no key pair could have (NUL, too long) names none.
            let storable = m.chars().count() <= 255 && !m.contains('\0');
            if !storable || self.db.key_pair(user_id, m).await?.is_none() {
                return Err(ComputeError::bad_request(format!("marker [{}] not found", m.escape_debug())));
            }
        }
        self.db.list_key_pairs(user_id, marker, limit).await
    }

    pub(crate) async fn delete_key_pair(&self, user_id: &str, name: &str) -> Result<()> {
        if self.db.delete_key_pair(user_id, name).await? {
            Ok(())
        } else {
            Err(ComputeError::not_found(format!("Keypair {name} not found for user {user_id}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_openssh_rsa_2048_with_a_matching_fingerprint() {
        let (private, public) = generate_rsa().unwrap();
        assert!(private.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{private}");
        let mut parts = public.split(' ');
        assert_eq!(parts.next(), Some("ssh-rsa"));
        let blob = B64.decode(parts.next().unwrap()).unwrap();
        assert_eq!(parts.next(), Some(GENERATED_COMMENT));
        let mut w = Wire(&blob);
        assert_eq!(w.string(), Some(&b"ssh-rsa"[..]));
        assert_eq!(w.string(), Some(&[1u8, 0, 1][..]));
        // 2048-bit modulus with its high bit set: a leading zero byte.
        let n = w.string().unwrap();
        assert_eq!(n.len(), 257);
        assert_eq!(n[0], 0);
        assert!(w.done());
        let fp = ssh_fingerprint(&public).unwrap();
        assert_eq!(fp, colon_hex(&Md5::digest(&blob)));
        assert_eq!(fp.len(), 16 * 3 - 1);
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        for k in [
            "",
            "ssh-rsa",
            "ssh-rsa not-base64!",
            "ssh-rsa AAAA",
            // An ed25519 blob declared as RSA.
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIO9vVN7G6OnTtR6ZzsGdLvwq0uRbnhHCBpKWSjwOONu",
            // A 31-byte ed25519 key.
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAH4O9vVN7G6OnTtR6ZzsGdLvwq0uRbnhHCBpKWSjwOONu",
        ] {
            assert!(ssh_fingerprint(k).is_err(), "{k:?}");
        }
        let ok = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIO9vVN7G6OnTtR6ZzsGdLvwq0uRbnhHCBpKWSjwOONu c@h";
        assert!(ssh_fingerprint(ok).is_ok());
        assert!(x509_fingerprint("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err());
    }
}
