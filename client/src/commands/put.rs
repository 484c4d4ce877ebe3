//! `put`/`reput`/`mput`: upload files, with local globs, `-r` trees and `-a`
//! resume (sftp.c process_put, sftp-client.c do_upload/upload_dir). Over FTP:
//! STOR (APPE to resume) with sendfile(2); `-p` sends SITE CHMOD and MFMT.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicBool, Ordering};

use ringftp_proto::listing::FileKind;

use super::{
    basename, error, make_absolute, path_append, say, strerror, CmdErr, CmdResult, Ctx, Invocation,
};
use crate::ftp::{self, Ftp, FtpError, TransferCtl};
use crate::glob::local_glob;
use crate::messages;
use crate::parallel::{self, Direction, JobEnd, PartsError};
use crate::progress::{meter_name, Meter};

const MAX_DIR_DEPTH: usize = 64;

pub fn run(ctx: &mut Ctx, inv: &Invocation, resume: bool) -> CmdResult {
    let src = inv.path1.as_deref().unwrap_or("");
    process_put(
        ctx,
        src,
        inv.path2.as_deref(),
        inv.pflag,
        inv.rflag,
        inv.aflag || resume,
        inv.fflag,
    )
}

fn fatal(e: FtpError) -> CmdErr {
    CmdErr::Fatal(e.to_string())
}

/// True when the remote path is a directory (sftp's remote_is_dir).
pub fn remote_is_dir(ctx: &mut Ctx, path: &str) -> Result<bool, CmdErr> {
    match ctx.ftp.stat(path) {
        Ok(Some(i)) => Ok(i.kind == FileKind::Dir),
        Ok(None) => Ok(false),
        Err(e) if e.is_fatal() => Err(fatal(e)),
        Err(_) => Ok(false),
    }
}

/// sftp.c process_put.
pub fn process_put(
    ctx: &mut Ctx,
    src: &str,
    dst: Option<&str>,
    pflag: bool,
    rflag: bool,
    resume: bool,
    fflag: bool,
) -> CmdResult {
    let tmp_dst = dst.map(|d| make_absolute(d, &ctx.pwd));
    let paths = local_glob(src);
    let dst_is_dir = match &tmp_dst {
        Some(d) => remote_is_dir(ctx, d)?,
        None => true,
    };
    if paths.len() > 1 {
        if let Some(d) = &tmp_dst {
            if !dst_is_dir {
                error(&messages::multiple_put_not_dir(d));
                return Err(CmdErr::Failed);
            }
        }
    }
    let single = paths.len() == 1;
    let pflag = pflag || ctx.global.pflag;
    let fflag = fflag || ctx.global.fflag;
    let resume = resume || ctx.global.aflag;
    // Several plain files, none big enough for segments: K in flight, each
    // announced with sftp's line as it starts.
    if !single && ctx.streams(resume) > 1 {
        let metas: Vec<Option<std::fs::Metadata>> = paths
            .iter()
            .map(|p| std::fs::metadata(p).ok().filter(|m| m.is_file()))
            .collect();
        let plain = metas
            .iter()
            .all(|m| m.as_ref().is_some_and(|m| !ctx.segmented(m.len(), resume)));
        if plain {
            let jobs: Vec<PutJob> = paths
                .iter()
                .zip(&metas)
                .map(|(p, m)| PutJob {
                    local: p.clone(),
                    remote: match &tmp_dst {
                        Some(d) => path_append(d, &basename(p)),
                        None => make_absolute(&basename(p), &ctx.pwd),
                    },
                    size: m.as_ref().map_or(0, |m| m.len()),
                    in_tree: false,
                })
                .collect();
            return send_files(ctx, &jobs, meter_name(src), pflag);
        }
    }
    let mut result = Ok(());
    for p in &paths {
        if ctx.interrupted() {
            break;
        }
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) => {
                error(&messages::stat_local(p, &strerror(&e)));
                result = Err(CmdErr::Failed);
                continue;
            }
        };
        let filename = basename(p);
        let abs_dst = match &tmp_dst {
            Some(d) if single && !dst_is_dir => d.clone(),
            Some(d) => path_append(d, &filename),
            None => make_absolute(&filename, &ctx.pwd),
        };
        if !ctx.quiet {
            if resume {
                say(&messages::resuming_upload(p, &abs_dst));
            } else {
                say(&messages::uploading(p, &abs_dst));
            }
        }
        let r = if meta.is_dir() && (rflag || ctx.global.rflag) {
            upload_dir(ctx, p, &abs_dst, pflag, resume, fflag)
        } else {
            do_upload(ctx, p, &abs_dst, pflag, resume, fflag)
        };
        match r {
            Err(CmdErr::Fatal(m)) => return Err(CmdErr::Fatal(m)),
            Err(e) => result = Err(e),
            Ok(()) => {}
        }
    }
    result
}

