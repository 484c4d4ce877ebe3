//! `get`/`reget`/`mget`: download files, with remote globs, `-r` trees and
//! `-a` resume (sftp.c process_get, sftp-client.c do_download/download_dir).
//! Over FTP: the glob lists with MLSD/LIST, the transfer is EPSV(PASV) +
//! REST + RETR, spliced into the local file.

use std::fs::{File, FileTimes, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use ringftp_proto::listing::{FileInfo, FileKind};

use super::{
    basename, error, local_is_dir, make_absolute_pwd_glob, path_append, say, strerror, CmdErr,
    CmdResult, Ctx, Invocation,
};
use crate::ftp::{self, Ftp, FtpError, TransferCtl};
use crate::glob::remote_glob;
use crate::messages;
use crate::parallel::{self, Direction, JobEnd, PartsError};
use crate::progress::{meter_name, Meter};

const MAX_DIR_DEPTH: usize = 64;

pub fn run(ctx: &mut Ctx, inv: &Invocation, resume: bool) -> CmdResult {
    let src = inv.path1.as_deref().unwrap_or("");
    process_get(
        ctx,
        src,
        inv.path2.as_deref(),
        inv.pflag,
        inv.rflag,
        inv.aflag || resume,
        inv.fflag,
    )
}

/// sftp.c process_get.
pub fn process_get(
    ctx: &mut Ctx,
    src: &str,
    dst: Option<&str>,
    pflag: bool,
    rflag: bool,
    resume: bool,
    fflag: bool,
) -> CmdResult {
    let abs_src = make_absolute_pwd_glob(src, &ctx.pwd);
    let matches = match remote_glob(&mut ctx.ftp, &abs_src, false, true) {
        Ok(m) => m,
        Err(e) if e.is_fatal() => return Err(CmdErr::Fatal(e.to_string())),
        Err(_) => Vec::new(),
    };
    if matches.is_empty() {
        error(&messages::file_not_found(&abs_src));
        return Err(CmdErr::Failed);
    }
    if matches.len() > 1 {
        if let Some(d) = dst {
            if !local_is_dir(d) {
                error(&messages::multiple_get_not_dir(d));
                return Err(CmdErr::Failed);
            }
        }
    }
    let mut result = Ok(());
    let single = matches.len() == 1;
    let pflag = pflag || ctx.global.pflag;
    let fflag = fflag || ctx.global.fflag;
    let resume = resume || ctx.global.aflag;
    // Several plain files, none big enough for segments: K in flight, each
    // announced with sftp's line as it starts.
    let plain = matches.iter().all(|m| {
        m.info
            .as_ref()
            .is_some_and(|i| i.kind == FileKind::File && !ctx.segmented(i.size, resume))
    });
    if !single && plain && ctx.streams(resume) > 1 {
        let jobs: Vec<GetJob> = matches
            .iter()
            .filter_map(|m| {
                let shown = m.marked();
                let local = match dst {
                    Some(d) => path_append(d, &basename(&shown)),
                    None => basename(&shown),
                };
                Some(GetJob {
                    info: m.info.clone()?,
                    remote: shown,
                    local,
                    in_tree: false,
                })
            })
            .collect();
        return fetch_files(ctx, &jobs, meter_name(&abs_src), pflag, fflag);
    }
    for m in &matches {
        if ctx.interrupted() {
            break;
        }
        let shown = m.marked();
        let filename = basename(&shown);
        let abs_dst = match dst {
            Some(d) if single && !local_is_dir(d) => d.to_string(),
            Some(d) => path_append(d, &filename),
            None => filename,
        };
        if !ctx.quiet {
            if resume {
                say(&messages::resuming(&shown, &abs_dst));
            } else {
                say(&messages::fetching(&shown, &abs_dst));
            }
        }
        let r = if m.is_dir() && (rflag || ctx.global.rflag) {
            download_dir(ctx, &shown, &abs_dst, m.info.as_ref(), pflag, resume, fflag)
        } else {
            do_download(ctx, &shown, &abs_dst, m.info.as_ref(), pflag, resume, fflag)
        };
        match r {
            Err(CmdErr::Fatal(m)) => return Err(CmdErr::Fatal(m)),
            Err(e) => result = Err(e),
            Ok(()) => {}
        }
    }
    result
}

fn fatal(e: FtpError) -> CmdErr {
    CmdErr::Fatal(e.to_string())
}

/// sftp-client.c do_download.
pub fn do_download(
    ctx: &mut Ctx,
    remote: &str,
    local: &str,
    attrs: Option<&FileInfo>,
    pflag: bool,
    resume: bool,
    fflag: bool,
) -> CmdResult {
    let info = match attrs {
        Some(i) if i.kind != FileKind::Symlink => i.clone(),
        _ => match ctx.ftp.stat(remote) {
            Ok(Some(i)) => i,
            Ok(None) => {
                error(&messages::stat_remote("No such file or directory"));
                return Err(CmdErr::Failed);
            }
            Err(e) => return Err(ctx.fail(e, messages::stat_remote)),
        },
    };
    if matches!(info.kind, FileKind::Dir | FileKind::Other) {
        error(&messages::not_regular_download(remote));
        return Err(CmdErr::Failed);
    }
    let mode = if info.mode != 0 {
        info.mode & 0o777
    } else {
        0o666
    };
    let size = info.size;
    if ctx.segmented(size, resume) {
        if let Some(r) = download_segmented(ctx, remote, local, &info, mode, pflag, fflag) {
            return r;
        }
    }

    // Resume needs the local size before REST; otherwise the remote open
    // comes first so a refused RETR leaves no empty local file (as sftp).
    let (file, offset) = if resume {
        let f = match OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(mode | 0o200)
            .open(local)
        {
            Ok(f) => f,
            Err(e) => {
                error(&messages::open_local(local, &strerror(&e)));
                return Err(CmdErr::Failed);
            }
        };
        let have = match f.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                error(&format!("stat local \"{local}\": {}", strerror(&e)));
                return Err(CmdErr::Failed);
            }
        };
        if have > size {
            error(&messages::resume_larger_local(local));
            return Err(CmdErr::Failed);
        }
        (Some(f), have)
    } else {
        (None, 0)
    };

    let data = if resume && offset >= size && size > 0 {
        // Nothing left to fetch; RETR with REST at EOF is refused by some servers.
        None
    } else {
        match ctx.ftp.begin_retr(remote, offset) {
            Ok(d) => Some(d),
            Err(e) => return Err(ctx.fail(e, |s| messages::remote_open(remote, s))),
        }
    };
    let file = match file {
        Some(f) => f,
        None => match open_trunc(local, mode) {
            Ok(f) => f,
            Err(e) => {
                error(&messages::open_local(local, &strerror(&e)));
                if let Some(d) = data {
                    drop(d);
                    ctx.ftp.abort().map_err(fatal)?;
                }
                return Err(CmdErr::Failed);
            }
        },
    };
    let mut result = Ok(());
    let mut modified = false;
    if let Some(data) = data {
        if let Err(e) = seek_to(&file, offset) {
            error(&messages::write_local(local, &strerror(&e)));
            drop(data);
            ctx.ftp.abort().map_err(fatal)?;
            return Err(CmdErr::Failed);
        }
        let mut meter = if ctx.showprogress && size != 0 {
            Some(Meter::start(meter_name(remote), size, offset))
        } else {
            None
        };
        let mut last = offset;
        let interrupt = ctx.interrupted;
        let limit = ctx.limit;
        let mut progress = |pos: u64| {
            last = pos;
            if let Some(m) = meter.as_mut() {
                m.update(pos);
            }
        };
        let mut tctl = TransferCtl {
            interrupt,
            limit,
            progress: &mut progress,
        };
        let r = ctx.ftp.finish_retr(data, &file, offset, &mut tctl);
        if let Some(m) = meter.take() {
            m.stop(last);
        }
        match r {
            Ok(n) => modified = n > 0,
            Err(FtpError::Interrupted) => result = Err(CmdErr::Failed),
            Err(FtpError::Local(e)) => {
                error(&messages::write_local(local, &strerror(&e)));
                result = Err(CmdErr::Failed);
            }
            Err(e) => return Err(ctx.fail(e, |s| messages::read_remote(remote, s))),
        }
    }
    if result.is_ok() {
        if pflag {
            preserve_local(&file, local, &info, mode);
        }
        if resume && !modified {
            if !ctx.log_quiet {
                error(&messages::not_modified(local));
            }
        } else if fflag {
            if let Err(e) = file.sync_all() {
                error(&messages::local_sync(local, &strerror(&e)));
            }
        }
    }
    result
}

