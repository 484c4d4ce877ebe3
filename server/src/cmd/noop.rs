//! NOOP (RFC 959 4.1.3): "The server is to send an OK reply."

use ringftp_proto::reply::Reply;

pub fn run() -> Reply {
    Reply::new(200, "NOOP ok.")
}
