//! Every filesystem operation of the server, beneath one root directory handle.
//!
//! A [`Jail`] holds an `O_PATH | O_DIRECTORY` descriptor of its root. Paths given to it are
//! relative to that root and were normalised by `ringftp_proto::path` (no leading `/`, no
//! `..`, `.` is the root), but the jail does not rely on that: every open goes through
//! `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, so `..`, absolute paths and
//! symlinks whose target lies outside fail with `EXDEV` ([`FsError::Escape`]) instead of
//! leaving the root. Operations on a final component (unlink, rmdir, rename, mkdir, symlink,
//! lstat) open the *parent* beneath the root and call the `*at()` syscall with the last
//! component, never following a final symlink. No host path is ever built by joining strings.
//!
//! All functions block; the server runs them on tokio's blocking pool.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use rand::Rng;
use ringftp_proto::listing::{FileInfo, FileKind};
use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags, Stat, CWD};
use rustix::io::Errno;

/// Why a filesystem operation failed; [`FsError::message`] is the text shown to FTP clients.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("permission denied")]
    PermissionDenied,
    #[error("file exists")]
    AlreadyExists,
    #[error("not a directory")]
    NotADirectory,
    #[error("is a directory")]
    IsADirectory,
    #[error("directory not empty")]
    NotEmpty,
    /// The path would leave the jail (`EXDEV` / `ELOOP` from `RESOLVE_BENEATH`).
    #[error("path leaves the served root")]
    Escape,
    #[error("no space left on device")]
    NoSpace,
    /// Not produced by the jail; the session uses it for read-only accounts.
    #[error("read-only account")]
    ReadOnlyUser,
    #[error("invalid file name")]
    InvalidName,
    /// Not produced by the jail: object storage cannot do this (the text says what).
    #[error("{0}")]
    Unsupported(&'static str),
    /// Not produced by the jail: the object store failed (5xx, timeout,
    /// connection refused); the cause is logged, the client gets 451.
    #[error("storage error: {0}")]
    Storage(String),
    #[error("{0}")]
    Other(io::Error),
}

impl FsError {
    /// Maps an I/O error by its errno.
    pub fn from_io(e: io::Error) -> FsError {
        match e.raw_os_error() {
            Some(libc::ENOENT) => FsError::NotFound,
            Some(libc::EACCES | libc::EPERM) => FsError::PermissionDenied,
            Some(libc::EEXIST) => FsError::AlreadyExists,
            Some(libc::ENOTDIR) => FsError::NotADirectory,
            Some(libc::EISDIR) => FsError::IsADirectory,
            Some(libc::ENOTEMPTY) => FsError::NotEmpty,
            Some(libc::EXDEV | libc::ELOOP) => FsError::Escape,
            Some(libc::ENOSPC | libc::EDQUOT) => FsError::NoSpace,
            Some(libc::ENAMETOOLONG) => FsError::InvalidName,
            _ => FsError::Other(e),
        }
    }

    fn errno(e: Errno) -> FsError {
        FsError::from_io(e.into())
    }

    /// The text for a reply, in the words of `strerror(3)`. `Escape` reads as
    /// "Permission denied" so that clients learn nothing about what lies outside.
    pub fn message(&self) -> &'static str {
        match self {
            FsError::NotFound => "No such file or directory",
            FsError::PermissionDenied | FsError::Escape | FsError::ReadOnlyUser => {
                "Permission denied"
            }
            FsError::AlreadyExists => "File exists",
            FsError::NotADirectory => "Not a directory",
            FsError::IsADirectory => "Is a directory",
            FsError::NotEmpty => "Directory not empty",
            FsError::NoSpace => "No space left on device",
            FsError::InvalidName => "Invalid file name",
            FsError::Unsupported(text) => text,
            FsError::Storage(_) => "Requested action aborted: storage error",
            FsError::Other(e) => other_message(e),
        }
    }
}

fn other_message(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EXDEV) => "Invalid cross-device link",
        Some(libc::EROFS) => "Read-only file system",
        Some(libc::EINVAL) => "Invalid argument",
        Some(libc::EBUSY) => "Device or resource busy",
        Some(libc::EMLINK) => "Too many links",
        Some(libc::EIO) => "Input/output error",
        Some(libc::ETXTBSY) => "Text file busy",
        Some(libc::EFBIG) => "File too large",
        Some(libc::ENXIO) => "No such device or address",
        _ => "Operation failed",
    }
}

/// What `SIZE`, `MDTM` and `RETR` need to know about a file (symlinks followed).
#[derive(Debug, Clone)]
pub struct Metadata {
    pub kind: FileKind,
    pub size: u64,
    pub mtime: i64,
    pub mode: u32,
}

/// How [`Jail::create_upload`] opens its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// `STOR`/`STOU`: the file gets exactly the uploaded bytes.
    Replace,
    /// `APPE`: the bytes go after the current end.
    Append,
    /// `REST n` then `STOR`: the bytes go at offset `n`; everything after `n` is dropped first.
    Resume(u64),
}

/// A root directory and everything beneath it. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Jail {
    root: Arc<OwnedFd>,
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);
/// Opening to read: O_NONBLOCK so that a FIFO cannot hang the open (cleared once the file is
/// known to be regular).
const READ_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::NOCTTY).union(OFlags::NONBLOCK);

/// `openat2` beneath `dir`, retrying the `EAGAIN` the kernel returns when a concurrent
/// rename or mount raced with `RESOLVE_BENEATH`.
fn beneath(dir: BorrowedFd<'_>, path: &str, flags: OFlags, mode: Mode) -> Result<OwnedFd, FsError> {
    let path = openat2_path(path)?;
    // openat2 insists on a zero mode unless it creates.
    let mode = if flags.contains(OFlags::CREATE) {
        mode
    } else {
        Mode::empty()
    };
    let mut tries = 0;
    loop {
        match rfs::openat2(dir, path, flags | OFlags::CLOEXEC, mode, RESOLVE) {
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            Err(e) => return Err(FsError::errno(e)),
            Ok(fd) => return Ok(fd),
        }
    }
}

/// [`beneath`] from the kernel's dentry cache alone (`RESOLVE_CACHED`, Linux 5.12), never
/// waiting for a disk, for the ring thread. `None` when that cannot answer (a name not in
/// the cache, a racing rename: EAGAIN; an older kernel: EINVAL/ENOSYS); the caller then
/// opens with [`beneath`] on the blocking pool. Not for O_CREAT/O_TRUNC, which the kernel
/// never answers from the cache.
fn beneath_cached(
    dir: BorrowedFd<'_>,
    path: &str,
    flags: OFlags,
) -> Option<Result<OwnedFd, FsError>> {
    let path = match openat2_path(path) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    let resolve = RESOLVE.union(ResolveFlags::CACHED);
    match rfs::openat2(dir, path, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
        Ok(fd) => Some(Ok(fd)),
        Err(Errno::AGAIN | Errno::INVAL | Errno::NOSYS) => None,
        Err(e) => Some(Err(FsError::errno(e))),
    }
}

/// The path as openat2 takes it: no NUL, and "." for the directory itself.
fn openat2_path(path: &str) -> Result<&str, FsError> {
    check_path(path)?;
    Ok(if path.is_empty() { "." } else { path })
}

fn check_path(path: &str) -> Result<(), FsError> {
    if path.as_bytes().contains(&0) {
        return Err(FsError::InvalidName);
    }
    Ok(())
}