/// sftp-client.c do_upload.
pub fn do_upload(
    ctx: &mut Ctx,
    local: &str,
    remote: &str,
    pflag: bool,
    resume: bool,
    _fflag: bool,
) -> CmdResult {
    let file = match File::open(local) {
        Ok(f) => f,
        Err(e) => {
            error(&messages::open_local(local, &strerror(&e)));
            return Err(CmdErr::Failed);
        }
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            error(&format!("fstat local \"{local}\": {}", strerror(&e)));
            return Err(CmdErr::Failed);
        }
    };
    if !meta.is_file() {
        error(&messages::local_not_regular(local));
        return Err(CmdErr::Failed);
    }
    let size = meta.len();
    if ctx.segmented(size, resume) {
        if let Some(r) = upload_segmented(ctx, local, remote, &file, &meta, pflag) {
            return r;
        }
    }
    let mut offset = 0;
    if resume {
        match ctx.ftp.stat(remote) {
            Ok(Some(i)) => {
                if i.size >= size {
                    error(&messages::resume_upload_larger(local));
                    return Err(CmdErr::Failed);
                }
                offset = i.size;
            }
            Ok(None) => {
                error(&messages::stat_remote("No such file or directory"));
                return Err(CmdErr::Failed);
            }
            Err(e) => return Err(ctx.fail(e, messages::stat_remote)),
        }
    }
    let mut meter = if ctx.showprogress && size != 0 {
        Some(Meter::start(meter_name(local), size, offset))
    } else {
        None
    };
    let mut last = offset;
    let interrupt = ctx.interrupted;
    let limit = ctx.limit;
    let r = {
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
        ctx.ftp
            .stor(remote, &file, offset, size, resume && offset > 0, &mut tctl)
    };
    if let Some(m) = meter.take() {
        m.stop(last);
    }
    match r {
        Ok(_) => {}
        Err(FtpError::Interrupted) => return Err(CmdErr::Failed),
        Err(e @ FtpError::Reply(_)) if last == offset => {
            return Err(ctx.fail(e, |s| messages::remote_open(remote, s)));
        }
        Err(FtpError::Local(e)) => {
            error(&format!("read local \"{local}\": {}", strerror(&e)));
            return Err(CmdErr::Failed);
        }
        Err(e) => return Err(ctx.fail(e, |s| messages::write_remote(remote, s))),
    }
    if pflag {
        preserve_remote(ctx, remote, &meta)?;
    }
    Ok(())
}

/// `-p`: the local mode and mtime on the uploaded file.
fn preserve_remote(ctx: &mut Ctx, remote: &str, meta: &std::fs::Metadata) -> CmdResult {
    let mode = meta.permissions().mode() & 0o777;
    if let Err(e) = ctx.ftp.chmod(mode, remote) {
        return Err(ctx.fail(e, |s| format!("remote fsetstat: {s}")));
    }
    if let Err(e) = ctx.ftp.mfmt(meta.mtime(), remote) {
        return Err(ctx.fail(e, |s| format!("remote fsetstat: {s}")));
    }
    Ok(())
}

