//! PBSZ (RFC 4217 8): "For FTP-TLS, which appears to the FTP application as a
//! streaming protection mechanism, this is not required. Thus, the PBSZ
//! command MUST still be issued, but must have a parameter of '0'". Any size
//! is answered "PBSZ=0", which tells the client the size in force. Only
//! meaningful after AUTH TLS (503 before).

use ringftp_proto::reply::Reply;

use crate::session::Session;

pub fn run(s: &Session, _size: u64) -> Reply {
    if !s.ctl.is_tls() {
        return Reply::new(503, "PBSZ needs AUTH TLS first.");
    }
    Reply::new(200, "PBSZ=0")
}
