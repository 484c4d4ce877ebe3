//! FEAT (RFC 2389 3): the extensions this server supports, one per line,
//! each line starting with a space. MLST lists its facts, active ones starred
//! (RFC 3659 7.8). AUTH TLS, PBSZ and PROT (RFC 4217 6) are listed unless
//! TLS is off. EPSV is not listed to a client behind a load
//! balancer that EPSV cannot serve (see `epsv.rs`).

use ringftp_proto::listing::FactSet;
use ringftp_proto::reply::Reply;

pub fn run(facts: &FactSet, tls: bool, epsv: bool) -> Reply {
    let mut lines = vec!["Features:".to_string()];
    if tls {
        lines.push(" AUTH TLS".to_string());
    }
    lines.extend([" AVBL".to_string(), " EPRT".to_string()]);
    if epsv {
        lines.push(" EPSV".to_string());
    }
    lines.extend([
        " MDTM".to_string(),
        " MFMT".to_string(),
        format!(" MLST {}", facts.feat_line()),
        " PASV".to_string(),
    ]);
    if tls {
        lines.push(" PBSZ".to_string());
        lines.push(" PROT".to_string());
    }
    lines.extend([
        " REST STREAM".to_string(),
        " SIZE".to_string(),
        " TVFS".to_string(),
        " UTF8".to_string(),
        "End".to_string(),
    ]);
    Reply::multi(211, lines)
}
