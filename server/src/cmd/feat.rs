//! FEAT (RFC 2389 3): the extensions this server supports, one per line,
//! each line starting with a space. MLST lists its facts, active ones starred
//! (RFC 3659 7.8). AUTH TLS, PBSZ and PROT (RFC 4217 6) are listed unless
//! TLS is off. EPSV is not listed to a client behind a load
//! balancer that EPSV cannot serve (see `epsv.rs`). On object storage AVBL
//! and MFMT are left out: they cannot work there.

use ringftp_proto::listing::FactSet;
use ringftp_proto::reply::Reply;

/// `object_store`: the root is on S3, where AVBL and MFMT cannot work.
pub fn run(facts: &FactSet, tls: bool, epsv: bool, object_store: bool) -> Reply {
    let mut lines = vec!["Features:".to_string()];
    if tls {
        lines.push(" AUTH TLS".to_string());
    }
    if !object_store {
        lines.push(" AVBL".to_string());
    }
    lines.push(" EPRT".to_string());
    if epsv {
        lines.push(" EPSV".to_string());
    }
    lines.push(" MDTM".to_string());
    if !object_store {
        lines.push(" MFMT".to_string());
    }
    lines.extend([format!(" MLST {}", facts.feat_line()), " PASV".to_string()]);
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
