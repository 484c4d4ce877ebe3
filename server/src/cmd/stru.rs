//! STRU (RFC 959 4.1.2): only F (file, no record structure) is supported.

use ringftp_proto::reply::Reply;

pub fn run(stru: char) -> Reply {
    if stru.eq_ignore_ascii_case(&'F') {
        Reply::new(200, "Structure set to F.")
    } else {
        Reply::new(504, "Bad STRU command: only F is supported.")
    }
}
