//! The S3 backend (`root = "s3://bucket/prefix"`), on `object_store`.
//!
//! - **Keys.** A user path `a/b` (normalised by `proto`: no `..`, no empty
//!   segment) is the key `prefix/a/b`. Keys are taken verbatim
//!   ([`Path::parse`], never `Path::from`, which would percent-encode `%`, `#`
//!   and friends into the key), so names written by other S3 tools round-trip.
//! - **Directories** are common prefixes (delimiter `/`). MKD writes an empty
//!   marker object `dir/`; a directory exists when its marker or any key
//!   beneath it does. The marker is never listed as a file.
//! - **Runtime.** object_store needs a multi-thread tokio runtime with IO and
//!   time; the workers are tokio-uring current-thread runtimes. One shared
//!   runtime (2 threads, made only when the root is S3) runs every request;
//!   a worker awaits its `JoinHandle`. Every call has the `[s3] timeout`,
//!   applied on that runtime, so a hung S3 ends the call (451) and never the
//!   session or the server.
//! - **Transfers.** A download is a GET (ranged after REST) whose body comes
//!   to the worker through a bounded channel; an upload's bytes go to a task
//!   owning a `BufWriter` (one PutObject below `part_size`, else a multipart
//!   upload with at most two parts in flight) through a bounded channel too,
//!   so neither a slow S3 nor a slow client lets memory grow. The upload is
//!   completed only by [`Upload::commit`], after the data connection closed
//!   cleanly with every byte; anything else aborts the multipart upload.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutPayload, RetryConfig,
};
use ringftp_proto::listing::{FileInfo, FileKind};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{FsError, Metadata, UploadMode};
use crate::config::S3Settings;

/// CopyObject's limit; a bigger object would need a multipart copy.
const COPY_MAX: u64 = 5 << 30;
/// Body chunks of a download waiting for the client (each one read of the
/// HTTP body, tens to hundreds of KiB).
const DOWNLOAD_QUEUE: usize = 8;
/// Upload chunks (up to 256 KiB each) waiting for the S3 task.
const UPLOAD_QUEUE: usize = 4;
/// Parts of one multipart upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;
/// Most names STOU tries before a random suffix.
const UNIQUE_TRIES: u32 = 100;

/// The runtime every S3 request runs on. Process-wide and never dropped: a
/// tokio runtime must not be dropped from inside another runtime (a worker
/// holding the last clone of a store would panic).
static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

fn runtime() -> std::io::Result<&'static tokio::runtime::Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ringftpd-s3")
        .enable_all()
        .build()?;
    Ok(RUNTIME.get_or_init(|| rt))
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    rt: &'static tokio::runtime::Runtime,
    timeout: Duration,
    part_size: usize,
}

/// A bucket and a key prefix (the root, or a user's home beneath it). Cheap to clone.
#[derive(Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
    /// "" or "a/b" (no leading or trailing slash).
    prefix: String,
    /// Where requests go, for the log: the endpoint URL, or "AWS".
    endpoint: String,
}

/// Maps an object_store error to the one the session replies with: 404 is a
/// missing file, 403/401 permission denied, the rest (5xx, timeouts, refused
/// connections) a storage error (451), logged here with its cause.
fn os_err(e: object_store::Error) -> FsError {
    match e {
        object_store::Error::NotFound { .. } => FsError::NotFound,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => FsError::PermissionDenied,
        object_store::Error::AlreadyExists { .. } => FsError::AlreadyExists,
        object_store::Error::InvalidPath { .. } => FsError::InvalidName,
        other => {
            tracing::warn!(error = %other, "S3 request failed");
            FsError::Storage(other.to_string())
        }
    }
}

fn timed_out() -> FsError {
    tracing::warn!("S3 request timed out");
    FsError::Storage("timed out".to_string())
}

/// The key for `rel` under `prefix`; `None` for the prefix root itself when
/// the prefix is empty (the bucket's top).
fn key(prefix: &str, rel: &str) -> Result<Option<Path>, FsError> {
    let rel = if rel == "." { "" } else { rel };
    let joined = match (prefix.is_empty(), rel.is_empty()) {
        (true, true) => return Ok(None),
        (true, false) => rel.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}/{rel}"),
    };
    if joined.starts_with('/') || joined.ends_with('/') || joined.contains("//") {
        return Err(FsError::InvalidName);
    }
    Path::parse(&joined)
        .map(Some)
        .map_err(|_| FsError::InvalidName)
}

