//! Credentials generated at first start and kept in the data directory with
//! mode 0600. Nothing is hard-coded; secrets are never logged.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

/// A random password: 32 hex characters from the OS CSPRNG (via uuid v4).
pub fn generate_password() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{}{}", &a[..16], &b[..16])
}

/// Write `contents` to `path` readable by the owner only, atomically
/// (a temporary file renamed over it). The temporary name is unique to the
/// call: several processes sharing a data directory (API processes
/// starting together) may write the same file at once, and a shared name
/// would let one rename the other's file away.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("{}.{}.tmp", std::process::id(), uuid::Uuid::new_v4().simple()));
    {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(anyhow::anyhow!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}

/// Read a secret file, refusing one that group or others can read.
pub fn read_private(path: &Path) -> anyhow::Result<Option<String>> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            anyhow::bail!("{} is readable by group or others; chmod 600 it", path.display());
        }
    }
    let _ = meta;
    Ok(Some(fs::read_to_string(path)?.trim().to_string()))
}

/// The admin password stored in `path`, generated on first use.
pub fn admin_password(path: &Path) -> anyhow::Result<(String, bool)> {
    if let Some(p) = read_private(path)? {
        if !p.is_empty() {
            return Ok((p, false));
        }
    }
    // Written aside, then linked into place only if nobody else has been
    // first: processes starting together agree on one password.
    let p = generate_password();
    let aside = path.with_extension(format!("{}.{}.new", std::process::id(), uuid::Uuid::new_v4().simple()));
    write_private(&aside, &format!("{p}\n"))?;
    let linked = fs::hard_link(&aside, path);
    let _ = fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok((p, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read_private(path)? {
            Some(other) if !other.is_empty() => Ok((other, false)),
            _ => anyhow::bail!("{} is empty", path.display()),
        },
        Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_random_and_long() {
        let a = generate_password();
        assert_eq!(a.len(), 32);
        assert_ne!(a, generate_password());
    }

    #[test]
    fn secret_files_are_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("berth-secret-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("admin-password");
        let (p1, created) = admin_password(&path).unwrap();
        assert!(created);
        let (p2, created) = admin_password(&path).unwrap();
        assert!(!created);
        assert_eq!(p1, p2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(admin_password(&path).is_err(), "world-readable secrets are refused");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Processes starting together on one data directory: every write of
    /// the same file succeeds, and they all get the same password.
    #[test]
    fn concurrent_writers_agree() {
        let dir = std::env::temp_dir().join(format!("berth-secret-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).unwrap();
        let (clouds, pw) = (dir.join("clouds.yaml"), dir.join("admin-password"));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (clouds, pw) = (clouds.clone(), pw.clone());
                std::thread::spawn(move || {
                    write_private(&clouds, &format!("writer {i}\n")).unwrap();
                    admin_password(&pw).unwrap()
                })
            })
            .collect();
        let got: Vec<(String, bool)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(got.iter().all(|(p, _)| *p == got[0].0), "one password for all: {got:?}");
        assert_eq!(got.iter().filter(|(_, created)| *created).count(), 1, "created once");
        assert!(fs::read_to_string(&clouds).unwrap().starts_with("writer "));
        let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "no temporary file left: {left:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
