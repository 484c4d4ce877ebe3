//! QUIT (RFC 959 4.1.1): "terminates a USER and if file transfer is not in
//! progress, the server closes the control connection."

use ringftp_proto::reply::Reply;

use crate::session::Session;

pub fn run(s: &mut Session) -> Reply {
    s.closing = true;
    Reply::new(221, "Goodbye.")
}