/// `-p`: the remote mode and mtime on the downloaded file.
fn preserve_local(file: &File, local: &str, info: &FileInfo, mode: u32) {
    if let Err(e) = file.set_permissions(Permissions::from_mode(mode)) {
        error(&messages::local_chmod(local, &strerror(&e)));
    }
    if info.mtime != 0 {
        let t = mtime_of(info.mtime);
        let times = FileTimes::new().set_accessed(t).set_modified(t);
        if let Err(e) = file.set_times(times) {
            error(&messages::local_set_times(local, &strerror(&e)));
        }
    }
}

/// One big file in segments over several connections (`parallel`): part 0
/// on the main connection, the others on extra ones, written at their
/// offsets into one preallocated local file, opened (truncated) only after
/// part 0's RETR was accepted, as a one-stream get opens it after its
/// RETR. A failure cuts the local file to the prefix that did arrive, so
/// `reget` continues from true data. `None`: no extra connection or a part
/// refused to start; the caller fetches over one stream.
fn download_segmented(
    ctx: &mut Ctx,
    remote: &str,
    local: &str,
    info: &FileInfo,
    mode: u32,
    pflag: bool,
    fflag: bool,
) -> Option<CmdResult> {
    // Parts write at offsets: only into a regular file (new or existing),
    // not into a pipe, a terminal or a device such as /dev/null.
    if std::fs::metadata(local).is_ok_and(|m| !m.is_file()) {
        return None;
    }
    let size = info.size;
    // The parts are planned for every connection asked for; the missing
    // ones are logged in while part 0 already moves (parallel::run_parts),
    // and a part whose connection cannot be opened goes over another one
    // (over TLS: all logged in first, one part each; parallel::take_extra).
    let mut parts = parallel::plan(size, ctx.streams(false));
    let (idle, open, one_part_each) =
        parallel::take_extra(&mut ctx.pool, &ctx.ftp, size, &mut parts)?;
    // Part 0 first: a refused RETR leaves no empty local file (as one stream).
    let first = match ctx.ftp.begin_retr(remote, 0) {
        Ok(d) => d,
        Err(e) => {
            ctx.pool.put_back(idle);
            return Some(Err(ctx.fail(e, |s| messages::remote_open(remote, s))));
        }
    };
    let file = match open_trunc(local, mode) {
        Ok(f) => f,
        Err(e) => {
            error(&messages::open_local(local, &strerror(&e)));
            drop(first);
            let abort = ctx.ftp.abort();
            ctx.pool.put_back(idle);
            return Some(match abort {
                Err(e) => Err(fatal(e)),
                Ok(()) => Err(CmdErr::Failed),
            });
        }
    };
    parallel::preallocate(&file, size);
    let mut meter = if ctx.showprogress && size != 0 {
        Some(Meter::start(meter_name(remote), size, 0))
    } else {
        None
    };
    let mut last = 0;
    let mut progress = |pos: u64| {
        last = pos;
        if let Some(m) = meter.as_mut() {
            m.update(pos);
        }
    };
    let start = |f: &mut Ftp, off: u64| f.begin_retr(remote, off);
    let extra = parallel::Extra {
        idle,
        connector: ctx.pool.connector(),
        open,
        one_part_each,
    };
    let (r, done, extra) = parallel::run_parts(
        &mut ctx.ftp,
        first,
        extra,
        &parts,
        &start,
        Direction::Get,
        &file,
        ctx.interrupted,
        &mut progress,
    );
    if let Some(m) = meter.take() {
        m.stop(last);
    }
    ctx.pool.put_back(extra);
    let e = match r {
        Ok(()) => None,
        Err(PartsError::Start { part, error }) if !ctx.interrupted() && !error.is_fatal() => {
            tracing::info!(part, error = %error, "segment refused; one stream");
            return None;
        }
        Err(PartsError::Start { error, .. }) => Some(error),
        Err(PartsError::Transfer(e)) => Some(e),
    };
    if let Some(e) = e {
        let _ = file.set_len(parallel::complete_prefix(&parts, &done));
        return Some(match e {
            FtpError::Interrupted => Err(CmdErr::Failed),
            FtpError::Local(e) => {
                error(&messages::write_local(local, &strerror(&e)));
                Err(CmdErr::Failed)
            }
            e => Err(ctx.fail(e, |s| messages::read_remote(remote, s))),
        });
    }
    if pflag {
        preserve_local(&file, local, info, mode);
    }
    if fflag {
        if let Err(e) = file.sync_all() {
            error(&messages::local_sync(local, &strerror(&e)));
        }
    }
    Some(Ok(()))
}

