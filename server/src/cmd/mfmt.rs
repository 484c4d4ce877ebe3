//! MFMT (draft-somers-ftp-mfxx): set a file's modification time, as
//! `get -p`/`put -p` need. Reply 213 "Modify=YYYYMMDDHHMMSS; path".

use ringftp_proto::listing::format_time_val;
use ringftp_proto::reply::Reply;

use super::Ctx;

pub async fn run(ctx: &mut Ctx<'_>, mtime: i64, arg: &str) -> Reply {
    if let Some(r) = ctx.deny_write() {
        return r;
    }
    match ctx
        .with_path(Some(arg), move |s, p| async move {
            s.set_mtime(&p, mtime).await
        })
        .await
    {
        Ok(_) => Reply::new(213, format!("Modify={}; {arg}", format_time_val(mtime))),
        Err(r) => r,
    }
}
