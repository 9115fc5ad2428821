//! Image data on the local filesystem: one file per image under the data
//! directory, written to a temporary file while hashing, then renamed into
//! place. Data is streamed; it is never held in memory whole.

use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use md5::Md5;
use sha2::{Digest, Sha512};
use tokio::io::AsyncWriteExt;

use crate::error::{ImageError, Result};
use crate::repo::DataInfo;

pub(crate) const HASH_ALGO: &str = "sha512";

#[derive(Debug, Clone)]
pub(crate) struct DataStore {
    dir: PathBuf,
    max_size: u64,
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Removes a file when dropped unless disarmed.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn io_err(what: &str, e: std::io::Error) -> ImageError {
    ImageError::internal(format!("{what}: {e}"))
}

impl DataStore {
    pub async fn open(dir: &Path, max_size: u64) -> Result<DataStore> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io_err(&format!("cannot create image data directory {}", dir.display()), e))?;
        let store = DataStore { dir: dir.to_path_buf(), max_size };
        store.sweep_stale_uploads(std::time::Duration::from_secs(24 * 3600)).await;
        Ok(store)
    }

    /// Remove temporary upload files older than `age` (left by a crash).
    pub async fn sweep_stale_uploads(&self, age: std::time::Duration) {
        let Ok(mut entries) = tokio::fs::read_dir(&self.dir).await else { return };
        while let Ok(Some(e)) = entries.next_entry().await {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(".upload-") && name.ends_with(".tmp")) {
                continue;
            }
            let old = e
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|el| el >= age);
            if old {
                let _ = tokio::fs::remove_file(e.path()).await;
            }
        }
    }

    /// The directory image data lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Where the data of image `id` lives. Ids are UUIDs; anything else is
    /// reduced to safe characters so a path can never escape the directory.
    pub fn path(&self, id: &str) -> PathBuf {
        let safe: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        self.dir.join(format!("{safe}.img"))
    }

    /// Where the staged data of image `id` waits for its import (Glance's
    /// staging area, `PUT /v2/images/{id}/stage`).
    pub fn staging_path(&self, id: &str) -> PathBuf {
        let safe: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        self.dir.join("staging").join(format!("{safe}.img"))
    }

    /// Stream `body` into a temporary file, hashing as it goes, then rename
    /// it to the image's data file. Fails with 413 past the size limit and
    /// 400 when `declared` (the client's size) does not match.
    pub async fn write(&self, id: &str, body: Body, declared: Option<u64>) -> Result<DataInfo> {
        self.write_to(&self.path(id), body, declared).await
    }

    /// As [`Self::write`], into the staging area.
    pub async fn stage(&self, id: &str, body: Body, declared: Option<u64>) -> Result<DataInfo> {
        let dest = self.staging_path(id);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| io_err("cannot create the staging area", e))?;
        }
        self.write_to(&dest, body, declared).await
    }

    /// Move staged data to the image's data file, hashing it on the way:
    /// `None` when nothing is staged.
    pub async fn promote(&self, id: &str) -> Result<Option<DataInfo>> {
        let staged = self.staging_path(id);
        let mut file = match tokio::fs::File::open(&staged).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("cannot open staged data", e)),
        };
        let mut md5 = Md5::new();
        let mut sha = Sha512::new();
        let mut size: u64 = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            use tokio::io::AsyncReadExt;
            let n = file.read(&mut buf).await.map_err(|e| io_err("cannot read staged data", e))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            md5.update(&buf[..n]);
            sha.update(&buf[..n]);
        }
        drop(file);
        tokio::fs::rename(&staged, self.path(id)).await.map_err(|e| io_err("cannot store image data", e))?;
        Ok(Some(DataInfo {
            size: size as i64,
            checksum: hex(&md5.finalize()),
            os_hash_algo: HASH_ALGO.to_string(),
            os_hash_value: hex(&sha.finalize()),
        }))
    }

    /// Delete an image's staged data (missing is fine).
    pub async fn remove_staged(&self, id: &str) {
        match tokio::fs::remove_file(self.staging_path(id)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(image = id, error = %e, "cannot remove staged image data"),
        }
    }

    async fn write_to(&self, dest: &Path, body: Body, declared: Option<u64>) -> Result<DataInfo> {
        if let Some(d) = declared {
            if d > self.max_size {
                return Err(too_large(self.max_size));
            }
        }
        let dir = dest.parent().unwrap_or(&self.dir);
        let tmp_path = dir.join(format!(".upload-{}.tmp", uuid::Uuid::new_v4().simple()));
        let mut guard = TempFile(Some(tmp_path.clone()));
        let mut file = tokio::fs::File::create(&tmp_path).await.map_err(|e| io_err("cannot create image file", e))?;
        let mut md5 = Md5::new();
        let mut sha = Sha512::new();
        let mut size: u64 = 0;
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ImageError::bad_request(format!("Error reading image data: {e}")))?;
            let Ok(data) = frame.into_data() else { continue };
            size += data.len() as u64;
            if size > self.max_size {
                return Err(too_large(self.max_size));
            }
            md5.update(&data);
            sha.update(&data);
            file.write_all(&data).await.map_err(|e| io_err("cannot write image data", e))?;
        }
        if let Some(d) = declared {
            if d != size {
                return Err(ImageError::bad_request(format!(
                    "Size of uploaded data ({size} bytes) does not match the declared size ({d} bytes)."
                )));
            }
        }
        file.flush().await.map_err(|e| io_err("cannot write image data", e))?;
        file.sync_all().await.map_err(|e| io_err("cannot sync image data", e))?;
        drop(file);
        tokio::fs::rename(&tmp_path, dest).await.map_err(|e| io_err("cannot store image data", e))?;
        guard.0 = None;
        Ok(DataInfo {
            size: size as i64,
            checksum: hex(&md5.finalize()),
            os_hash_algo: HASH_ALGO.to_string(),
            os_hash_value: hex(&sha.finalize()),
        })
    }

    /// Delete an image's data file (missing is fine).
    pub async fn remove(&self, id: &str) {
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(image = id, error = %e, "cannot remove image data"),
        }
    }

    /// The data of an image as a streaming body plus its length, or `None`
    /// when there is no file.
    pub async fn read(&self, id: &str) -> Result<Option<(Body, u64)>> {
        let file = match tokio::fs::File::open(self.path(id)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("cannot open image data", e)),
        };
        let len = file.metadata().await.map_err(|e| io_err("cannot read image data", e))?.len();
        let stream = futures_util::stream::unfold(Some(file), |state| async move {
            use tokio::io::AsyncReadExt;
            let mut file = state?;
            let mut buf = vec![0u8; 64 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), Some(file)))
                }
                Err(e) => Some((Err(e), None)),
            }
        });
        Ok(Some((Body::from_stream(stream), len)))
    }
}