fn open_trunc(path: &str, mode: u32) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode | 0o200)
        .open(path)
}

fn seek_to(file: &File, offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset)).map(|_| ())
}

fn mtime_of(secs: i64) -> std::time::SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// sftp-client.c download_dir.
pub fn download_dir(
    ctx: &mut Ctx,
    src: &str,
    dst: &str,
    dirattrib: Option<&FileInfo>,
    pflag: bool,
    resume: bool,
    fflag: bool,
) -> CmdResult {
    let canon = ringftp_proto::path::normalize("/", src).unwrap_or_else(|_| src.to_string());
    if ctx.streams(resume) == 1 {
        return download_dir_internal(
            ctx,
            &canon,
            dst,
            0,
            dirattrib.cloned(),
            pflag,
            resume,
            fflag,
            None,
        );
    }
    // Parallel: walk first (sftp's `Retrieving` lines, local directories),
    // then fetch the files K at a time, then the directories' modes and
    // times, deepest first, as sftp sets them after their contents.
    let mut tree = Tree::default();
    let walked = download_dir_internal(
        ctx,
        &canon,
        dst,
        0,
        dirattrib.cloned(),
        pflag,
        resume,
        fflag,
        Some(&mut tree),
    );
    if let Err(CmdErr::Fatal(m)) = walked {
        return Err(CmdErr::Fatal(m));
    }
    let fetched = fetch_files(ctx, &tree.files, meter_name(&canon), pflag, fflag);
    for d in tree.dirs.iter().rev() {
        fix_local_dir(d, pflag);
    }
    fetched?;
    walked
}