/// One big file in segments over several connections (`parallel`), with
/// the upload rule intact: the parts go into a temporary name beside the
/// target (`.<name>.ringftp-<random>.part`), part 0 with `STOR`, part k
/// with `REST off_k` + `STOR`, started in order (see `parallel`). Only when
/// every part has its 226 and the server's SIZE matches is the temporary
/// file renamed over the target (RNFR/RNTO: rename(2) on the server,
/// atomic), after taking the old file's permission bits as a one-stream
/// STOR would. On any failure the temporary file is deleted (best effort)
/// and the old file stays as it was. `None`: a symlink or directory target,
/// no extra connection, or a part refused to start: the caller uploads
/// over one stream.
fn upload_segmented(
    ctx: &mut Ctx,
    local: &str,
    remote: &str,
    file: &File,
    meta: &std::fs::Metadata,
    pflag: bool,
) -> Option<CmdResult> {
    let size = meta.len();
    // A link stays a link and a directory gets the server's own refusal:
    // both are left to the one-stream STOR.
    let keep_mode = match ctx.ftp.stat(remote) {
        Ok(Some(i)) if i.kind != FileKind::File => return None,
        Ok(Some(i)) => Some(i.mode & 0o777).filter(|m| *m != 0),
        Ok(None) => None,
        Err(e) if e.is_fatal() => return Some(Err(fatal(e))),
        Err(_) => None,
    };
    // The parts are planned for every connection asked for; the missing
    // ones are logged in while part 0 already moves (parallel::run_parts),
    // and a part whose connection cannot be opened goes over another one
    // (over TLS: all logged in first, one part each; parallel::take_extra).
    let mut parts = parallel::plan(size, ctx.streams(false));
    let (idle, open, one_part_each) =
        parallel::take_extra(&mut ctx.pool, &ctx.ftp, size, &mut parts)?;
    let temp = parallel::temp_name(remote);
    let first = match ctx.ftp.begin_stor(&temp, 0) {
        Ok(d) => d,
        Err(e) => {
            ctx.pool.put_back(idle);
            if matches!(e, FtpError::Tls(_)) {
                // The server opened the temporary file (150) before the
                // data connection's handshake failed.
                let _ = ctx.ftp.dele(&temp);
            }
            return Some(Err(ctx.fail(e, |s| messages::remote_open(remote, s))));
        }
    };
    let mut meter = if ctx.showprogress && size != 0 {
        Some(Meter::start(meter_name(local), size, 0))
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
    let start = |f: &mut Ftp, off: u64| f.begin_stor(&temp, off);
    let extra = parallel::Extra {
        idle,
        connector: ctx.pool.connector(),
        open,
        one_part_each,
    };
    let (r, _, extra) = parallel::run_parts(
        &mut ctx.ftp,
        first,
        extra,
        &parts,
        &start,
        Direction::Put,
        file,
        ctx.interrupted,
        &mut progress,
    );
    if let Some(m) = meter.take() {
        m.stop(last);
    }
    ctx.pool.put_back(extra);
    let r = match r {
        Ok(()) => Ok(()),
        Err(PartsError::Start { part, error }) if !ctx.interrupted() && !error.is_fatal() => {
            tracing::info!(part, error = %error, "segment refused; one stream");
            let _ = ctx.ftp.dele(&temp);
            return None;
        }
        Err(PartsError::Start { error, .. }) => Err(error),
        Err(PartsError::Transfer(e)) => Err(e),
    };
    let committed = r.and_then(|()| {
        if ctx.ftp.features.size {
            let got = ctx.ftp.size(&temp)?;
            if got != size {
                return Err(FtpError::Malformed(format!(
                    "uploaded {got} bytes of {size}"
                )));
            }
        }
        if let Some(m) = keep_mode {
            let _ = ctx.ftp.chmod(m, &temp);
        }
        ctx.ftp.rename(&temp, remote)
    });
    if let Err(e) = committed {
        if !e.is_fatal() {
            let _ = ctx.ftp.dele(&temp);
        }
        return Some(match e {
            FtpError::Interrupted => Err(CmdErr::Failed),
            FtpError::Local(e) => {
                error(&format!("read local \"{local}\": {}", strerror(&e)));
                Err(CmdErr::Failed)
            }
            e => Err(ctx.fail(e, |s| messages::write_remote(remote, s))),
        });
    }
    if pflag {
        if let Err(e) = preserve_remote(ctx, remote, meta) {
            return Some(Err(e));
        }
    }
    Some(Ok(()))
}

/// sftp-client.c upload_dir.
pub fn upload_dir(
    ctx: &mut Ctx,
    src: &str,
    dst: &str,
    pflag: bool,
    resume: bool,
    fflag: bool,
) -> CmdResult {
    let canon = match ringftp_proto::path::normalize("/", dst) {
        Ok(c) => c,
        Err(_) => {
            error(&format!("upload \"{dst}\": path canonicalization failed"));
            return Err(CmdErr::Failed);
        }
    };
    if ctx.streams(resume) == 1 {
        return upload_dir_internal(ctx, src, &canon, 0, pflag, resume, fflag, None);
    }
    // Parallel: walk first (sftp's `Entering` lines, MKD), then send the
    // files K at a time, then the directories' modes (and times with -p),
    // deepest first, as sftp sets them after their contents.
    let mut tree = Tree::default();
    let walked = upload_dir_internal(ctx, src, &canon, 0, pflag, resume, fflag, Some(&mut tree));
    if let Err(CmdErr::Fatal(m)) = walked {
        return Err(CmdErr::Fatal(m));
    }
    let sent = send_files(ctx, &tree.files, meter_name(src), pflag);
    if let Err(CmdErr::Fatal(m)) = sent {
        return Err(CmdErr::Fatal(m));
    }
    for d in tree.dirs.iter().rev() {
        fix_remote_dir(ctx, d, pflag);
    }
    sent?;
    walked
}

/// A file to send as one job of a parallel `put`.
struct PutJob {
    local: String,
    remote: String,
    size: u64,
    /// Inside `put -r`: a failure also prints sftp's `upload "x" to "y" failed`.
    in_tree: bool,
}

/// A remote directory whose mode (and mtime) is set after its files.
struct DirFix {
    path: String,
    mode: u32,
    mtime: i64,
}

/// What a parallel `put -r` gathers while walking.
#[derive(Default)]
struct Tree {
    files: Vec<PutJob>,
    dirs: Vec<DirFix>,
}

/// sftp sets the directory's mode afterwards (and times with -p); servers
/// without SITE CHMOD simply keep their default mode.
fn fix_remote_dir(ctx: &mut Ctx, d: &DirFix, pflag: bool) {
    let _ = ctx.ftp.chmod(d.mode, &d.path);
    if pflag {
        let _ = ctx.ftp.mfmt(d.mtime, &d.path);
    }
}

/// Send `jobs` over up to `--parallel` connections, whole files each, with
/// one meter for all of them.
fn send_files(ctx: &mut Ctx, jobs: &[PutJob], name: &str, pflag: bool) -> CmdResult {
    let quiet = ctx.quiet;
    let announce = |j: &PutJob| {
        if !quiet && !j.in_tree {
            say(&messages::uploading(&j.local, &j.remote));
        }
    };
    let block = ctx.pool.settings.block;
    let work = |f: &mut Ftp, j: &PutJob, stop: &AtomicBool, add: &dyn Fn(u64)| {
        let end = send_one(f, j, pflag, block, stop, add);
        if j.in_tree && matches!(end, JobEnd::Failed) && !stop.load(Ordering::SeqCst) {
            error(&messages::upload_failed(&j.local, &j.remote));
        }
        end
    };
    super::run_file_jobs(
        ctx,
        jobs,
        name,
        jobs.iter().map(|j| j.size).sum(),
        &announce,
        &work,
    )
}

/// One whole file on one connection (a job of `send_files`): do_upload
/// without resume.
fn send_one(
    ftp: &mut Ftp,
    job: &PutJob,
    pflag: bool,
    block: bool,
    stop: &AtomicBool,
    add: &dyn Fn(u64),
) -> JobEnd {
    let (local, remote) = (job.local.as_str(), job.remote.as_str());
    let file = match File::open(local) {
        Ok(f) => f,
        Err(e) => {
            error(&messages::open_local(local, &strerror(&e)));
            return JobEnd::Failed;
        }
    };
    let meta = match file.metadata() {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            error(&messages::local_not_regular(local));
            return JobEnd::Failed;
        }
        Err(e) => {
            error(&format!("fstat local \"{local}\": {}", strerror(&e)));
            return JobEnd::Failed;
        }
    };
    let mut prev = 0;
    let mut progress = |pos: u64| {
        add(pos.saturating_sub(prev));
        prev = pos;
    };
    let r = {
        let mut tctl = TransferCtl {
            interrupt: stop,
            limit: 0,
            progress: &mut progress,
        };
        // Block mode for a small file (the size now, not the walk's).
        let block = block && meta.len() <= ftp::BLOCK_MAX;
        ftp.put_file(remote, &file, meta.len(), block, &mut tctl)
    };
    match r {
        Ok(_) => {}
        Err(FtpError::Interrupted) => return JobEnd::Failed,
        Err(e @ FtpError::Reply(_)) if prev == 0 => {
            return super::job_failed(e, |s| messages::remote_open(remote, s));
        }
        Err(FtpError::Local(e)) => {
            error(&format!("read local \"{local}\": {}", strerror(&e)));
            return JobEnd::Failed;
        }
        Err(e) => return super::job_failed(e, |s| messages::write_remote(remote, s)),
    }
    if pflag {
        let mode = meta.permissions().mode() & 0o777;
        if let Err(e) = ftp.chmod(mode, remote) {
            return super::job_failed(e, |s| format!("remote fsetstat: {s}"));
        }
        if let Err(e) = ftp.mfmt(meta.mtime(), remote) {
            return super::job_failed(e, |s| format!("remote fsetstat: {s}"));
        }
    }
    JobEnd::Done
}

