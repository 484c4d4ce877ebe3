//! Where the served files live: a local directory (the openat2 jail) or, with
//! `root = "s3://bucket/prefix"`, an S3 bucket (`s3`).
//!
//! [`Storage`] is what a logged-in session holds; every verb in `cmd/` goes
//! through it. The local backend is exactly [`Jail`]: each operation runs on
//! tokio's blocking pool, as before, and RETR/STOR keep their splice paths
//! (they take the [`Jail`] out of [`Storage::Local`] themselves). An enum
//! rather than a trait object: the ring's futures are `!Send`, and a
//! `match` costs nothing on the local path.

pub mod s3;

use std::future::Future;

use ringftp_proto::listing::FileInfo;
use ringftp_proto::statvfs::FsStats;

pub use crate::jail::{FsError, Jail, Metadata, UploadMode};

/// A user's files: the served root or their home beneath it. Cheap to clone.
#[derive(Clone)]
pub enum Storage {
    Local(Jail),
    S3(s3::S3Store),
}

/// Runs a blocking jail operation on the blocking pool, so a slow disk or a
/// huge directory never stalls the ring thread and its other sessions.
pub async fn fs<T, F>(jail: &Jail, f: F) -> Result<T, FsError>
where
    T: Send + 'static,
    F: FnOnce(&Jail) -> Result<T, FsError> + Send + 'static,
{
    let jail = jail.clone();
    match tokio::task::spawn_blocking(move || f(&jail)).await {
        Ok(r) => r,
        Err(e) => Err(FsError::Other(std::io::Error::other(e.to_string()))),
    }
}

/// Runs `f` on the local jail with `rel` (owned), on the blocking pool.
fn local<T, F>(jail: &Jail, rel: &str, f: F) -> impl Future<Output = Result<T, FsError>>
where
    T: Send + 'static,
    F: FnOnce(&Jail, &str) -> Result<T, FsError> + Send + 'static,
{
    let rel = rel.to_string();
    let jail = jail.clone();
    async move { fs(&jail, move |j| f(j, &rel)).await }
}

/// What object storage cannot do, in the words of the reply.
const NO_MODE: &str = "File modes are not supported on object storage";
const NO_SYMLINK: &str = "Symbolic links are not supported on object storage";
const NO_MTIME: &str = "Setting modification times is not supported on object storage";
const NO_SPACE_FIGURES: &str = "Free space is not known on object storage";

impl Storage {
    /// The storage rooted at the directory `rel` beneath this one (a user's home).
    pub async fn sub(&self, rel: &str) -> Result<Storage, FsError> {
        match self {
            Storage::Local(j) => local(j, rel, |j, r| j.sub(r)).await.map(Storage::Local),
            Storage::S3(s) => s.sub(rel).await.map(Storage::S3),
        }
    }

    /// Whether this is object storage (FEAT leaves out what it cannot do).
    pub fn is_object_store(&self) -> bool {
        matches!(self, Storage::S3(_))
    }

    /// Size, time and kind of `rel` (symlinks followed beneath the root).
    pub async fn metadata(&self, rel: &str) -> Result<Metadata, FsError> {
        match self {
            Storage::Local(j) => local(j, rel, |j, r| j.metadata(r)).await,
            Storage::S3(s) => s.metadata(rel).await,
        }
    }

    /// Facts about one entry, named by its last component.
    pub async fn stat(&self, rel: &str) -> Result<FileInfo, FsError> {
        match self {
            Storage::Local(j) => local(j, rel, |j, r| j.stat(r)).await,
            Storage::S3(s) => s.stat(rel).await,
        }
    }

    /// A directory's entries sorted by name, or the one file `rel` names.
    pub async fn list(&self, rel: &str, include_hidden: bool) -> Result<Vec<FileInfo>, FsError> {
        match self {
            Storage::Local(j) => local(j, rel, move |j, r| j.list(r, include_hidden)).await,
            Storage::S3(s) => s.list(rel, include_hidden).await,
        }
    }

    /// Checks that `rel` is a directory the user may enter (CWD).
    pub async fn open_dir(&self, rel: &str) -> Result<(), FsError> {
        match self {
            Storage::Local(j) => local(j, rel, |j, r| j.open_dir(r)).await,
            Storage::S3(s) => s.open_dir(rel).await,
        }
    }

    pub async fn mkdir(&self, rel: &str) -> Result<(), FsError> {
        match self {
            Storage::Local(j) => local(j, rel, |j, r| j.mkdir(r)).await,
            Storage::S3(s) => s.mkdir(rel).await,
        }
    }

    pub async fn rmdir(&self, rel: &str) -> Result<(), FsError> {
        match self {
            Storage::Local(j) => local(j, rel, |j, r| j.rmdir(r)).await,
            Storage::S3(s) => s.rmdir(rel).await,
        }
    }

    pub async fn remove_file(&self, rel: &str) -> Result<(), FsError> {
        match self {
            Storage::Local(j) => local(j, rel, |j, r| j.remove_file(r)).await,
            Storage::S3(s) => s.remove_file(rel).await,
        }
    }

    pub async fn rename(&self, from: &str, to: &str) -> Result<(), FsError> {
        match self {
            Storage::Local(j) => {
                let from = from.to_string();
                local(j, to, move |j, r| j.rename(&from, r)).await
            }
            Storage::S3(s) => s.rename(from, to).await,
        }
    }

    pub async fn chmod(&self, rel: &str, mode: u32) -> Result<(), FsError> {
        match self {
            Storage::Local(j) => local(j, rel, move |j, r| j.chmod(r, mode)).await,
            Storage::S3(_) => Err(FsError::Unsupported(NO_MODE)),
        }
    }

    pub async fn symlink(&self, target: &str, link: &str) -> Result<(), FsError> {
        match self {
            Storage::Local(j) => {
                let target = target.to_string();
                local(j, link, move |j, r| j.symlink(&target, r)).await
            }
            Storage::S3(_) => Err(FsError::Unsupported(NO_SYMLINK)),
        }
    }

    pub async fn set_mtime(&self, rel: &str, mtime: i64) -> Result<(), FsError> {
        match self {
            Storage::Local(j) => local(j, rel, move |j, r| j.set_mtime(r, mtime)).await,
            Storage::S3(_) => Err(FsError::Unsupported(NO_MTIME)),
        }
    }

    pub async fn available(&self, rel: &str) -> Result<u64, FsError> {
        match self {
            Storage::Local(j) => local(j, rel, |j, r| j.available(r)).await,
            Storage::S3(_) => Err(FsError::Unsupported(NO_SPACE_FIGURES)),
        }
    }

    pub async fn statvfs(&self, rel: &str) -> Result<FsStats, FsError> {
        match self {
            Storage::Local(j) => local(j, rel, |j, r| j.statvfs(r)).await,
            Storage::S3(_) => Err(FsError::Unsupported(NO_SPACE_FIGURES)),
        }
    }

    /// A name in `dir_rel` based on `hint` that does not exist yet (STOU).
    pub async fn unique_name(&self, dir_rel: &str, hint: &str) -> Result<String, FsError> {
        match self {
            Storage::Local(j) => {
                let hint = hint.to_string();
                local(j, dir_rel, move |j, r| j.unique_name(r, &hint)).await
            }
            Storage::S3(s) => s.unique_name(dir_rel, hint).await,
        }
    }
}
