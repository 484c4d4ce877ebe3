//! AUTH (RFC 4217 4): TLS on the control connection. Not offered yet; the
//! reply lets clients that only try TLS (curl --ssl, lftp) continue in plain
//! FTP, and clients that require it stop with a clear message.

use ringftp_proto::reply::Reply;

pub fn run(_mechanism: &str) -> Reply {
    Reply::new(
        502,
        "AUTH not supported: this server speaks plain FTP only.",
    )
}
