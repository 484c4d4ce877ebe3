//! ALLO (RFC 959 4.1.3): storage is not reserved ahead; "the command should
//! be treated as a NOOP".

use ringftp_proto::reply::Reply;

pub fn run() -> Reply {
    Reply::new(202, "ALLO command ignored.")
}