fn too_large(max: u64) -> ImageError {
    ImageError::too_large(format!("The incoming image is too large: the limit is {max} bytes."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_hashes_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("berth-image-store-{}", uuid::Uuid::new_v4().simple()));
        let store = DataStore::open(&dir, 10).await.unwrap();
        let info = store.write("abc", Body::from("hello"), Some(5)).await.unwrap();
        assert_eq!(info.size, 5);
        assert_eq!(info.checksum, "5d41402abc4b2a76b9719d911017c592");
        assert!(info.os_hash_value.starts_with("9b71d224bd62f378"));
        let (body, len) = store.read("abc").await.unwrap().unwrap();
        assert_eq!(len, 5);
        assert_eq!(body.collect().await.unwrap().to_bytes(), Bytes::from("hello"));
        assert_eq!(store.write("big", Body::from("01234567890"), None).await.unwrap_err().status.as_u16(), 413);
        assert_eq!(store.write("big", Body::from("x"), Some(11)).await.unwrap_err().status.as_u16(), 413);
        assert_eq!(store.write("big", Body::from("x"), Some(2)).await.unwrap_err().status.as_u16(), 400);
        assert!(store.read("big").await.unwrap().is_none());
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(store.path("../x/y"), dir.join("___x_y.img"));
        store.remove("abc").await;
        store.remove("abc").await;
        std::fs::write(dir.join(".upload-stale.tmp"), b"x").unwrap();
        std::fs::write(dir.join("keep.img"), b"x").unwrap();
        store.sweep_stale_uploads(std::time::Duration::ZERO).await;
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("keep.img")]);
        // Staged data moves to the image's file with the same hashes.
        assert!(store.promote("st").await.unwrap().is_none());
        let staged = store.stage("st", Body::from("hello"), None).await.unwrap();
        assert!(store.staging_path("st").exists());
        let promoted = store.promote("st").await.unwrap().unwrap();
        assert_eq!(promoted, staged);
        assert!(!store.staging_path("st").exists());
        let (body, _) = store.read("st").await.unwrap().unwrap();
        assert_eq!(body.collect().await.unwrap().to_bytes(), Bytes::from("hello"));
        store.stage("gone", Body::from("x"), None).await.unwrap();
        store.remove_staged("gone").await;
        store.remove_staged("gone").await;
        assert!(store.promote("gone").await.unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
