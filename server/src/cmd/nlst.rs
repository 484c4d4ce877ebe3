//! NLST (RFC 959 4.1.3): names only, one per line. For a directory given as
//! an argument each name is prefixed with that argument and a slash (as most
//! servers do, so `mget dir/*` style clients work); for the current directory
//! names are bare; for a file, its name as given.

use ringftp_proto::listing::FileKind;
use ringftp_proto::reply::Reply;

use super::{fs_reply, list, rel, xfer, Ctx};

pub async fn run(ctx: &mut Ctx<'_>, arg: Option<&str>) -> Reply {
    let arg = arg.filter(|a| !a.is_empty() && *a != ".");
    let abs = match arg {
        Some(a) => match ctx.resolve(a) {
            Ok(p) => p,
            Err(r) => return r,
        },
        None => ctx.login.cwd.clone(),
    };
    let r = rel(&abs);
    let is_dir = match ctx.login.storage.metadata(&r).await {
        Ok(m) => m.kind == FileKind::Dir,
        Err(e) => {
            xfer::discard(ctx);
            return fs_reply(arg.unwrap_or("."), &e);
        }
    };
    let mut text = String::new();
    if let (false, Some(a)) = (is_dir, arg) {
        text.push_str(a);
        text.push_str("\r\n");
    } else {
        let entries = match list::entries(ctx, arg).await {
            Ok(l) => l,
            Err(r) => {
                xfer::discard(ctx);
                return r;
            }
        };
        let prefix = match arg {
            Some(a) => format!("{}/", a.trim_end_matches('/')),
            None => String::new(),
        };
        for e in &entries {
            text.push_str(&prefix);
            text.push_str(&e.name);
            text.push_str("\r\n");
        }
    }
    list::send_listing(ctx, text).await
}
