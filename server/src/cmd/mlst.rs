//! MLST (RFC 3659 7): facts about one entry, sent on the control connection
//! as a 250 multi-line reply whose middle line starts with a space.

use ringftp_proto::listing::format_mlsx;
use ringftp_proto::reply::Reply;

use super::{fs, fs_reply, rel, Ctx};

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
    match fs(&ctx.login.jail, move |j| j.stat(&r)).await {
        Ok(mut info) => {
            info.name = abs.clone();
            Reply::multi(
                250,
                vec![
                    format!("Listing {shown}"),
                    format!(" {}", format_mlsx(&info, ctx.facts)),
                    "End".to_string(),
                ],
            )
        }
        Err(e) => fs_reply(&shown, &e),
    }
}
