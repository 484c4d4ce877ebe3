//! STOU (RFC 959 4.1.3, RFC 1123 4.1.2.9): store under a name the server
//! picks so nothing is overwritten; the 150 reply says "FILE: name".

use ringftp_proto::path;
use ringftp_proto::reply::Reply;

use super::{fs_reply, rel, xfer, Ctx};
use crate::storage::UploadMode;

pub async fn run(ctx: &mut Ctx<'_>, hint: Option<&str>) -> Reply {
    if let Some(r) = ctx.deny_write() {
        xfer::discard(ctx);
        return r;
    }
    let base = match hint {
        Some(h) => match ctx.resolve(h) {
            Ok(p) => p,
            Err(r) => return r,
        },
        None => path::join(&ctx.login.cwd, "ftp.upload"),
    };
    let dir = path::parent(&base).to_string();
    let name = path::file_name(&base).unwrap_or("ftp.upload").to_string();
    let dir_rel = rel(&dir);
    let unique = match ctx.login.storage.unique_name(&dir_rel, &name).await {
        Ok(n) => n,
        Err(e) => {
            xfer::discard(ctx);
            return fs_reply(hint.unwrap_or("."), &e);
        }
    };
    let target = path::join(&dir, &unique);
    let reply = super::stor::receive(
        ctx,
        &target,
        UploadMode::Replace,
        Some(format!("FILE: {unique}")),
    )
    .await;
    if reply.code == 226 {
        return Reply::new(
            226,
            format!("Transfer complete (unique file name: {unique})."),
        );
    }
    if reply.code == 250 {
        let conn = if ctx.login.kept.is_some() {
            "kept open"
        } else {
            "closed"
        };
        return Reply::new(
            250,
            format!("Transfer complete (unique file name: {unique}); data connection {conn}."),
        );
    }
    reply
}