/// The directory marker `path/` (object_store's `Path` drops a trailing
/// slash; an empty last part puts it back).
fn marker(path: &Path) -> Path {
    path.clone().join("")
}

/// The parent directory of `rel` ("." for a top-level name).
fn parent_rel(rel: &str) -> &str {
    match rel.rfind('/') {
        Some(i) => rel.get(..i).unwrap_or("."),
        None => ".",
    }
}

fn last_name(rel: &str) -> String {
    rel.rsplit('/').next().unwrap_or(rel).to_string()
}

fn file_info(name: String, meta: &ObjectMeta) -> FileInfo {
    FileInfo {
        name,
        kind: FileKind::File,
        size: meta.size,
        mtime: meta.last_modified.timestamp(),
        mode: 0o644,
        nlink: 1,
        owner: "ftp".to_string(),
        group: "ftp".to_string(),
        uid: None,
        gid: None,
        link_target: None,
        // delete, rename, retrieve, write; no append (objects are immutable).
        perm: Some("dfrw".to_string()),
    }
}

fn dir_info(name: String) -> FileInfo {
    FileInfo {
        name,
        kind: FileKind::Dir,
        size: 0,
        // A common prefix has no time of its own.
        mtime: 0,
        mode: 0o755,
        nlink: 1,
        owner: "ftp".to_string(),
        group: "ftp".to_string(),
        uid: None,
        gid: None,
        link_target: None,
        // create, delete (when empty), enter, list, mkdir, purge; no rename.
        perm: Some("cdelmp".to_string()),
    }
}

/// HEAD of an object; `None` when there is none.
async fn head(store: &dyn ObjectStore, path: &Path) -> Result<Option<ObjectMeta>, FsError> {
    match store.head(path).await {
        Ok(m) => Ok(Some(m)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(os_err(e)),
    }
}

/// Whether `path` is a directory: the top, or its marker or any key beneath
/// it exists (the first page of one listing, first entry only).
async fn dir_exists(store: &dyn ObjectStore, path: Option<&Path>) -> Result<bool, FsError> {
    let Some(path) = path else {
        return Ok(true);
    };
    match store.list(Some(path)).next().await {
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) => Err(os_err(e)),
        None => Ok(false),
    }
}

