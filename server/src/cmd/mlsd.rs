//! MLSD (RFC 3659 7): a machine-readable listing of a directory, one
//! "facts; name" line per entry. The argument must name a directory.

use ringftp_proto::listing::{format_mlsx, FileKind};
use ringftp_proto::reply::Reply;

use super::{fs_reply, list, rel, xfer, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, arg: Option<&str>) -> Reply {
    let shown = arg.unwrap_or(".").to_string();
    let abs = match arg {
        Some(a) => match ctx.resolve(a) {
            Ok(p) => p,
            Err(r) => return r,
        },
        None => ctx.login.cwd.clone(),
    };
    let r = rel(&abs);
    match ctx.login.storage.metadata(&r).await {
        Ok(m) if m.kind == FileKind::Dir => {}
        Ok(_) => {
            xfer::discard(ctx);
            return Reply::new(501, format!("{shown}: Not a directory"));
        }
        Err(e) => {
            xfer::discard(ctx);
            return fs_reply(&shown, &e);
        }
    }
    let entries = match list::entries(ctx, arg).await {
        Ok(l) => l,
        Err(r) => {
            xfer::discard(ctx);
            return r;
        }
    };
    let mut text = String::with_capacity(entries.len() * 96);
    for e in &entries {
        text.push_str(&format_mlsx(e, ctx.facts));
        text.push_str("\r\n");
    }
    list::send_listing(ctx, text).await
}
