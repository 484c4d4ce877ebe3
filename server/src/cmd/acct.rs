//! ACCT (RFC 959 4.1.1): accounts are not used by this server.

use ringftp_proto::reply::Reply;

pub fn run() -> Reply {
    Reply::new(202, "ACCT not needed on this server.")
}
