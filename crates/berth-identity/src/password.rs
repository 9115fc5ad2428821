//! Password hashing with Argon2id (PHC string format).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{IdentityError, Result};

/// Argon2id cost parameters for new hashes. Verification always uses the
/// parameters recorded in the stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    /// Memory cost in KiB (default 19456, i.e. 19 MiB, OWASP's recommendation).
    pub memory_kib: u32,
    /// Number of passes (default 2).
    pub iterations: u32,
    /// Degree of parallelism (default 1).
    pub parallelism: u32,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        PasswordHashing { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

impl PasswordHashing {
    fn argon2(&self) -> Result<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| IdentityError::internal(format!("invalid argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Hash a password (CPU-bound; call from a blocking context).
    pub(crate) fn hash(&self, password: &str) -> Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| IdentityError::internal(format!("password hashing failed: {e}")))
    }

    /// Hash a password on the blocking thread pool.
    pub(crate) async fn hash_async(&self, password: &str) -> Result<String> {
        let me = *self;
        let pw = password.to_string();
        tokio::task::spawn_blocking(move || me.hash(&pw))
            .await
            .map_err(|e| IdentityError::internal(format!("password hashing task failed: {e}")))?
    }
}

/// Check a password against a stored PHC hash (CPU-bound).
pub(crate) fn verify(stored: &str, password: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Check a password on the blocking thread pool. With no stored hash, a
/// dummy hash is checked anyway so unknown users cost the same time.
pub(crate) async fn verify_async(stored: Option<String>, dummy: String, password: &str) -> bool {
    let pw = password.to_string();
    tokio::task::spawn_blocking(move || match stored {
        Some(h) => verify(&h, &pw),
        None => {
            let _ = verify(&dummy, &pw);
            false
        }
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = PasswordHashing { memory_kib: 256, iterations: 1, parallelism: 1 };
        let stored = h.hash("s3cret").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify(&stored, "s3cret"));
        assert!(!verify(&stored, "S3cret"));
        assert!(!verify("garbage", "s3cret"));
    }
}