#[allow(clippy::too_many_arguments)]
fn upload_dir_internal(
    ctx: &mut Ctx,
    src: &str,
    dst: &str,
    depth: usize,
    pflag: bool,
    resume: bool,
    fflag: bool,
    mut tree: Option<&mut Tree>,
) -> CmdResult {
    if depth >= MAX_DIR_DEPTH {
        error(&messages::max_depth(depth));
        return Err(CmdErr::Failed);
    }
    let meta = match std::fs::metadata(src) {
        Ok(m) => m,
        Err(e) => {
            error(&format!("stat local \"{src}\": {}", strerror(&e)));
            return Err(CmdErr::Failed);
        }
    };
    if !meta.is_dir() {
        error(&messages::not_a_directory(src));
        return Err(CmdErr::Failed);
    }
    say(&messages::entering(src));
    if let Err(e) = ctx.ftp.mkd(dst) {
        if e.is_fatal() {
            return Err(fatal(e));
        }
        match ctx.ftp.stat(dst) {
            Ok(Some(i)) if i.kind == FileKind::Dir => {}
            Ok(Some(_)) => {
                error(&messages::exists_not_dir(dst));
                return Err(CmdErr::Failed);
            }
            Ok(None) => {
                error(&messages::stat_remote("No such file or directory"));
                return Err(CmdErr::Failed);
            }
            Err(e) => return Err(ctx.fail(e, messages::stat_remote)),
        }
    }
    let rd = match std::fs::read_dir(src) {
        Ok(r) => r,
        Err(e) => {
            error(&messages::local_opendir(src, &strerror(&e)));
            return Err(CmdErr::Failed);
        }
    };
    let mut ret = Ok(());
    for ent in rd {
        if ctx.interrupted() {
            break;
        }
        let Ok(ent) = ent else { continue };
        let name = ent.file_name().to_string_lossy().into_owned();
        let new_src = path_append(src, &name);
        let new_dst = path_append(dst, &name);
        match std::fs::symlink_metadata(&new_src) {
            Err(e) => {
                if !ctx.log_quiet {
                    error(&format!("local lstat \"{name}\": {}", strerror(&e)));
                }
                ret = Err(CmdErr::Failed);
            }
            Ok(m) if m.is_dir() => {
                match upload_dir_internal(
                    ctx,
                    &new_src,
                    &new_dst,
                    depth + 1,
                    pflag,
                    resume,
                    fflag,
                    tree.as_deref_mut(),
                ) {
                    Err(CmdErr::Fatal(m)) => return Err(CmdErr::Fatal(m)),
                    Err(e) => ret = Err(e),
                    Ok(()) => {}
                }
            }
            Ok(m) if m.is_file() && tree.is_some() => {
                if let Some(t) = tree.as_deref_mut() {
                    t.files.push(PutJob {
                        local: new_src,
                        remote: new_dst,
                        size: m.len(),
                        in_tree: true,
                    });
                }
            }
            Ok(m) if m.is_file() => {
                match do_upload(ctx, &new_src, &new_dst, pflag, resume, fflag) {
                    Err(CmdErr::Fatal(m)) => return Err(CmdErr::Fatal(m)),
                    Err(_) => {
                        error(&messages::upload_failed(&new_src, &new_dst));
                        ret = Err(CmdErr::Failed);
                    }
                    Ok(()) => {}
                }
            }
            Ok(_) => {
                if !ctx.log_quiet {
                    error(&messages::local_not_regular_in_dir(&name));
                }
            }
        }
    }
    let fix = DirFix {
        path: dst.to_string(),
        mode: meta.permissions().mode() & 0o1777,
        mtime: meta.mtime(),
    };
    match tree {
        Some(t) => t.dirs.push(fix),
        None => fix_remote_dir(ctx, &fix, pflag),
    }
    ret
}
