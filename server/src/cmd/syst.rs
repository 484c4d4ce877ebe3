//! SYST (RFC 959 4.1.3): the system type. "UNIX Type: L8" tells clients to
//! expect `ls -l` style LIST output and 8-bit bytes.

use ringftp_proto::reply::Reply;

pub fn run() -> Reply {
    Reply::new(215, "UNIX Type: L8")
}
