//! Where the served files live: a local directory (the openat2 jail) or, with
//! `root = "s3://bucket/prefix"`, an S3 bucket (`s3`).
//!
//! [`Storage`] is what a logged-in session holds; every verb in `cmd/` goes
//! through it. The local backend is exactly [`Jail`]: each operation runs on
//! tokio's blocking pool, as before, and RETR/STOR keep their splice paths
//! (they take the [`Jail`] out of [`Storage::Local`] themselves). An enum
//! rather than a trait object: the ring's futures are `!Send`, and a
//! `match` costs nothing on the local path.

use std::future::Future;

use ringftp_proto::listing::FileInfo;
use ringftp_proto::statvfs::FsStats;

pub use crate::jail::{FsError, Jail, Metadata, UploadMode};

/// A user's files: the served root or their home beneath it. Cheap to clone.
#[derive(Clone)]
pub enum Storage {
    Local(Jail),
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

impl Storage {
    /// Runs `f` on the local jail with `rel` (owned), on the blocking pool.
    fn local<T, F>(&self, rel: &str, f: F) -> impl Future<Output = Result<T, FsError>>
    where
        T: Send + 'static,
        F: FnOnce(&Jail, &str) -> Result<T, FsError> + Send + 'static,
    {
        let rel = rel.to_string();
        let Storage::Local(jail) = self;
        let jail = jail.clone();
        async move { fs(&jail, move |j| f(j, &rel)).await }
    }

    /// The storage rooted at the directory `rel` beneath this one (a user's home).
    pub async fn sub(&self, rel: &str) -> Result<Storage, FsError> {
        self.local(rel, |j, r| j.sub(r)).await.map(Storage::Local)
    }

    /// Size, time and kind of `rel` (symlinks followed beneath the root).
    pub async fn metadata(&self, rel: &str) -> Result<Metadata, FsError> {
        self.local(rel, |j, r| j.metadata(r)).await
    }

    /// Facts about one entry, named by its last component.
    pub async fn stat(&self, rel: &str) -> Result<FileInfo, FsError> {
        self.local(rel, |j, r| j.stat(r)).await
    }

    /// A directory's entries sorted by name, or the one file `rel` names.
    pub async fn list(&self, rel: &str, include_hidden: bool) -> Result<Vec<FileInfo>, FsError> {
        self.local(rel, move |j, r| j.list(r, include_hidden)).await
    }

    /// Checks that `rel` is a directory the user may enter (CWD).
    pub async fn open_dir(&self, rel: &str) -> Result<(), FsError> {
        self.local(rel, |j, r| j.open_dir(r)).await
    }

    pub async fn mkdir(&self, rel: &str) -> Result<(), FsError> {
        self.local(rel, |j, r| j.mkdir(r)).await
    }

    pub async fn rmdir(&self, rel: &str) -> Result<(), FsError> {
        self.local(rel, |j, r| j.rmdir(r)).await
    }

    pub async fn remove_file(&self, rel: &str) -> Result<(), FsError> {
        self.local(rel, |j, r| j.remove_file(r)).await
    }

    pub async fn rename(&self, from: &str, to: &str) -> Result<(), FsError> {
        let from = from.to_string();
        self.local(to, move |j, r| j.rename(&from, r)).await
    }

    pub async fn chmod(&self, rel: &str, mode: u32) -> Result<(), FsError> {
        self.local(rel, move |j, r| j.chmod(r, mode)).await
    }

    pub async fn symlink(&self, target: &str, link: &str) -> Result<(), FsError> {
        let target = target.to_string();
        self.local(link, move |j, r| j.symlink(&target, r)).await
    }

    pub async fn set_mtime(&self, rel: &str, mtime: i64) -> Result<(), FsError> {
        self.local(rel, move |j, r| j.set_mtime(r, mtime)).await
    }

    pub async fn available(&self, rel: &str) -> Result<u64, FsError> {
        self.local(rel, |j, r| j.available(r)).await
    }

    pub async fn statvfs(&self, rel: &str) -> Result<FsStats, FsError> {
        self.local(rel, |j, r| j.statvfs(r)).await
    }

    /// A name in `dir_rel` based on `hint` that does not exist yet (STOU).
    pub async fn unique_name(&self, dir_rel: &str, hint: &str) -> Result<String, FsError> {
        let hint = hint.to_string();
        self.local(dir_rel, move |j, r| j.unique_name(r, &hint))
            .await
    }
}
