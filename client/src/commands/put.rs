//! `put`/`reput`/`mput`: upload files, with local globs, `-r` trees and `-a`
//! resume (sftp.c process_put, sftp-client.c do_upload/upload_dir). Over FTP:
//! STOR (APPE to resume) with sendfile(2); `-p` sends SITE CHMOD and MFMT.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use ringftp_proto::listing::FileKind;

use super::{
    basename, error, make_absolute, path_append, say, strerror, CmdErr, CmdResult, Ctx, Invocation,
};
use crate::ftp::{FtpError, TransferCtl};
use crate::glob::local_glob;
use crate::messages;
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
        let mode = meta.permissions().mode() & 0o777;
        if let Err(e) = ctx.ftp.chmod(mode, remote) {
            return Err(ctx.fail(e, |s| format!("remote fsetstat: {s}")));
        }
        if let Err(e) = ctx.ftp.mfmt(meta.mtime(), remote) {
            return Err(ctx.fail(e, |s| format!("remote fsetstat: {s}")));
        }
    }
    Ok(())
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
    upload_dir_internal(ctx, src, &canon, 0, pflag, resume, fflag)
}

fn upload_dir_internal(
    ctx: &mut Ctx,
    src: &str,
    dst: &str,
    depth: usize,
    pflag: bool,
    resume: bool,
    fflag: bool,
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
                match upload_dir_internal(ctx, &new_src, &new_dst, depth + 1, pflag, resume, fflag)
                {
                    Err(CmdErr::Fatal(m)) => return Err(CmdErr::Fatal(m)),
                    Err(e) => ret = Err(e),
                    Ok(()) => {}
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
    // sftp sets the directory's mode afterwards (and times with -p); servers
    // without SITE CHMOD simply keep their default mode.
    let _ = ctx.ftp.chmod(meta.permissions().mode() & 0o1777, dst);
    if pflag {
        let _ = ctx.ftp.mfmt(meta.mtime(), dst);
    }
    ret
}