/// Splits `rel` into (parent, last component). `None` when `rel` names the root itself.
/// A leading `/` is kept in the parent so that opening it fails with `Escape`.
fn split(rel: &str) -> Result<Option<(&str, &str)>, FsError> {
    check_path(rel)?;
    let trimmed = rel.trim_end_matches('/');
    if trimmed.is_empty() {
        // "" is the root, "/" (absolute) is not ours.
        return if rel.starts_with('/') {
            Err(FsError::Escape)
        } else {
            Ok(None)
        };
    }
    let (parent, last) = match trimmed.rfind('/') {
        Some(0) => ("/", trimmed.get(1..).unwrap_or("")),
        Some(i) => (
            trimmed.get(..i).unwrap_or("."),
            trimmed.get(i + 1..).unwrap_or(""),
        ),
        None => (".", trimmed),
    };
    match last {
        "." if parent == "." => Ok(None),
        "." => Err(FsError::InvalidName),
        ".." => Err(FsError::Escape),
        _ => Ok(Some((parent, last))),
    }
}

fn kind_of(st: &Stat) -> FileKind {
    match rfs::FileType::from_raw_mode(st.st_mode) {
        rfs::FileType::RegularFile => FileKind::File,
        rfs::FileType::Directory => FileKind::Dir,
        rfs::FileType::Symlink => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn meta_of(st: &Stat) -> Metadata {
    Metadata {
        kind: kind_of(st),
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime: st.st_mtime as i64,
        mode: (st.st_mode as u32) & 0o7777,
    }
}

impl Jail {
    /// Opens `root`, which must be an existing directory. Fails with `ENOSYS` on kernels
    /// without `openat2` (before 5.6), since the jail cannot be kept then.
    pub fn open(root: &Path) -> io::Result<Jail> {
        let fd = rfs::openat(
            CWD,
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        // Probe openat2 once, so an old kernel fails at start-up, not at the first login.
        rfs::openat2(
            &fd,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )?;
        Ok(Jail { root: Arc::new(fd) })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    fn path_fd(&self, rel: &str) -> Result<OwnedFd, FsError> {
        beneath(self.fd(), rel, OFlags::PATH, Mode::empty())
    }

    fn parent(&self, rel: &str) -> Result<Option<(OwnedFd, String)>, FsError> {
        match split(rel)? {
            None => Ok(None),
            Some((parent, last)) => {
                let fd = beneath(
                    self.fd(),
                    parent,
                    OFlags::PATH | OFlags::DIRECTORY,
                    Mode::empty(),
                )?;
                Ok(Some((fd, last.to_string())))
            }
        }
    }

    /// A jail rooted at the directory `rel` beneath this one (a user's home).
    pub fn sub(&self, rel: &str) -> Result<Jail, FsError> {
        let fd = beneath(
            self.fd(),
            rel,
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        Ok(Jail { root: Arc::new(fd) })
    }

    /// Size, time and kind of `rel`, following symlinks (beneath the root only).
    pub fn metadata(&self, rel: &str) -> Result<Metadata, FsError> {
        let fd = self.path_fd(rel)?;
        let st = rfs::fstat(&fd).map_err(FsError::errno)?;
        Ok(meta_of(&st))
    }

    /// `lstat`-like information about one entry; its name is the last component (`/` for the root).
    pub fn stat(&self, rel: &str) -> Result<FileInfo, FsError> {
        match self.parent(rel)? {
            None => {
                let st = rfs::fstat(self.fd()).map_err(FsError::errno)?;
                let parent_writable = false; // the root cannot be renamed or removed
                Ok(file_info("/".to_string(), &st, None, parent_writable))
            }
            Some((dir, last)) => {
                let st = rfs::statat(&dir, last.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(FsError::errno)?;
                let pst = rfs::fstat(&dir).map_err(FsError::errno)?;
                let target = link_target(dir.as_fd(), OsStr::new(&last), &st);
                Ok(file_info(last, &st, target, writable_dir(&pst)))
            }
        }
    }

    /// The entries of directory `rel` sorted by name (without `.` and `..`; dotfiles only with
    /// `include_hidden`), or a one-element list when `rel` is not a directory. Symlinks are
    /// reported as such, with their target and their own (`lstat`) data.
    pub fn list(&self, rel: &str, include_hidden: bool) -> Result<Vec<FileInfo>, FsError> {
        let fd = match beneath(
            self.fd(),
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(FsError::NotADirectory) => return self.stat(rel).map(|i| vec![i]),
            Err(e) => return Err(e),
        };
        let pst = rfs::fstat(&fd).map_err(FsError::errno)?;
        let parent_writable = writable_dir(&pst);
        let mut dir = rfs::Dir::read_from(&fd).map_err(FsError::errno)?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(FsError::errno)?;
            let name = entry.file_name();
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." || (!include_hidden && bytes.first() == Some(&b'.'))
            {
                continue;
            }
            let st = match rfs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue, // removed while we read
                Err(e) => return Err(FsError::errno(e)),
            };
            let target = link_target(fd.as_fd(), OsStr::from_bytes(bytes), &st);
            let shown = String::from_utf8_lossy(bytes).into_owned();
            out.push(file_info(shown, &st, target, parent_writable));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Opens a regular file for reading (symlinks followed beneath the root).
    pub fn open_read(&self, rel: &str) -> Result<(File, Metadata), FsError> {
        Self::readable_file(beneath(self.fd(), rel, READ_FLAGS, Mode::empty())?)
    }

    /// [`Jail::open_read`] from the dentry cache alone, on the calling (ring) thread; `None`
    /// sends the caller to [`Jail::open_read`] on the blocking pool (see [`beneath_cached`]).
    /// Saves a thread hand-off per download, most of the server's own cost for small files.
    pub fn open_read_cached(&self, rel: &str) -> Option<Result<(File, Metadata), FsError>> {
        Some(beneath_cached(self.fd(), rel, READ_FLAGS)?.and_then(Self::readable_file))
    }

    /// Checks that `fd` (opened with O_NONBLOCK) is a regular file and makes it blocking.
    /// Only fstat and fcntl on an open file: no lookup, no disk wait.
    fn readable_file(fd: OwnedFd) -> Result<(File, Metadata), FsError> {
        let st = rfs::fstat(&fd).map_err(FsError::errno)?;
        let meta = meta_of(&st);
        match meta.kind {
            FileKind::File => {}
            FileKind::Dir => return Err(FsError::IsADirectory),
            _ => return Err(FsError::PermissionDenied),
        }
        rfs::fcntl_setfl(&fd, OFlags::empty()).map_err(FsError::errno)?;
        Ok((File::from(fd), meta))
    }

    /// Checks that `rel` is an existing directory we may enter (for `CWD`).
    pub fn open_dir(&self, rel: &str) -> Result<(), FsError> {
        let fd = beneath(
            self.fd(),
            rel,
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        // Looking up "." inside needs search (x) permission on the directory itself.
        beneath(
            fd.as_fd(),
            ".",
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        Ok(())
    }

    /// Creates directory `rel` with mode 0755 (the umask applies).
    pub fn mkdir(&self, rel: &str) -> Result<(), FsError> {
        let (dir, last) = self.parent(rel)?.ok_or(FsError::AlreadyExists)?;
        rfs::mkdirat(&dir, last.as_str(), Mode::from_raw_mode(0o755)).map_err(FsError::errno)
    }

    /// Removes the empty directory `rel`; the root itself cannot be removed.
    pub fn rmdir(&self, rel: &str) -> Result<(), FsError> {
        let (dir, last) = self.parent(rel)?.ok_or(FsError::PermissionDenied)?;
        rfs::unlinkat(&dir, last.as_str(), AtFlags::REMOVEDIR).map_err(FsError::errno)
    }

    /// Removes a file or symlink (never a directory: `IsADirectory`).
    pub fn remove_file(&self, rel: &str) -> Result<(), FsError> {
        let (dir, last) = self.parent(rel)?.ok_or(FsError::IsADirectory)?;
        // Linux's unlink(2) never removes a directory (EISDIR), so there is no race to lose here.
        rfs::unlinkat(&dir, last.as_str(), AtFlags::empty()).map_err(FsError::errno)
    }

    /// Renames within the jail (`renameat`, final symlinks not followed). Renaming the root,
    /// or onto it, is refused.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), FsError> {
        let (fdir, flast) = self.parent(from)?.ok_or(FsError::PermissionDenied)?;
        let (tdir, tlast) = self.parent(to)?.ok_or(FsError::PermissionDenied)?;
        match rfs::renameat(&fdir, flast.as_str(), &tdir, tlast.as_str()) {
            Ok(()) => Ok(()),
            // Across mount points inside the root: not an escape, just impossible.
            Err(Errno::XDEV) => Err(FsError::Other(Errno::XDEV.into())),
            Err(e) => Err(FsError::errno(e)),
        }
    }

    /// Sets permission bits (`mode & 0o7777`). A final symlink is followed only beneath the
    /// root: the target is opened with `openat2` as an `O_PATH` descriptor and changed
    /// through `/proc/self/fd/N`, which names exactly that inode (no second lookup, no race).
    pub fn chmod(&self, rel: &str, mode: u32) -> Result<(), FsError> {
        let fd = self.path_fd(rel)?;
        let mode = Mode::from_raw_mode(mode & 0o7777);
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        match rfs::chmodat(CWD, proc_path.as_str(), mode, AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(Errno::NOENT) => {
                // No /proc: reopen the same inode for reading and fchmod it.
                let st = rfs::fstat(&fd).map_err(FsError::errno)?;
                let flags = match kind_of(&st) {
                    FileKind::Dir => OFlags::RDONLY | OFlags::DIRECTORY,
                    FileKind::File => OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
                    _ => return Err(FsError::PermissionDenied),
                };
                let rfd = beneath(fd.as_fd(), ".", flags, Mode::empty()).or_else(|_| {
                    // "." works only for directories; files are reopened by path.
                    beneath(self.fd(), rel, flags, Mode::empty())
                })?;
                rfs::fchmod(&rfd, mode).map_err(FsError::errno)
            }
            Err(e) => Err(FsError::errno(e)),
        }
    }

    /// Creates symlink `link_rel` whose target is `target`, stored verbatim; it is resolved
    /// beneath the root whenever it is used, so a target outside the jail is harmless.
    pub fn symlink(&self, target: &str, link_rel: &str) -> Result<(), FsError> {
        check_path(target)?;
        if target.is_empty() {
            return Err(FsError::InvalidName);
        }
        let (dir, last) = self.parent(link_rel)?.ok_or(FsError::AlreadyExists)?;
        rfs::symlinkat(target, &dir, last.as_str()).map_err(FsError::errno)
    }

    /// Sets the modification time (`MFMT`), following a final symlink beneath the root.
    pub fn set_mtime(&self, rel: &str, mtime: i64) -> Result<(), FsError> {
        let fd = self.path_fd(rel)?;
        let times = rfs::Timestamps {
            last_access: rfs::Timespec {
                tv_sec: 0,
                tv_nsec: rfs::UTIME_OMIT,
            },
            last_modification: rfs::Timespec {
                tv_sec: mtime,
                tv_nsec: 0,
            },
        };
        rfs::utimensat(&fd, "", &times, AtFlags::EMPTY_PATH).map_err(FsError::errno)
    }

    /// Free space for the user in bytes on the filesystem holding `rel` (`AVBL`).
    pub fn available(&self, rel: &str) -> Result<u64, FsError> {
        let fd = self.path_fd(rel)?;
        let vfs = rfs::fstatvfs(&fd).map_err(FsError::errno)?;
        Ok(vfs.f_bavail.saturating_mul(vfs.f_frsize))
    }

    /// statvfs(3) of the filesystem holding `rel` (SITE STATVFS, for `df`).
    pub fn statvfs(&self, rel: &str) -> Result<ringftp_proto::statvfs::FsStats, FsError> {
        let fd = self.path_fd(rel)?;
        let v = rfs::fstatvfs(&fd).map_err(FsError::errno)?;
        Ok(ringftp_proto::statvfs::FsStats {
            frsize: v.f_frsize,
            blocks: v.f_blocks,
            bfree: v.f_bfree,
            bavail: v.f_bavail,
            files: v.f_files,
            ffree: v.f_ffree,
            favail: v.f_favail,
        })
    }

    /// Opens the target of an upload; see [`Upload`] for the rules.
    pub fn create_upload(&self, rel: &str, mode: UploadMode) -> Result<Upload, FsError> {
        let (dir, last) = self.parent(rel)?.ok_or(FsError::IsADirectory)?;
        let file_mode = Mode::from_raw_mode(0o644);
        let open = |flags: OFlags| -> Result<File, FsError> {
            let fd = beneath(
                dir.as_fd(),
                &last,
                OFlags::WRONLY | OFlags::NOCTTY | OFlags::NONBLOCK | flags,
                file_mode,
            )?;
            regular_blocking(fd)
        };
        match mode {
            UploadMode::Replace => {
                match rfs::statat(&dir, last.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    Err(Errno::NOENT) => {
                        let file = open(OFlags::CREATE | OFlags::EXCL)?;
                        Ok(Upload::direct(file, 0))
                    }
                    Err(e) => Err(FsError::errno(e)),
                    Ok(st) => match kind_of(&st) {
                        FileKind::Dir => Err(FsError::IsADirectory),
                        FileKind::Symlink => {
                            // Through a symlink (beneath the root only) the target is rewritten in
                            // place: the temporary file could not be renamed over the link's target.
                            let file = open(OFlags::CREATE | OFlags::TRUNC)?;
                            Ok(Upload::direct(file, 0))
                        }
                        FileKind::Other => Err(FsError::PermissionDenied),
                        FileKind::File => {
                            let (file, tmp) = create_temp(dir.as_fd(), &last)?;
                            let upload = Upload {
                                file,
                                offset: 0,
                                temp: Some(Temp {
                                    dir,
                                    tmp,
                                    target: last,
                                }),
                            };
                            // The new content keeps the old file's permission bits (a 0600
                            // file must not become readable by others by being replaced);
                            // set-id bits are dropped.
                            let keep = Mode::from_raw_mode(meta_of(&st).mode & 0o777);
                            rfs::fchmod(&upload.file, keep).map_err(FsError::errno)?;
                            Ok(upload)
                        }
                    },
                }
            }
            UploadMode::Append => {
                let file = open(OFlags::CREATE)?;
                let size = file.metadata().map_err(FsError::from_io)?.len();
                Ok(Upload::direct(file, size))
            }
            UploadMode::Resume(n) => {
                let file = if n == 0 {
                    open(OFlags::CREATE)?
                } else {
                    open(OFlags::empty())?
                };
                let size = file.metadata().map_err(FsError::from_io)?.len();
                // Shorter: the stale tail goes. Longer: the file is extended to n with a
                // hole, which the client fills; a segmented upload (ringftp, several
                // connections) starts its later parts so, as vsftpd allows.
                if n != size {
                    file.set_len(n).map_err(FsError::from_io)?;
                }
                Ok(Upload::direct(file, n))
            }
        }
    }

    /// A name in `dir_rel` that does not exist yet, based on `hint` (`STOU`): the hint itself,
    /// else `hint.1`, `hint.2`, ... The name is only reserved by the `O_EXCL` create of the
    /// upload that follows.
    pub fn unique_name(&self, dir_rel: &str, hint: &str) -> Result<String, FsError> {
        let dir = beneath(
            self.fd(),
            dir_rel,
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        let base = match hint.rsplit('/').next() {
            Some(h) if !h.is_empty() && h != "." && h != ".." && !h.contains('\0') => h,
            _ => "ftp.upload",
        };
        for i in 0..10_000u32 {
            let candidate = if i == 0 {
                base.to_string()
            } else {
                format!("{base}.{i}")
            };
            match rfs::statat(&dir, candidate.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Err(Errno::NOENT) => return Ok(candidate),
                Err(e) => return Err(FsError::errno(e)),
                Ok(_) => {}
            }
        }
        let suffix: u64 = rand::thread_rng().gen();
        Ok(format!("{base}.{suffix:016x}"))
    }
}

/// Fails unless `fd` is a regular file; then clears `O_NONBLOCK`.
fn regular_blocking(fd: OwnedFd) -> Result<File, FsError> {
    let st = rfs::fstat(&fd).map_err(FsError::errno)?;
    match kind_of(&st) {
        FileKind::File => {}
        FileKind::Dir => return Err(FsError::IsADirectory),
        _ => return Err(FsError::PermissionDenied),
    }
    let flags = rfs::fcntl_getfl(&fd).map_err(FsError::errno)?;
    rfs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK).map_err(FsError::errno)?;
    Ok(File::from(fd))
}

/// Creates `.<name>.ringftp-<random>.part` with `O_EXCL`, mode 0644, in `dir`, and holds an
/// exclusive `flock` on it for as long as the file stays open: that lock is what tells
/// [`Jail::sweep_stale_uploads`] of any ringftpd sharing this tree that the upload is live.
/// The kernel drops it when the process dies, even by `kill -9`.
fn create_temp(dir: BorrowedFd<'_>, name: &str) -> Result<(File, String), FsError> {
    // Keep the temporary name within NAME_MAX (255 bytes).
    let mut cut = name.len().min(200);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let stem = name.get(..cut).unwrap_or("upload");
    for _ in 0..16 {
        let tag: u64 = rand::thread_rng().gen();
        let tmp = format!(".{stem}.ringftp-{tag:016x}.part");
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOCTTY;
        match beneath(dir, &tmp, flags, Mode::from_raw_mode(0o644)) {
            Ok(fd) => {
                // Blocking: a sweeper holds the lock only for the unlink of a file it found
                // unlocked, which can only be this one in the instant before our lock.
                match rfs::flock(&fd, rfs::FlockOperation::LockExclusive) {
                    Ok(()) => {}
                    // A filesystem without flock (some NFS mounts): the upload goes on
                    // unlocked; a sweep cannot lock the file either, so it leaves it.
                    Err(Errno::NOLCK | Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => {
                        tracing::debug!(file = %tmp, "no flock on this filesystem");
                    }
                    Err(e) => return Err(FsError::errno(e)),
                }
                if same_file_at(dir, &tmp, &fd) {
                    return Ok((File::from(fd), tmp));
                }
                // A sweep of another instance removed it between create and lock: new name.
            }
            Err(FsError::AlreadyExists) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(FsError::AlreadyExists)
}

/// Whether `name` in `dir` (not following a symlink) is the inode open as `fd`.
fn same_file_at(dir: BorrowedFd<'_>, name: &str, fd: &OwnedFd) -> bool {
    match (
        rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW),
        rfs::fstat(fd),
    ) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

/// Whether `name` has the form of [`create_temp`]'s files: `.<stem>.ringftp-<16 hex>.part`.
fn is_temp_name(name: &[u8]) -> bool {
    const TAIL: usize = ".ringftp-".len() + 16 + ".part".len();
    let Some(head) = name.len().checked_sub(TAIL) else {
        return false;
    };
    let (stem, tail) = name.split_at(head);
    stem.len() >= 2
        && stem.first() == Some(&b'.')
        && tail.starts_with(b".ringftp-")
        && tail.ends_with(b".part")
        && tail
            .get(9..25)
            .is_some_and(|hex| hex.iter().all(|b| b.is_ascii_hexdigit()))
}

/// Most directory entries [`Jail::sweep_stale_uploads`] looks at, and how deep it goes:
/// bounded work at every start, whatever the tree.
pub const SWEEP_MAX_ENTRIES: u64 = 1_000_000;
pub const SWEEP_MAX_DEPTH: usize = 64;

/// What [`Jail::sweep_stale_uploads`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Stale temporary files removed (their upload's process is gone).
    pub removed: u64,
    /// Temporary files left alone because a live upload holds their lock.
    pub live: u64,
    /// Temporary files that could not be checked (not readable, vanished, an error).
    pub skipped: u64,
    /// The walk stopped at [`SWEEP_MAX_ENTRIES`]; deeper than [`SWEEP_MAX_DEPTH`] is never seen.
    pub truncated: bool,
}

impl Jail {
    /// Removes the temporary files of uploads whose process died (crash, `kill -9`, power
    /// loss) anywhere beneath the root, leaving those of live uploads, which hold an
    /// exclusive `flock` on them ([`create_temp`]); several ringftpd may share one tree.
    /// The walk never follows a symlink (`RESOLVE_NO_SYMLINKS`), opens each directory beneath
    /// its parent's handle, keeps about one descriptor per level, and stops after
    /// `max_entries` entries or below `max_depth` levels. Blocks: run it on its own thread.
    pub fn sweep_stale_uploads(&self, max_entries: u64, max_depth: usize) -> Sweep {
        let mut sweep = Sweep::default();
        let Ok(top) = beneath(
            self.fd(),
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        ) else {
            return sweep;
        };
        // Directories still to read: (parent, name, depth). The parent stays open only while
        // one of its subdirectories waits here.
        let mut todo: Vec<(Arc<OwnedFd>, Option<std::ffi::CString>, usize)> =
            vec![(Arc::new(top), None, 0)];
        let mut seen = 0u64;
        while let Some((parent, name, depth)) = todo.pop() {
            let dir = match name {
                None => parent,
                Some(name) => match rfs::openat2(
                    &*parent,
                    name.as_c_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    RESOLVE.union(ResolveFlags::NO_SYMLINKS),
                ) {
                    Ok(fd) => Arc::new(fd),
                    Err(_) => continue, // removed meanwhile, or not ours to read
                },
            };
            let Ok(mut entries) = rfs::Dir::read_from(&*dir) else {
                continue;
            };
            while let Some(Ok(entry)) = entries.read() {
                seen += 1;
                if seen > max_entries {
                    sweep.truncated = true;
                    return sweep;
                }
                let name = entry.file_name();
                let bytes = name.to_bytes();
                if bytes == b"." || bytes == b".." {
                    continue;
                }
                let kind = match entry.file_type() {
                    rfs::FileType::Unknown => {
                        match rfs::statat(&*dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                            Ok(st) => rfs::FileType::from_raw_mode(st.st_mode),
                            Err(_) => continue,
                        }
                    }
                    k => k,
                };
                match kind {
                    rfs::FileType::Directory if depth < max_depth => {
                        todo.push((Arc::clone(&dir), Some(name.to_owned()), depth + 1));
                    }
                    rfs::FileType::Directory => sweep.truncated = true,
                    rfs::FileType::RegularFile if is_temp_name(bytes) => {
                        match remove_if_unlocked(dir.as_fd(), name) {
                            Ok(true) => sweep.removed += 1,
                            Ok(false) => sweep.live += 1,
                            Err(_) => sweep.skipped += 1,
                        }
                    }
                    _ => {}
                }
            }
        }
        sweep
    }
}

/// Unlinks the temporary file `name` in `dir` if no one holds its lock. `Ok(false)`: a live
/// upload does.
fn remove_if_unlocked(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> Result<bool, Errno> {
    let fd = rfs::openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE.union(ResolveFlags::NO_SYMLINKS),
    )?;
    if kind_of(&rfs::fstat(&fd)?) != FileKind::File {
        return Err(Errno::INVAL);
    }
    match rfs::flock(&fd, rfs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(false),
        Err(e) => return Err(e),
    }
    // Still the file we locked under that name (not renamed away by a commit meanwhile).
    let (a, b) = (
        rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?,
        rfs::fstat(&fd)?,
    );
    if a.st_dev != b.st_dev || a.st_ino != b.st_ino {
        return Err(Errno::NOENT);
    }
    rfs::unlinkat(dir, name, AtFlags::empty())?;
    Ok(true)
}

#[derive(Debug)]
struct Temp {
    dir: OwnedFd,
    tmp: String,
    target: String,
}

/// An upload in progress, from [`Jail::create_upload`]. The rules:
///
/// - `Replace` over an EXISTING file: data goes to a temporary file
///   `.<name>.ringftp-<random>.part` created `O_EXCL` 0644 in the same directory (then given
///   the old file's permission bits, set-id bits dropped); `commit()`
///   renames it over the target (atomic), `abort()` unlinks it, so a failed or interrupted
///   upload never damages the complete old file.
/// - `Replace` when the file does NOT exist: written directly under its final name
///   (`O_CREAT|O_EXCL`), so that an interrupted upload leaves its partial data for
///   `REST`+`STOR` / `APPE` resume; `abort()` keeps it.
/// - `Append`: opens (creates) the file and writes at its end (offset = current size);
///   `abort()` keeps it.
/// - `Resume(n)`: `REST n` + `STOR`: opens the existing file (creates it if n == 0) and writes
///   at offset n, truncating anything after n first; n beyond the current size extends the
///   file to n with a hole (a segmented upload's later parts start so); `abort()` keeps it.
/// - Uploading onto a directory is `IsADirectory`; a symlink as the final component is followed
///   only beneath the root (and its target is then rewritten in place, without a temporary
///   file). Targets that are not regular files (FIFOs, devices) are refused.
///
/// Dropping an `Upload` without `commit()` behaves as `abort()`. The temporary file is not
/// fsynced before the rename: the rename protects against failed transfers, not power loss.
#[derive(Debug)]
pub struct Upload {
    file: File,
    offset: u64,
    temp: Option<Temp>,
}

impl Upload {
    fn direct(file: File, offset: u64) -> Upload {
        Upload {
            file,
            offset,
            temp: None,
        }
    }

    /// The file to write into, at [`Upload::offset`] and beyond.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where writing starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether [`Upload::commit`] has work to do (a rename); a direct write has none, so
    /// it can be finished without a trip to the blocking pool.
    pub fn needs_commit(&self) -> bool {
        self.temp.is_some()
    }

    /// Makes the upload final (renames the temporary file over the target, if any).
    pub fn commit(mut self) -> Result<(), FsError> {
        match self.temp.take() {
            None => Ok(()),
            Some(t) => match rfs::renameat(&t.dir, t.tmp.as_str(), &t.dir, t.target.as_str()) {
                Ok(()) => Ok(()),
                Err(e) => {
                    let _ = rfs::unlinkat(&t.dir, t.tmp.as_str(), AtFlags::empty());
                    Err(FsError::errno(e))
                }
            },
        }
    }

    /// Gives up: removes the temporary file, if any; direct writes keep their partial data.
    pub fn abort(mut self) {
        self.discard();
    }

    fn discard(&mut self) {
        if let Some(t) = self.temp.take() {
            if let Err(e) = rfs::unlinkat(&t.dir, t.tmp.as_str(), AtFlags::empty()) {
                tracing::warn!(file = %t.tmp, error = %e, "cannot remove temporary upload file");
            }
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.discard();
    }
}

fn link_target(dir: BorrowedFd<'_>, name: &OsStr, st: &Stat) -> Option<String> {
    if !matches!(kind_of(st), FileKind::Symlink) {
        return None;
    }
    rfs::readlinkat(dir, name, Vec::new())
        .ok()
        .map(|t| String::from_utf8_lossy(t.to_bytes()).into_owned())
}

#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn file_info(
    name: String,
    st: &Stat,
    link_target: Option<String>,
    parent_writable: bool,
) -> FileInfo {
    let meta = meta_of(st);
    let uid = st.st_uid as u32;
    let gid = st.st_gid as u32;
    let perm = perm_facts(&meta, uid, gid, parent_writable);
    FileInfo {
        name,
        kind: meta.kind,
        size: meta.size,
        mtime: meta.mtime,
        mode: meta.mode,
        nlink: st.st_nlink as u64,
        owner: names().user(uid),
        group: names().group(gid),
        uid: Some(uid),
        gid: Some(gid),
        link_target,
        perm: Some(perm),
    }
}

/// The rwx bits that apply to the server's effective uid/gid (root: all of them).
/// Supplementary groups and ACLs are ignored: the `perm` fact is advisory, good enough.
#[allow(clippy::unnecessary_cast)]
fn access_bits(mode: u32, uid: u32, gid: u32) -> u32 {
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        return 0o7;
    }
    if euid.as_raw() == uid {
        (mode >> 6) & 0o7
    } else if rustix::process::getegid().as_raw() == gid {
        (mode >> 3) & 0o7
    } else {
        mode & 0o7
    }
}

#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn writable_dir(st: &Stat) -> bool {
    let bits = access_bits(st.st_mode as u32, st.st_uid as u32, st.st_gid as u32);
    bits & 0o3 == 0o3
}

/// RFC 3659 7.5.5 `perm` fact. Files: a(ppend) d(elete) f(rename) r(etrieve) w(rite);
/// directories: c(reate) d(elete) e(nter) f(rename) l(ist) m(kdir) p(urge). `d` and `f` depend
/// on the parent directory being writable; the rest on the entry's own mode bits.
fn perm_facts(meta: &Metadata, uid: u32, gid: u32, parent_writable: bool) -> String {
    let bits = access_bits(meta.mode, uid, gid);
    let (r, w, x) = (bits & 4 != 0, bits & 2 != 0, bits & 1 != 0);
    let mut p = String::new();
    match meta.kind {
        FileKind::Dir => {
            if w && x {
                p.push('c');
            }
            if parent_writable {
                p.push('d');
            }
            if x {
                p.push('e');
            }
            if parent_writable {
                p.push('f');
            }
            if r && x {
                p.push('l');
            }
            if w && x {
                p.push_str("mp");
            }
        }
        _ => {
            if w {
                p.push('a');
            }
            if parent_writable {
                p.push_str("df");
            }
            if r {
                p.push('r');
            }
            if w {
                p.push('w');
            }
        }
    }
    p
}

/// uid/gid -> name, from /etc/passwd and /etc/group, cached for the life of the process
/// (numbers shown as text when unknown).
struct Names {
    users: Mutex<HashMap<u32, String>>,
    groups: Mutex<HashMap<u32, String>>,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| Names {
        users: Mutex::new(HashMap::new()),
        groups: Mutex::new(HashMap::new()),
    })
}

impl Names {
    fn user(&self, uid: u32) -> String {
        lookup(&self.users, uid, "/etc/passwd")
    }

    fn group(&self, gid: u32) -> String {
        lookup(&self.groups, gid, "/etc/group")
    }
}

fn lookup(cache: &Mutex<HashMap<u32, String>>, id: u32, file: &str) -> String {
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = map.get(&id) {
        return n.clone();
    }
    // A miss reads the whole file once and caches every entry, plus the miss itself.
    if let Ok(text) = std::fs::read_to_string(file) {
        for (name, num) in parse_id_file(&text) {
            map.entry(num).or_insert_with(|| name.to_string());
        }
    }
    map.entry(id).or_insert_with(|| id.to_string()).clone()
}

/// `name:x:id:...` lines of /etc/passwd or /etc/group.
fn parse_id_file(text: &str) -> impl Iterator<Item = (&str, u32)> {
    text.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let id = fields.next()?.parse().ok()?;
        (!name.is_empty() && !name.starts_with('#')).then_some((name, id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    struct Fixture {
        _tmp: tempfile::TempDir,
        root: std::path::PathBuf,
        outside: std::path::PathBuf,
        jail: Jail,
    }

    /// tmp/root is the jail; tmp/outside holds a secret that must never be touched.
    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"secret").unwrap();
        std::fs::set_permissions(
            outside.join("secret"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/inner.txt"), b"inner").unwrap();
        std::fs::write(root.join("file.txt"), b"hello").unwrap();
        symlink(outside.join("secret"), root.join("abs_secret")).unwrap();
        symlink("../outside/secret", root.join("rel_secret")).unwrap();
        symlink(&outside, root.join("outdir")).unwrap();
        symlink("/etc", root.join("etc")).unwrap();
        // a chain: hop1 -> hop2 -> ../outside (outside only at the last step)
        symlink("hop2", root.join("hop1")).unwrap();
        symlink("sub/../../outside", root.join("hop2")).unwrap();
        let jail = Jail::open(&root).unwrap();
        Fixture {
            _tmp: tmp,
            root,
            outside,
            jail,
        }
    }

    fn outside_untouched(f: &Fixture) {
        let names: Vec<_> = std::fs::read_dir(&f.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("secret")],
            "files appeared outside the jail"
        );
        let m = std::fs::metadata(f.outside.join("secret")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o600);
        assert_eq!(std::fs::read(f.outside.join("secret")).unwrap(), b"secret");
    }

    fn refused<T: std::fmt::Debug>(r: Result<T, FsError>, what: &str) {
        match r {
            Err(FsError::Escape | FsError::NotFound) => {}
            other => panic!("{what}: expected Escape or NotFound, got {other:?}"),
        }
    }

    const BAD: &[&str] = &[
        "../outside/secret",
        "sub/../../outside/secret",
        "/etc/passwd",
        "abs_secret",
        "rel_secret",
        "outdir/secret",
        "etc/passwd",
        "hop1/secret",
    ];

    #[test]
    fn cached_open_reads_what_open_read_reads() {
        let f = fixture();
        // Warm the dentry cache the way an earlier listing or download does.
        let (file, meta) = f.jail.open_read("sub/inner.txt").unwrap();
        drop(file);
        assert_eq!(meta.size, 5);
        // Linux >= 5.12 (RESOLVE_CACHED) answers from the cache, on the calling thread.
        let (mut file, meta) = f
            .jail
            .open_read_cached("sub/inner.txt")
            .expect("a cached name is opened without the blocking pool")
            .unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!((text.as_str(), meta.size), ("inner", 5));
        f.jail.open_read("sub").unwrap_err();
        assert!(matches!(
            f.jail.open_read_cached("sub"),
            Some(Err(FsError::IsADirectory))
        ));
        // An escape is refused from the cache, or deferred to `open_read` (the kernel answers
        // EAGAIN when reading the link body would leave RCU-walk, e.g. after its page was
        // evicted, which happens now and then on a loaded machine); never opened.
        match f.jail.open_read_cached("abs_secret") {
            Some(Err(FsError::Escape)) => {}
            None => assert!(matches!(
                f.jail.open_read("abs_secret"),
                Err(FsError::Escape)
            )),
            other => panic!("escape through the cached open: {other:?}"),
        }
        assert!(matches!(
            f.jail.open_read_cached("a\0b"),
            Some(Err(FsError::InvalidName))
        ));
    }

    #[test]
    fn reads_cannot_escape() {
        let f = fixture();
        for p in BAD {
            refused(f.jail.metadata(p), p);
            refused(f.jail.open_read(p), p);
            // The cache-only open either refuses too or leaves it to open_read.
            if let Some(r) = f.jail.open_read_cached(p) {
                refused(r, p);
            }
            refused(f.jail.list(p, true), p);
            refused(f.jail.available(p), p);
        }
        for d in ["..", "outdir", "etc", "hop1", "/", "/tmp", "sub/../.."] {
            refused(f.jail.open_dir(d), d);
            refused(f.jail.sub(d), d);
            refused(f.jail.list(d, true), d);
        }
        assert!(matches!(
            f.jail.metadata("../outside/secret"),
            Err(FsError::Escape)
        ));
        assert!(matches!(
            f.jail.open_read("abs_secret"),
            Err(FsError::Escape)
        ));
        outside_untouched(&f);
    }

    #[test]
    fn writes_cannot_escape() {
        let f = fixture();
        for p in BAD {
            for mode in [
                UploadMode::Replace,
                UploadMode::Append,
                UploadMode::Resume(0),
                UploadMode::Resume(2),
            ] {
                match f.jail.create_upload(p, mode) {
                    Err(FsError::Escape | FsError::NotFound) => {}
                    Ok(_) => panic!("{p} {mode:?}: upload opened"),
                    Err(e) => panic!("{p} {mode:?}: unexpected {e:?}"),
                }
            }
            refused(f.jail.chmod(p, 0o777), p);
            refused(f.jail.set_mtime(p, 0), p);
        }
        for p in [
            "../outside/new",
            "outdir/new",
            "hop1/new",
            "/tmp/new",
            "etc/new",
        ] {
            refused(f.jail.mkdir(p), p);
            refused(f.jail.symlink("x", p), p);
            refused(f.jail.create_upload(p, UploadMode::Replace), p);
        }
        for p in [
            "../outside/secret",
            "outdir/secret",
            "hop1/secret",
            "/etc/passwd",
        ] {
            refused(f.jail.remove_file(p), p);
            refused(f.jail.rmdir(p), p);
            refused(f.jail.rename(p, "stolen"), p);
            refused(f.jail.rename("file.txt", p), p);
        }
        assert!(!f.root.join("stolen").exists());
        assert_eq!(std::fs::read(f.root.join("file.txt")).unwrap(), b"hello");
        // Removing or renaming the symlink itself is fine and leaves its target alone.
        f.jail.rename("abs_secret", "moved_link").unwrap();
        f.jail.remove_file("moved_link").unwrap();
        f.jail.remove_file("outdir").unwrap();
        outside_untouched(&f);
    }

    #[test]
    fn nul_and_root_edge_cases() {
        let f = fixture();
        assert!(matches!(f.jail.metadata("a\0b"), Err(FsError::InvalidName)));
        assert!(matches!(f.jail.rmdir("."), Err(FsError::PermissionDenied)));
        assert!(matches!(
            f.jail.rename(".", "x"),
            Err(FsError::PermissionDenied)
        ));
        assert!(matches!(
            f.jail.rename("file.txt", "."),
            Err(FsError::PermissionDenied)
        ));
        assert!(matches!(
            f.jail.remove_file("."),
            Err(FsError::IsADirectory)
        ));
        assert!(matches!(f.jail.rmdir("sub/.."), Err(FsError::Escape)));
        let st = f.jail.stat(".").unwrap();
        assert_eq!(st.name, "/");
        assert!(matches!(st.kind, FileKind::Dir));
        // A sub-jail is a jail of its own: its parent is out of reach.
        let sub = f.jail.sub("sub").unwrap();
        assert_eq!(sub.open_read("inner.txt").unwrap().1.size, 5);
        refused(sub.open_read("../file.txt"), "../file.txt from sub");
        assert!(matches!(
            f.jail.sub("file.txt"),
            Err(FsError::NotADirectory)
        ));
    }

    #[test]
    fn symlinks_inside_are_followed() {
        let f = fixture();
        symlink("sub/inner.txt", f.root.join("good")).unwrap();
        symlink("sub", f.root.join("gooddir")).unwrap();
        let (mut file, meta) = f.jail.open_read("good").unwrap();
        let mut s = String::new();
        file.read_to_string(&mut s).unwrap();
        assert_eq!((s.as_str(), meta.size), ("inner", 5));
        f.jail.open_dir("gooddir").unwrap();
        assert_eq!(f.jail.list("gooddir", false).unwrap().len(), 1);
        let st = f.jail.stat("good").unwrap();
        assert!(matches!(st.kind, FileKind::Symlink));
        assert_eq!(st.link_target.as_deref(), Some("sub/inner.txt"));
        f.jail.chmod("good", 0o600).unwrap();
        assert_eq!(
            std::fs::metadata(f.root.join("sub/inner.txt"))
                .unwrap()
                .mode()
                & 0o777,
            0o600
        );
        // A symlink created through the jail may point anywhere; using it stays beneath.
        f.jail.symlink("/etc/passwd", "made").unwrap();
        assert_eq!(
            std::fs::read_link(f.root.join("made")).unwrap(),
            Path::new("/etc/passwd")
        );
        refused(f.jail.open_read("made"), "made");
    }

    #[test]
    fn list_names_order_and_kinds() {
        let f = fixture();
        let d = f.root.join("names");
        std::fs::create_dir(&d).unwrap();
        for n in [
            "b file with spaces",
            "Äpfel ünd Öl",
            "日本語.txt",
            ".hidden",
            "a",
        ] {
            std::fs::write(d.join(n), n.as_bytes()).unwrap();
        }
        std::fs::create_dir(d.join("zdir")).unwrap();
        symlink("a", d.join("link")).unwrap();
        let all = f.jail.list("names", true).unwrap();
        let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                ".hidden",
                "a",
                "b file with spaces",
                "link",
                "zdir",
                "Äpfel ünd Öl",
                "日本語.txt"
            ]
        );
        let visible = f.jail.list("names", false).unwrap();
        assert_eq!(visible.len(), all.len() - 1);
        let entry = |n: &str| all.iter().find(|i| i.name == n).unwrap();
        let spaced = entry("b file with spaces");
        assert!(matches!(spaced.kind, FileKind::File));
        assert_eq!(spaced.size, "b file with spaces".len() as u64);
        assert!(matches!(entry("zdir").kind, FileKind::Dir));
        assert!(matches!(entry("link").kind, FileKind::Symlink));
        assert_eq!(entry("link").link_target.as_deref(), Some("a"));
        let me = rustix::process::geteuid().as_raw();
        assert_eq!(spaced.uid, Some(me));
        if me == 0 {
            assert_eq!(spaced.owner, "root");
            assert_eq!(spaced.perm.as_deref(), Some("adfrw"));
            assert_eq!(entry("zdir").perm.as_deref(), Some("cdeflmp"));
        }
        // A file lists as itself.
        let one = f.jail.list("names/日本語.txt", true).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].name, "日本語.txt");
        assert!(matches!(
            f.jail.list("missing", true),
            Err(FsError::NotFound)
        ));
    }

    #[test]
    fn rename_rmdir_unlink_errors() {
        let f = fixture();
        let j = &f.jail;
        assert!(matches!(j.rename("missing", "x"), Err(FsError::NotFound)));
        assert!(matches!(
            j.rename("file.txt", "nodir/x"),
            Err(FsError::NotFound)
        ));
        assert!(matches!(
            j.rename("sub", "file.txt"),
            Err(FsError::NotADirectory)
        ));
        assert!(matches!(
            j.rename("file.txt", "sub"),
            Err(FsError::IsADirectory)
        ));
        std::fs::create_dir(f.root.join("empty")).unwrap();
        assert!(matches!(j.rename("empty", "sub"), Err(FsError::NotEmpty)));
        assert!(matches!(
            j.rename("sub", "sub/deeper"),
            Err(FsError::Other(_))
        ));
        assert!(matches!(j.rmdir("sub"), Err(FsError::NotEmpty)));
        assert!(matches!(j.rmdir("file.txt"), Err(FsError::NotADirectory)));
        assert!(matches!(j.rmdir("missing"), Err(FsError::NotFound)));
        assert!(matches!(j.remove_file("sub"), Err(FsError::IsADirectory)));
        assert!(matches!(j.remove_file("missing"), Err(FsError::NotFound)));
        assert!(matches!(
            j.remove_file("file.txt/x"),
            Err(FsError::NotADirectory)
        ));
        assert!(matches!(j.mkdir("sub"), Err(FsError::AlreadyExists)));
        assert!(matches!(j.mkdir("missing/x"), Err(FsError::NotFound)));
        assert!(matches!(
            j.open_dir("file.txt"),
            Err(FsError::NotADirectory)
        ));
        assert!(matches!(j.open_read("sub"), Err(FsError::IsADirectory)));
        // and the successful paths
        j.rename("file.txt", "sub/moved.txt").unwrap();
        assert_eq!(
            std::fs::read(f.root.join("sub/moved.txt")).unwrap(),
            b"hello"
        );
        j.rmdir("empty").unwrap();
        j.mkdir("new dir").unwrap();
        assert!(f.root.join("new dir").is_dir());
        j.remove_file("sub/moved.txt").unwrap();
        j.remove_file("sub/inner.txt").unwrap();
        j.rmdir("sub").unwrap();
        assert!(!f.root.join("sub").exists());
        assert_eq!(FsError::Escape.message(), "Permission denied");
        assert_eq!(FsError::NotEmpty.message(), "Directory not empty");
    }

    #[test]
    fn mtime_chmod_available_unique() {
        let f = fixture();
        f.jail.set_mtime("file.txt", 1_000_000_000).unwrap();
        assert_eq!(f.jail.metadata("file.txt").unwrap().mtime, 1_000_000_000);
        assert_eq!(
            std::fs::metadata(f.root.join("file.txt")).unwrap().mtime(),
            1_000_000_000
        );
        f.jail.chmod("file.txt", 0o100640).unwrap();
        assert_eq!(f.jail.metadata("file.txt").unwrap().mode, 0o640);
        assert!(f.jail.available(".").unwrap() > 0);
        assert_eq!(f.jail.unique_name(".", "new.txt").unwrap(), "new.txt");
        assert_eq!(f.jail.unique_name(".", "file.txt").unwrap(), "file.txt.1");
        std::fs::write(f.root.join("file.txt.1"), b"").unwrap();
        assert_eq!(f.jail.unique_name(".", "file.txt").unwrap(), "file.txt.2");
        assert_eq!(
            f.jail.unique_name("sub", "inner.txt").unwrap(),
            "inner.txt.1"
        );
        assert_eq!(f.jail.unique_name(".", "").unwrap(), "ftp.upload");
    }

    fn write_all(u: &Upload, data: &[u8]) {
        use std::os::unix::fs::FileExt;
        u.file().write_all_at(data, u.offset()).unwrap();
    }

    fn temp_files(f: &Fixture) -> Vec<String> {
        std::fs::read_dir(&f.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".part"))
            .collect()
    }

    #[test]
    fn replace_existing_is_atomic() {
        let f = fixture();
        let u = f
            .jail
            .create_upload("file.txt", UploadMode::Replace)
            .unwrap();
        assert_eq!(u.offset(), 0);
        write_all(&u, b"partial new");
        let parts = temp_files(&f);
        assert_eq!(parts.len(), 1);
        assert!(parts[0].starts_with(".file.txt.ringftp-"), "{parts:?}");
        assert_eq!(std::fs::read(f.root.join("file.txt")).unwrap(), b"hello");
        u.abort();
        assert_eq!(std::fs::read(f.root.join("file.txt")).unwrap(), b"hello");
        assert!(temp_files(&f).is_empty());
        // dropped without commit = abort
        let u = f
            .jail
            .create_upload("file.txt", UploadMode::Replace)
            .unwrap();
        write_all(&u, b"xx");
        drop(u);
        assert_eq!(std::fs::read(f.root.join("file.txt")).unwrap(), b"hello");
        assert!(temp_files(&f).is_empty());
        // commit replaces
        let u = f
            .jail
            .create_upload("file.txt", UploadMode::Replace)
            .unwrap();
        write_all(&u, b"new");
        u.commit().unwrap();
        assert_eq!(std::fs::read(f.root.join("file.txt")).unwrap(), b"new");
        assert!(temp_files(&f).is_empty());
    }

    #[test]
    fn sweep_removes_only_unlocked_temp_files() {
        let f = fixture();
        // A live upload (its lock held) in the root and a dead one's debris deeper down.
        let live = f
            .jail
            .create_upload("file.txt", UploadMode::Replace)
            .unwrap();
        let stale = ".inner.txt.ringftp-0123456789abcdef.part";
        std::fs::write(f.root.join("sub").join(stale), b"debris").unwrap();
        // Look-alikes that are not ours: wrong tag, a directory, a symlink.
        std::fs::write(f.root.join("sub/.x.ringftp-nothex0123456789.part"), b"k").unwrap();
        std::fs::create_dir(f.root.join(".d.ringftp-0123456789abcdef.part")).unwrap();
        symlink(
            f.outside.join("secret"),
            f.root.join(".s.ringftp-0123456789abcdef.part"),
        )
        .unwrap();
        let sweep = f
            .jail
            .sweep_stale_uploads(SWEEP_MAX_ENTRIES, SWEEP_MAX_DEPTH);
        assert_eq!((sweep.removed, sweep.live, sweep.truncated), (1, 1, false));
        assert!(!f.root.join("sub").join(stale).exists());
        assert!(f.root.join("sub/.x.ringftp-nothex0123456789.part").exists());
        assert!(f.root.join(".d.ringftp-0123456789abcdef.part").is_dir());
        assert_eq!(
            temp_files(&f).len(),
            3,
            "the live one, the directory, the symlink stay"
        );
        write_all(&live, b"new");
        live.commit().unwrap();
        assert_eq!(std::fs::read(f.root.join("file.txt")).unwrap(), b"new");
        outside_untouched(&f);
        // Bounded: a tiny entry budget stops the walk and says so.
        assert!(f.jail.sweep_stale_uploads(2, SWEEP_MAX_DEPTH).truncated);
        assert!(is_temp_name(b".a.ringftp-0123456789abcdef.part"));
        assert!(!is_temp_name(b"a.ringftp-0123456789abcdef.part"));
        assert!(!is_temp_name(b"..ringftp-0123456789abcdef.part"));
    }

    #[test]
    fn replace_new_keeps_partial() {
        let f = fixture();
        let u = f
            .jail
            .create_upload("sub/new.bin", UploadMode::Replace)
            .unwrap();
        write_all(&u, b"half");
        u.abort();
        assert_eq!(std::fs::read(f.root.join("sub/new.bin")).unwrap(), b"half");
        // resume it: REST 4 + STOR
        let u = f
            .jail
            .create_upload("sub/new.bin", UploadMode::Resume(4))
            .unwrap();
        assert_eq!(u.offset(), 4);
        write_all(&u, b" and rest");
        u.commit().unwrap();
        assert_eq!(
            std::fs::read(f.root.join("sub/new.bin")).unwrap(),
            b"half and rest"
        );
        assert!(matches!(
            f.jail.create_upload("sub", UploadMode::Replace),
            Err(FsError::IsADirectory)
        ));
        assert!(matches!(
            f.jail.create_upload("sub", UploadMode::Append),
            Err(FsError::IsADirectory)
        ));
        assert!(matches!(
            f.jail.create_upload(".", UploadMode::Replace),
            Err(FsError::IsADirectory)
        ));
        assert!(matches!(
            f.jail.create_upload("nodir/x", UploadMode::Replace),
            Err(FsError::NotFound)
        ));
    }

    #[test]
    fn append_and_resume_offsets() {
        let f = fixture();
        let u = f
            .jail
            .create_upload("file.txt", UploadMode::Append)
            .unwrap();
        assert_eq!(u.offset(), 5);
        write_all(&u, b" world");
        u.abort(); // append keeps its data
        assert_eq!(
            std::fs::read(f.root.join("file.txt")).unwrap(),
            b"hello world"
        );
        let u = f
            .jail
            .create_upload("appended", UploadMode::Append)
            .unwrap();
        assert_eq!(u.offset(), 0);
        u.commit().unwrap();
        assert!(f.root.join("appended").exists());
        // Resume truncates after n
        let u = f
            .jail
            .create_upload("file.txt", UploadMode::Resume(3))
            .unwrap();
        assert_eq!(std::fs::read(f.root.join("file.txt")).unwrap(), b"hel");
        write_all(&u, b"p!");
        drop(u);
        assert_eq!(std::fs::read(f.root.join("file.txt")).unwrap(), b"help!");
        // beyond the end: extended with a hole, written at n
        let u = f
            .jail
            .create_upload("file.txt", UploadMode::Resume(7))
            .unwrap();
        assert_eq!(u.offset(), 7);
        write_all(&u, b"x");
        drop(u);
        assert_eq!(
            std::fs::read(f.root.join("file.txt")).unwrap(),
            b"help!\0\0x"
        );
        assert!(matches!(
            f.jail.create_upload("none", UploadMode::Resume(1)),
            Err(FsError::NotFound)
        ));
        let u = f.jail.create_upload("none", UploadMode::Resume(0)).unwrap();
        drop(u);
        assert!(f.root.join("none").exists());
    }

    #[test]
    fn upload_through_inner_symlink_and_fifo() {
        let f = fixture();
        symlink("sub/inner.txt", f.root.join("link")).unwrap();
        let u = f.jail.create_upload("link", UploadMode::Replace).unwrap();
        write_all(&u, b"via link");
        u.commit().unwrap();
        assert_eq!(
            std::fs::read(f.root.join("sub/inner.txt")).unwrap(),
            b"via link"
        );
        assert!(std::fs::symlink_metadata(f.root.join("link"))
            .unwrap()
            .file_type()
            .is_symlink());
        rustix::fs::mknodat(
            CWD,
            f.root.join("fifo"),
            rfs::FileType::Fifo,
            Mode::from_raw_mode(0o666),
            0,
        )
        .unwrap();
        assert!(matches!(
            f.jail.open_read("fifo"),
            Err(FsError::PermissionDenied)
        ));
        assert!(f.jail.create_upload("fifo", UploadMode::Append).is_err());
        assert!(f.jail.create_upload("fifo", UploadMode::Replace).is_err());
    }
}