impl S3Store {
    /// Builds the client and checks that the bucket answers (one listing of
    /// the prefix), so a wrong bucket, endpoint or key fails at start.
    pub fn connect(cfg: &S3Settings) -> Result<S3Store, String> {
        let mut options = ClientOptions::new()
            .with_allow_http(true)
            .with_connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            // Whole-request timeouts would cut long GETs and slow clients;
            // every call is bounded by `cfg.timeout` per step instead.
            .with_timeout_disabled();
        if cfg.endpoint.is_some() {
            // Loopback and private endpoints: no HTTP/2 upgrade surprises.
            options = options.with_http1_only();
        }
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 2,
            retry_timeout: cfg.timeout,
        };
        // The standard AWS environment first (credentials, region, endpoint,
        // roles), then what the config says.
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&cfg.bucket)
            .with_client_options(options)
            .with_retry(retry);
        if let Some(region) = &cfg.region {
            b = b.with_region(region);
        }
        if let Some(ep) = &cfg.endpoint {
            b = b.with_endpoint(ep);
        }
        let endpoint = b.get_config_value(&AmazonS3ConfigKey::Endpoint);
        if let Some(ep) = &endpoint {
            b = b.with_allow_http(ep.starts_with("http://"));
        }
        b = b.with_virtual_hosted_style_request(!cfg.path_style.unwrap_or(endpoint.is_some()));
        if let Some(id) = &cfg.access_key_id {
            b = b.with_access_key_id(id);
        }
        if let Some(file) = &cfg.secret_access_key_file {
            b = b.with_secret_access_key(read_secret(file)?);
        }
        let store = b.build().map_err(|e| format!("S3 settings: {e}"))?;
        let rt = runtime().map_err(|e| format!("cannot start the S3 runtime: {e}"))?;
        let s = S3Store {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                rt,
                timeout: cfg.timeout,
                part_size: cfg.part_size,
            }),
            prefix: cfg.prefix.clone(),
            endpoint: endpoint.unwrap_or_else(|| "AWS".to_string()),
        };
        let store = Arc::clone(&s.inner.store);
        let prefix = key(&s.prefix, ".").map_err(|e| e.to_string())?;
        let probe = async move {
            match store.list(prefix.as_ref()).next().await {
                Some(Err(e)) => Err(e.to_string()),
                _ => Ok(()),
            }
        };
        let limit = cfg.timeout;
        // The timer is made inside the runtime (an async block), not here.
        match rt.block_on(async move { tokio::time::timeout(limit, probe).await }) {
            Ok(Ok(())) => Ok(s),
            Ok(Err(e)) => Err(format!(
                "bucket {} at {} is not usable: {e}",
                cfg.bucket, s.endpoint
            )),
            Err(_) => Err(format!(
                "bucket {} at {} did not answer within {} s",
                cfg.bucket,
                s.endpoint,
                cfg.timeout.as_secs()
            )),
        }
    }

    /// The endpoint URL requests go to, or "AWS".
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs `f` with the store on the S3 runtime, bounded by the timeout.
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, FsError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<dyn ObjectStore>) -> Fut,
        Fut: Future<Output = Result<T, FsError>> + Send + 'static,
    {
        let fut = f(Arc::clone(&self.inner.store));
        let limit = self.inner.timeout;
        // The timer is made on the S3 runtime (inside the task), not on the ring.
        let handle = self
            .inner
            .rt
            .spawn(async move { tokio::time::timeout(limit, fut).await });
        match handle.await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(timed_out()),
            Err(e) => Err(FsError::Storage(e.to_string())),
        }
    }

    fn key(&self, rel: &str) -> Result<Option<Path>, FsError> {
        key(&self.prefix, rel)
    }

    /// The key of directory `rel` for an existence check: `None` for this
    /// store's root, which always exists (an empty prefix has no keys yet).
    fn dir_key(&self, rel: &str) -> Result<Option<Path>, FsError> {
        if rel == "." {
            return Ok(None);
        }
        self.key(rel)
    }

    /// The store rooted at the directory `rel` (a user's home): it must
    /// exist, as a local home must.
    pub async fn sub(&self, rel: &str) -> Result<S3Store, FsError> {
        self.open_dir(rel).await?;
        let prefix = self
            .key(rel)?
            .map(|p| p.as_ref().to_string())
            .unwrap_or_default();
        Ok(S3Store {
            inner: Arc::clone(&self.inner),
            prefix,
            endpoint: self.endpoint.clone(),
        })
    }

    pub async fn metadata(&self, rel: &str) -> Result<Metadata, FsError> {
        let info = self.stat(rel).await?;
        Ok(Metadata {
            kind: info.kind,
            size: info.size,
            mtime: info.mtime,
            mode: info.mode,
        })
    }

    /// An object is a file; else a directory if it exists as one.
    pub async fn stat(&self, rel: &str) -> Result<FileInfo, FsError> {
        let Some(path) = self.key(rel)? else {
            return Ok(dir_info("/".to_string()));
        };
        if rel == "." {
            return Ok(dir_info("/".to_string()));
        }
        let name = last_name(rel);
        self.call(move |store| async move {
            if let Some(meta) = head(&*store, &path).await? {
                return Ok(file_info(name, &meta));
            }
            if dir_exists(&*store, Some(&path)).await? {
                return Ok(dir_info(name));
            }
            Err(FsError::NotFound)
        })
        .await
    }

    /// A directory's entries (every page of the listing), sorted by name;
    /// the one object `rel` names when it is not a directory.
    pub async fn list(&self, rel: &str, include_hidden: bool) -> Result<Vec<FileInfo>, FsError> {
        let path = self.key(rel)?;
        let top = rel == ".";
        let name = last_name(rel);
        self.call(move |store| async move {
            let listed = store
                .list_with_delimiter(path.as_ref())
                .await
                .map_err(os_err)?;
            let found = !listed.common_prefixes.is_empty() || !listed.objects.is_empty();
            if !found && !top {
                if let Some(p) = &path {
                    if let Some(meta) = head(&*store, p).await? {
                        return Ok(vec![file_info(name, &meta)]);
                    }
                }
                return Err(FsError::NotFound);
            }
            let shown = |n: &str| include_hidden || !n.starts_with('.');
            let mut out = Vec::with_capacity(listed.common_prefixes.len() + listed.objects.len());
            for p in &listed.common_prefixes {
                if let Some(n) = p.filename().filter(|n| shown(n)) {
                    out.push(dir_info(n.to_string()));
                }
            }
            for o in &listed.objects {
                // The directory's own marker.
                if path.as_ref() == Some(&o.location) {
                    continue;
                }
                if let Some(n) = o.location.filename().filter(|n| shown(n)) {
                    out.push(file_info(n.to_string(), o));
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    /// CWD: a directory exists when its marker or any key beneath it does.
    pub async fn open_dir(&self, rel: &str) -> Result<(), FsError> {
        let path = self.key(rel)?;
        if rel == "." {
            return Ok(());
        }
        self.call(move |store| async move {
            if dir_exists(&*store, path.as_ref()).await? {
                return Ok(());
            }
            match &path {
                Some(p) if head(&*store, p).await?.is_some() => Err(FsError::NotADirectory),
                _ => Err(FsError::NotFound),
            }
        })
        .await
    }

    /// MKD: the marker `dir/`, when nothing is there yet and the parent is a directory.
    pub async fn mkdir(&self, rel: &str) -> Result<(), FsError> {
        let path = self.key(rel)?.ok_or(FsError::AlreadyExists)?;
        let parent = self.dir_key(parent_rel(rel))?;
        self.call(move |store| async move {
            if head(&*store, &path).await?.is_some() || dir_exists(&*store, Some(&path)).await? {
                return Err(FsError::AlreadyExists);
            }
            if !dir_exists(&*store, parent.as_ref()).await? {
                return Err(FsError::NotFound);
            }
            store
                .put(&marker(&path), PutPayload::new())
                .await
                .map(drop)
                .map_err(os_err)
        })
        .await
    }

    /// RMD: removes the marker when nothing else is under the prefix.
    pub async fn rmdir(&self, rel: &str) -> Result<(), FsError> {
        let path = self.key(rel)?.ok_or(FsError::PermissionDenied)?;
        self.call(move |store| async move {
            let mut keys = store.list(Some(&path)).take(2);
            let mut has_marker = false;
            while let Some(m) = keys.next().await {
                let m = m.map_err(os_err)?;
                if m.location == path {
                    has_marker = true;
                } else {
                    return Err(FsError::NotEmpty);
                }
            }
            if !has_marker {
                return match head(&*store, &path).await? {
                    Some(_) => Err(FsError::NotADirectory),
                    None => Err(FsError::NotFound),
                };
            }
            store.delete(&marker(&path)).await.map_err(os_err)
        })
        .await
    }

    /// DELE: an object that exists (S3's DELETE of nothing succeeds; FTP's must not).
    pub async fn remove_file(&self, rel: &str) -> Result<(), FsError> {
        let path = self.key(rel)?.ok_or(FsError::IsADirectory)?;
        self.call(move |store| async move {
            if head(&*store, &path).await?.is_none() {
                return Err(if dir_exists(&*store, Some(&path)).await? {
                    FsError::IsADirectory
                } else {
                    FsError::NotFound
                });
            }
            store.delete(&path).await.map_err(os_err)
        })
        .await
    }

    /// RNFR/RNTO of a file: CopyObject, then DeleteObject of the source (a
    /// failed copy leaves the source alone). Directories and objects over
    /// 5 GiB are refused (see docs/edge-cases.md).
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), FsError> {
        let src = self.key(from)?.ok_or(FsError::PermissionDenied)?;
        let dst = self.key(to)?.ok_or(FsError::PermissionDenied)?;
        let dst_parent = self.dir_key(parent_rel(to))?;
        self.call(move |store| async move {
            let Some(meta) = head(&*store, &src).await? else {
                return Err(if dir_exists(&*store, Some(&src)).await? {
                    FsError::Unsupported("Renaming a directory is not supported on object storage")
                } else {
                    FsError::NotFound
                });
            };
            if meta.size > COPY_MAX {
                return Err(FsError::Unsupported(
                    "Renaming a file over 5 GiB is not supported on object storage",
                ));
            }
            if src == dst {
                return Ok(());
            }
            if dir_exists(&*store, Some(&dst)).await? {
                return Err(FsError::IsADirectory);
            }
            if !dir_exists(&*store, dst_parent.as_ref()).await? {
                return Err(FsError::NotFound);
            }
            store.copy(&src, &dst).await.map_err(os_err)?;
            store.delete(&src).await.map_err(|e| {
                tracing::warn!(from = %src, to = %dst, "renamed by copy, but the source could not be deleted");
                os_err(e)
            })
        })
        .await
    }

    /// STOU: `hint`, else `hint.1`, `hint.2`, ... that no object has (HEAD each).
    pub async fn unique_name(&self, dir_rel: &str, hint: &str) -> Result<String, FsError> {
        let base = match hint.rsplit('/').next() {
            Some(h) if !h.is_empty() && h != "." && h != ".." && !h.contains('\0') => h,
            _ => "ftp.upload",
        }
        .to_string();
        let dir = self.dir_key(dir_rel)?;
        let prefix = self.prefix.clone();
        let dir_rel = if dir_rel == "." {
            String::new()
        } else {
            format!("{dir_rel}/")
        };
        self.call(move |store| async move {
            if !dir_exists(&*store, dir.as_ref()).await? {
                return Err(FsError::NotFound);
            }
            for i in 0..UNIQUE_TRIES {
                let candidate = if i == 0 {
                    base.clone()
                } else {
                    format!("{base}.{i}")
                };
                let Some(path) = key(&prefix, &format!("{dir_rel}{candidate}"))? else {
                    continue;
                };
                if head(&*store, &path).await?.is_none()
                    && !dir_exists(&*store, Some(&path)).await?
                {
                    return Ok(candidate);
                }
            }
            let suffix: u64 = rand::random();
            Ok(format!("{base}.{suffix:016x}"))
        })
        .await
    }

    /// RETR's first step: the object's HEAD (its size for REST and the 150).
    pub async fn open_read(&self, rel: &str) -> Result<Object, FsError> {
        let path = self.key(rel)?.ok_or(FsError::IsADirectory)?;
        let p = path.clone();
        let meta = self
            .call(move |store| async move {
                match head(&*store, &p).await? {
                    Some(m) => Ok(m),
                    None if dir_exists(&*store, Some(&p)).await? => Err(FsError::IsADirectory),
                    None => Err(FsError::NotFound),
                }
            })
            .await?;
        Ok(Object { path, meta })
    }

    /// Starts the GET of `obj` from `offset` (a ranged GET after REST); the
    /// body comes through [`Download::next`]. If the object was replaced since
    /// its HEAD, the GET fails (If-Match on its ETag) rather than mixing two.
    pub fn download(&self, obj: &Object, offset: u64) -> Download {
        let (tx, rx) = mpsc::channel(DOWNLOAD_QUEUE);
        let limit = self.inner.timeout;
        let store = Arc::clone(&self.inner.store);
        let path = obj.path.clone();
        let size = obj.meta.size;
        let etag = obj.meta.e_tag.clone();
        let task = self.inner.rt.spawn(async move {
            if offset >= size {
                return; // nothing to send; a range at the end is an S3 error
            }
            let opts = GetOptions {
                range: (offset > 0).then_some(GetRange::Offset(offset)),
                if_match: etag,
                ..GetOptions::default()
            };
            let got = match tokio::time::timeout(limit, store.get_opts(&path, opts)).await {
                Ok(Ok(g)) => g,
                Ok(Err(e)) => {
                    let _ = tx.send(Err(os_err(e))).await;
                    return;
                }
                Err(_) => {
                    let _ = tx.send(Err(timed_out())).await;
                    return;
                }
            };
            let mut body = got.into_stream();
            loop {
                let chunk = match tokio::time::timeout(limit, body.next()).await {
                    Ok(None) => return,
                    Ok(Some(Ok(c))) => Ok(c),
                    Ok(Some(Err(e))) => Err(os_err(e)),
                    Err(_) => Err(timed_out()),
                };
                let failed = chunk.is_err();
                // The worker gone (client left, ABOR): stop reading.
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        Download {
            rx,
            task,
            limit: self.inner.timeout,
        }
    }

    /// STOR/STOU/APPE's target. Objects are immutable: APPE onto an existing
    /// object and REST n > 0 + STOR are refused; APPE of a new name is a STOR.
    pub async fn create_upload(&self, rel: &str, mode: UploadMode) -> Result<Upload, FsError> {
        let path = self.key(rel)?.ok_or(FsError::IsADirectory)?;
        let parent = self.dir_key(parent_rel(rel))?;
        let p = path.clone();
        self.call(move |store| async move {
            if dir_exists(&*store, Some(&p)).await? {
                return Err(FsError::IsADirectory);
            }
            let exists = head(&*store, &p).await?.is_some();
            match mode {
                UploadMode::Replace => {}
                UploadMode::Append if !exists => {}
                UploadMode::Append => {
                    return Err(FsError::Unsupported(
                        "Appending to an existing file is not supported on object storage (objects are immutable)",
                    ))
                }
                UploadMode::Resume(0) => {}
                UploadMode::Resume(_) if !exists => return Err(FsError::NotFound),
                UploadMode::Resume(_) => {
                    return Err(FsError::Unsupported(
                        "Resuming an upload (REST + STOR) is not supported on object storage (objects are immutable)",
                    ))
                }
            }
            if !dir_exists(&*store, parent.as_ref()).await? {
                return Err(FsError::NotFound);
            }
            Ok(())
        })
        .await?;
        Ok(self.start_upload(path))
    }

    fn start_upload(&self, path: Path) -> Upload {
        let (tx, mut rx) = mpsc::channel::<Chunk>(UPLOAD_QUEUE);
        let limit = self.inner.timeout;
        let store = Arc::clone(&self.inner.store);
        let part_size = self.inner.part_size;
        let task = self.inner.rt.spawn(async move {
            let mut w = BufWriter::with_capacity(store, path.clone(), part_size)
                .with_max_concurrency(PARTS_IN_FLIGHT);
            let failed = loop {
                match rx.recv().await {
                    Some(Chunk::Data(b)) => match tokio::time::timeout(limit, w.put(b)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => break os_err(e),
                        Err(_) => break timed_out(),
                    },
                    Some(Chunk::Commit) => {
                        // The last part(s), then CompleteMultipartUpload (or
                        // the one PutObject of a small file).
                        let until = limit.saturating_mul(u32::try_from(PARTS_IN_FLIGHT + 1).unwrap_or(3));
                        return match tokio::time::timeout(until, w.shutdown()).await {
                            Ok(Ok(())) => Ok(()),
                            Ok(Err(e)) => {
                                tracing::warn!(key = %path, error = %e, "S3 upload not completed");
                                Err(FsError::Storage(e.to_string()))
                            }
                            Err(_) => Err(timed_out()),
                        };
                    }
                    // Dropped without commit: the transfer failed or was aborted.
                    None => break FsError::Storage("upload aborted".to_string()),
                }
            };
            if let Err(e) = tokio::time::timeout(limit, w.abort()).await.unwrap_or_else(|_| {
                Err(object_store::Error::Generic {
                    store: "S3",
                    source: "abort timed out".into(),
                })
            }) {
                tracing::warn!(key = %path, error = %e, "S3 multipart upload not aborted; a lifecycle rule removes it");
            }
            Err(failed)
        });
        Upload {
            tx: Some(tx),
            task: Some(task),
            limit,
        }
    }
}

fn read_secret(file: &std::path::Path) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt;
    let shown = file.display();
    let meta =
        std::fs::metadata(file).map_err(|e| format!("secret_access_key_file {shown}: {e}"))?;
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "secret_access_key_file {shown}: readable by others (mode {:o}); chmod 600 it",
            meta.mode() & 0o777
        ));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("secret_access_key_file {shown}: {e}"))?;
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return Err(format!("secret_access_key_file {shown}: empty"));
    }
    Ok(secret)
}

/// An object about to be downloaded: its key and HEAD.
pub struct Object {
    path: Path,
    meta: ObjectMeta,
}

impl Object {
    pub fn size(&self) -> u64 {
        self.meta.size
    }
}

/// The body of a GET, chunk by chunk; dropping it stops the GET.
pub struct Download {
    rx: mpsc::Receiver<Result<Bytes, FsError>>,
    task: JoinHandle<()>,
    limit: Duration,
}

impl Download {
    /// The next chunk; `None` at the end of the object.
    pub async fn next(&mut self) -> Result<Option<Bytes>, FsError> {
        match tokio::time::timeout(self.limit, self.rx.recv()).await {
            Ok(Some(Ok(b))) => Ok(Some(b)),
            Ok(Some(Err(e))) => Err(e),
            Ok(None) => Ok(None),
            Err(_) => Err(timed_out()),
        }
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Chunk {
    Data(Bytes),
    Commit,
}

/// An upload in progress: bytes go to the S3 task in order; only
/// [`Upload::commit`] completes it, and [`Upload::abort`] aborts the
/// multipart upload so nothing is left behind and the old object stays. A
/// plain drop aborts too: the task sees the channel close without a Commit
/// and aborts on its own (bounded by the timeout), unwaited.
pub struct Upload {
    tx: Option<mpsc::Sender<Chunk>>,
    task: Option<JoinHandle<Result<(), FsError>>>,
    limit: Duration,
}

impl Upload {
    /// Hands `bytes` to the upload; waits while the queue is full (S3 slower
    /// than the client), at most the timeout.
    pub async fn send(&mut self, bytes: Bytes) -> Result<(), FsError> {
        let Some(tx) = &self.tx else {
            return Err(FsError::Storage("upload already finished".to_string()));
        };
        match tokio::time::timeout(self.limit, tx.send(Chunk::Data(bytes))).await {
            Ok(Ok(())) => Ok(()),
            // The task ended: it failed; its error says why.
            Ok(Err(_)) => Err(self.result().await.err().unwrap_or_else(timed_out)),
            Err(_) => Err(timed_out()),
        }
    }

    /// Completes the upload (the last parts, then CompleteMultipartUpload).
    pub async fn commit(mut self) -> Result<(), FsError> {
        if let Some(tx) = self.tx.take() {
            if tx.send(Chunk::Commit).await.is_err() {
                return self
                    .result()
                    .await
                    .and(Err(FsError::Storage("upload ended".to_string())));
            }
        }
        self.result().await
    }

    /// Aborts the upload and waits until S3 has dropped its parts.
    pub async fn abort(mut self) {
        self.tx = None;
        let _ = self.result().await;
    }

    async fn result(&mut self) -> Result<(), FsError> {
        let Some(task) = self.task.take() else {
            return Err(FsError::Storage("upload already finished".to_string()));
        };
        match task.await {
            Ok(r) => r,
            Err(e) => Err(FsError::Storage(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_verbatim_under_the_prefix() {
        let k = |p: &str, r: &str| key(p, r).unwrap().map(|p| p.as_ref().to_string());
        assert_eq!(k("", "."), None);
        assert_eq!(k("pre/fix", "."), Some("pre/fix".to_string()));
        assert_eq!(k("", "a b/%#?ü"), Some("a b/%#?ü".to_string()));
        assert_eq!(k("p", "x/y"), Some("p/x/y".to_string()));
        assert!(key("", "a//b").is_err());
        assert!(key("", "/a").is_err());
        assert!(key("", "a/../b").is_err());
        let m = marker(&Path::parse("p/dir").unwrap());
        assert_eq!(m.as_ref(), "p/dir/");
        assert_eq!(parent_rel("a/b/c"), "a/b");
        assert_eq!(parent_rel("a"), ".");
    }
}