/// A file to fetch as one job of a parallel `get`.
struct GetJob {
    remote: String,
    local: String,
    info: FileInfo,
    /// Inside `get -r`: a failure also prints sftp's `download "x" to "y" failed`.
    in_tree: bool,
}

/// A local directory whose mode and times are set after its files.
struct DirFix {
    path: String,
    mtime: i64,
    mode: u32,
    tmpmode: u32,
}

/// What a parallel `get -r` gathers while walking.
#[derive(Default)]
struct Tree {
    files: Vec<GetJob>,
    dirs: Vec<DirFix>,
}

fn fix_local_dir(d: &DirFix, pflag: bool) {
    let dst = d.path.as_str();
    if pflag && d.mtime != 0 {
        let t = mtime_of(d.mtime);
        if let Ok(f) = File::open(dst) {
            if let Err(e) = f.set_times(FileTimes::new().set_accessed(t).set_modified(t)) {
                error(&format!("local set times on \"{dst}\": {}", strerror(&e)));
            }
        }
    }
    if d.mode != d.tmpmode {
        if let Err(e) = std::fs::set_permissions(dst, Permissions::from_mode(d.mode)) {
            error(&format!(
                "local chmod directory \"{dst}\": {}",
                strerror(&e)
            ));
        }
    }
}

