//! PROT (RFC 4217 9): the data channel protection level. "C" (Clear, the
//! default) and "P" (Private: TLS on every data connection) are offered; "S"
//! and "E" are defined by RFC 2228 but have no meaning for TLS (536); any
//! other letter is 504. Only after AUTH TLS (503 before). With
//! `--tls required`, Clear is refused (534, "denied for policy reasons").

use ringftp_proto::reply::Reply;

use crate::session::Session;

pub fn run(s: &mut Session, level: char) -> Reply {
    if !s.ctl.is_tls() {
        return Reply::new(503, "PROT needs AUTH TLS first.");
    }
    // A data connection kept open in block mode closes: the next one is
    // set up with the new protection level.
    s.close_kept();
    match level {
        'P' => {
            s.protect_data = true;
            Reply::new(200, "PROT now Private.")
        }
        'C' if s.shared.config.tls_required() => Reply::new(
            534,
            "PROT C refused: this server requires protected data connections.",
        ),
        'C' => {
            s.protect_data = false;
            Reply::new(200, "PROT now Clear.")
        }
        'S' | 'E' => Reply::new(536, "PROT level not supported: use P or C."),
        _ => Reply::new(504, "PROT level unknown: use P or C."),
    }
}
