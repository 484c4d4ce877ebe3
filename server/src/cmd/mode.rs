//! MODE (RFC 959 4.1.2): only S (stream) is supported.

use ringftp_proto::reply::Reply;

pub fn run(mode: char) -> Reply {
    if mode.eq_ignore_ascii_case(&'S') {
        Reply::new(200, "Mode set to S.")
    } else {
        Reply::new(504, "Bad MODE command: only S is supported.")
    }
}