/// Fetch `jobs` over up to `--parallel` connections, whole files each, with
/// one meter for all of them.
fn fetch_files(ctx: &mut Ctx, jobs: &[GetJob], name: &str, pflag: bool, fflag: bool) -> CmdResult {
    let quiet = ctx.quiet;
    let announce = |j: &GetJob| {
        if !quiet && !j.in_tree {
            say(&messages::fetching(&j.remote, &j.local));
        }
    };
    let block = ctx.pool.settings.block;
    let work = |f: &mut Ftp, j: &GetJob, stop: &AtomicBool, add: &dyn Fn(u64)| {
        let block = block && j.info.size <= ftp::BLOCK_MAX;
        fetch_one(f, j, pflag, fflag, block, stop, add)
    };
    super::run_file_jobs(
        ctx,
        jobs,
        name,
        jobs.iter().map(|j| j.info.size).sum(),
        &announce,
        &work,
    )
}

/// One whole file on one connection (a job of `fetch_files`): do_download
/// for a file whose attributes the listing gave, without resume.
fn fetch_one(
    ftp: &mut Ftp,
    job: &GetJob,
    pflag: bool,
    fflag: bool,
    block: bool,
    stop: &AtomicBool,
    add: &dyn Fn(u64),
) -> JobEnd {
    let end = fetch_one_inner(ftp, job, pflag, fflag, block, stop, add);
    if job.in_tree && matches!(end, JobEnd::Failed) && !stop.load(Ordering::SeqCst) {
        error(&messages::download_failed(&job.remote, &job.local));
    }
    end
}

fn fetch_one_inner(
    ftp: &mut Ftp,
    job: &GetJob,
    pflag: bool,
    fflag: bool,
    block: bool,
    stop: &AtomicBool,
    add: &dyn Fn(u64),
) -> JobEnd {
    let (remote, local) = (job.remote.as_str(), job.local.as_str());
    let mode = if job.info.mode != 0 {
        job.info.mode & 0o777
    } else {
        0o666
    };
    let data = match ftp.begin_get(remote, block) {
        Ok(d) => d,
        Err(e) => return super::job_failed(e, |s| messages::remote_open(remote, s)),
    };
    let file = match open_trunc(local, mode) {
        Ok(f) => f,
        Err(e) => {
            error(&messages::open_local(local, &strerror(&e)));
            drop(data);
            return match ftp.abort() {
                Ok(()) => JobEnd::Failed,
                Err(e) => JobEnd::Lost(e),
            };
        }
    };
    let mut prev = 0;
    let mut progress = |pos: u64| {
        add(pos.saturating_sub(prev));
        prev = pos;
    };
    let mut tctl = TransferCtl {
        interrupt: stop,
        limit: 0,
        progress: &mut progress,
    };
    match ftp.finish_retr(data, &file, 0, &mut tctl) {
        Ok(_) => {}
        Err(FtpError::Interrupted) => return JobEnd::Failed,
        Err(FtpError::Local(e)) => {
            error(&messages::write_local(local, &strerror(&e)));
            return JobEnd::Failed;
        }
        Err(e) => return super::job_failed(e, |s| messages::read_remote(remote, s)),
    }
    if pflag {
        preserve_local(&file, local, &job.info, mode);
    }
    if fflag {
        if let Err(e) = file.sync_all() {
            error(&messages::local_sync(local, &strerror(&e)));
        }
    }
    JobEnd::Done
}

