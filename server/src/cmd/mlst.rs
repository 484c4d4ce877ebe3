//! MLST (RFC 3659 7): facts about one entry, sent on the control connection
//! as a 250 multi-line reply whose middle line starts with a space.

use ringftp_proto::listing::format_mlsx;
use ringftp_proto::reply::Reply;

use super::Ctx;

pub async fn run(ctx: &mut Ctx<'_>, arg: Option<&str>) -> Reply {
    match ctx
        .with_path(arg, |s, p| async move { s.stat(&p).await })
        .await
    {
        Ok((abs, mut info)) => {
            info.name = abs;
            Reply::multi(
                250,
                vec![
                    format!("Listing {}", arg.unwrap_or(".")),
                    format!(" {}", format_mlsx(&info, ctx.facts)),
                    "End".to_string(),
                ],
            )
        }
        Err(r) => r,
    }
}
