//! CDUP / XCUP (RFC 959 4.1.1): change to the parent directory; at the
//! user's root it stays there (chroot semantics).

use ringftp_proto::reply::Reply;

use super::Ctx;

pub async fn run(ctx: &mut Ctx<'_>) -> Reply {
    let r = super::cwd::run(ctx, "..").await;
    if r.code == 250 {
        // RFC 959 lists 200 for CDUP; 250 is what most servers send and what
        // clients accept either way.
        return Reply::new(250, "Directory successfully changed.");
    }
    r
}