#[allow(clippy::too_many_arguments)]
fn download_dir_internal(
    ctx: &mut Ctx,
    src: &str,
    dst: &str,
    depth: usize,
    dirattrib: Option<FileInfo>,
    pflag: bool,
    resume: bool,
    fflag: bool,
    mut tree: Option<&mut Tree>,
) -> CmdResult {
    if depth >= MAX_DIR_DEPTH {
        error(&messages::max_depth(depth));
        return Err(CmdErr::Failed);
    }
    let attr = match dirattrib {
        Some(a) if a.kind != FileKind::Symlink => a,
        _ => match ctx.ftp.stat(src) {
            Ok(Some(a)) => a,
            Ok(None) => {
                error(&messages::stat_remote("No such file or directory"));
                error(&format!("stat remote \"{src}\" directory failed"));
                return Err(CmdErr::Failed);
            }
            Err(e) => return Err(ctx.fail(e, messages::stat_remote)),
        },
    };
    if attr.kind != FileKind::Dir {
        error(&messages::not_a_directory(src));
        return Err(CmdErr::Failed);
    }
    say(&messages::retrieving(src));
    let (mode, tmpmode) = if attr.mode != 0 {
        let m = attr.mode & 0o1777;
        (m, m | 0o700)
    } else {
        (0o777, 0o777)
    };
    if let Err(e) = std::fs::DirBuilder::new()
        .mode(tmpmode)
        .create(dst)
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(())
            } else {
                Err(e)
            }
        })
    {
        error(&messages::local_mkdir(dst, &strerror(&e)));
        return Err(CmdErr::Failed);
    }
    let entries = match ctx.ftp.list(src) {
        Ok(e) => e,
        Err(e) if e.is_fatal() => return Err(fatal(e)),
        Err(_) => {
            error(&messages::remote_readdir_failed(src));
            return Err(CmdErr::Failed);
        }
    };
    let mut ret = Ok(());
    for ent in entries {
        if ctx.interrupted() {
            break;
        }
        let new_dst = path_append(dst, &ent.name);
        let new_src = path_append(src, &ent.name);
        match ent.kind {
            FileKind::Dir => {
                let r = download_dir_internal(
                    ctx,
                    &new_src,
                    &new_dst,
                    depth + 1,
                    Some(ent),
                    pflag,
                    resume,
                    fflag,
                    tree.as_deref_mut(),
                );
                match r {
                    Err(CmdErr::Fatal(m)) => return Err(CmdErr::Fatal(m)),
                    Err(e) => ret = Err(e),
                    Ok(()) => {}
                }
            }
            FileKind::File if tree.is_some() => {
                if let Some(t) = tree.as_deref_mut() {
                    t.files.push(GetJob {
                        remote: new_src,
                        local: new_dst,
                        info: ent,
                        in_tree: true,
                    });
                }
            }
            FileKind::File => {
                match do_download(ctx, &new_src, &new_dst, Some(&ent), pflag, resume, fflag) {
                    Err(CmdErr::Fatal(m)) => return Err(CmdErr::Fatal(m)),
                    Err(_) => {
                        error(&messages::download_failed(&new_src, &new_dst));
                        ret = Err(CmdErr::Failed);
                    }
                    Ok(()) => {}
                }
            }
            _ => {
                if !ctx.log_quiet {
                    error(&messages::not_regular_download_dir(&new_src));
                }
            }
        }
    }
    let fix = DirFix {
        path: dst.to_string(),
        mtime: attr.mtime,
        mode,
        tmpmode,
    };
    match tree {
        Some(t) => t.dirs.push(fix),
        None => fix_local_dir(&fix, pflag),
    }
    ret
}
