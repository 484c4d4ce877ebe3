//! Data-connection addresses: `PASV`/`PORT` (RFC 959 section 4.1.2) and `EPSV`/`EPRT` (RFC 2428).
//!
//! Port 0 is refused everywhere: nothing can connect to it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// Why an address argument or reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    /// No `h1,h2,h3,h4,p1,p2` (or `(|||port|)`) found.
    #[error("no address found")]
    NotFound,
    /// Not six comma-separated numbers.
    #[error("expected six comma-separated numbers")]
    WrongFieldCount,
    /// A field is not a number from 0 to 255.
    #[error("number out of range 0..=255: {0:?}")]
    BadNumber(String),
    /// The port is not a number from 1 to 65535.
    #[error("bad port: {0:?}")]
    BadPort(String),
    /// The address does not parse, or does not match the protocol number.
    #[error("bad network address: {0:?}")]
    BadHost(String),
    /// EPRT protocol other than 1 (IPv4) or 2 (IPv6).
    #[error("unsupported network protocol: {0:?}")]
    BadProtocol(String),
    /// EPRT/EPSV delimiter outside ASCII 33..=126, or fields not delimited by it.
    #[error("bad delimiter")]
    BadDelimiter,
}

/// The 227 reply text: `"Entering Passive Mode (127,0,0,1,195,80)."`.
pub fn format_pasv(addr: SocketAddrV4) -> String {
    format!("Entering Passive Mode ({}).", format_port(addr))
}

/// Finds the six numbers `h1,h2,h3,h4,p1,p2` anywhere in a 227 reply text (with or without the
/// parentheses, as servers differ).
pub fn parse_pasv(text: &str) -> Result<SocketAddrV4, AddrError> {
    let mut last_err = AddrError::NotFound;
    for run in text.split(|c: char| !(c.is_ascii_digit() || c == ',')) {
        if run.split(',').count() != 6 {
            continue;
        }
        match parse_port(run) {
            Ok(a) => return Ok(a),
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

/// The 229 reply text: `"Entering Extended Passive Mode (|||6446|)"`.
pub fn format_epsv(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// Reads the port from a 229 reply text: `(dddportd)` with any delimiter `d` in ASCII 33..=126.
pub fn parse_epsv(text: &str) -> Result<u16, AddrError> {
    let mut last_err = AddrError::NotFound;
    for (i, _) in text.match_indices('(') {
        let inner = text.get(i + 1..).unwrap_or_default();
        let Some(end) = inner.find(')') else { continue };
        match parse_epsv_tuple(inner.get(..end).unwrap_or_default()) {
            Ok(p) => return Ok(p),
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

fn parse_epsv_tuple(t: &str) -> Result<u16, AddrError> {
    let d = delimiter(t)?;
    let fields: Vec<&str> = t.split(d).collect();
    match fields.as_slice() {
        ["", "", "", port, ""] => parse_port_number(port),
        _ => Err(AddrError::BadDelimiter),
    }
}

/// `PORT` argument `"h1,h2,h3,h4,p1,p2"`, each 0..=255 (spaces around numbers are tolerated).
pub fn parse_port(arg: &str) -> Result<SocketAddrV4, AddrError> {
    let fields: Vec<&str> = arg.trim().split(',').map(str::trim).collect();
    let [h1, h2, h3, h4, p1, p2] = fields.as_slice() else {
        return Err(AddrError::WrongFieldCount);
    };
    let n = |s: &str| -> Result<u8, AddrError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AddrError::BadNumber(s.to_owned()));
        }
        s.parse().map_err(|_| AddrError::BadNumber(s.to_owned()))
    };
    let ip = Ipv4Addr::new(n(h1)?, n(h2)?, n(h3)?, n(h4)?);
    let port = u16::from(n(p1)?) << 8 | u16::from(n(p2)?);
    if port == 0 {
        return Err(AddrError::BadPort(format!("{p1},{p2}")));
    }
    Ok(SocketAddrV4::new(ip, port))
}

/// `PORT` argument for an address: `"127,0,0,1,195,80"`.
pub fn format_port(addr: SocketAddrV4) -> String {
    let [a, b, c, d] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{a},{b},{c},{d},{p1},{p2}")
}

/// `EPRT` argument: `"|1|132.235.1.2|6275|"` or `"|2|::1|5282|"` (any delimiter in ASCII 33..=126).
pub fn parse_eprt(arg: &str) -> Result<SocketAddr, AddrError> {
    let d = delimiter(arg)?;
    let fields: Vec<&str> = arg.split(d).collect();
    let ["", proto, host, port, ""] = fields.as_slice() else {
        return Err(AddrError::BadDelimiter);
    };
    let ip: IpAddr = match *proto {
        "1" => host
            .parse::<Ipv4Addr>()
            .map_err(|_| AddrError::BadHost((*host).to_owned()))?
            .into(),
        "2" => host
            .parse::<Ipv6Addr>()
            .map_err(|_| AddrError::BadHost((*host).to_owned()))?
            .into(),
        other => return Err(AddrError::BadProtocol(other.to_owned())),
    };
    Ok(SocketAddr::new(ip, parse_port_number(port)?))
}

/// `EPRT` argument for an address: `"|1|127.0.0.1|6275|"`, `"|2|::1|5282|"`.
pub fn format_eprt(addr: SocketAddr) -> String {
    let proto = if addr.is_ipv4() { 1 } else { 2 };
    format!("|{proto}|{}|{}|", addr.ip(), addr.port())
}

fn delimiter(s: &str) -> Result<char, AddrError> {
    match s.chars().next() {
        Some(d) if ('!'..='~').contains(&d) && !d.is_ascii_alphanumeric() => Ok(d),
        _ => Err(AddrError::BadDelimiter),
    }
}

fn parse_port_number(s: &str) -> Result<u16, AddrError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddrError::BadPort(s.to_owned()));
    }
    match s.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(AddrError::BadPort(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port)
    }

    #[test]
    fn pasv_format_and_parse() {
        let a = v4(127, 0, 0, 1, 50000);
        assert_eq!(format_pasv(a), "Entering Passive Mode (127,0,0,1,195,80).");
        assert_eq!(parse_pasv(&format_pasv(a)), Ok(a));
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,195,80)"),
            Ok(a)
        );
        assert_eq!(parse_pasv("Entering Passive Mode 127,0,0,1,195,80"), Ok(a));
        assert_eq!(parse_pasv("=127,0,0,1,195,80"), Ok(a));
        assert_eq!(
            parse_pasv("227 ok (10,0,0,1,0,21) and then 1,2"),
            Ok(v4(10, 0, 0, 1, 21))
        );
    }

    #[test]
    fn pasv_malformed() {
        assert_eq!(
            parse_pasv("Entering Passive Mode"),
            Err(AddrError::NotFound)
        );
        assert_eq!(parse_pasv("(127,0,0,1,195)"), Err(AddrError::NotFound));
        assert!(matches!(
            parse_pasv("(127,0,0,1,300,80)"),
            Err(AddrError::BadNumber(_))
        ));
        assert!(matches!(
            parse_pasv("(127,0,0,1,0,0)"),
            Err(AddrError::BadPort(_))
        ));
        assert!(matches!(
            parse_pasv("(127,0,0,,1,1)"),
            Err(AddrError::BadNumber(_))
        ));
        assert!(parse_pasv("").is_err());
    }

    #[test]
    fn port_round_trip_and_errors() {
        for a in [
            v4(127, 0, 0, 1, 1),
            v4(255, 255, 255, 255, 65535),
            v4(0, 0, 0, 0, 256),
        ] {
            assert_eq!(parse_port(&format_port(a)), Ok(a));
        }
        assert_eq!(format_port(v4(192, 168, 1, 2, 1025)), "192,168,1,2,4,1");
        assert_eq!(parse_port(" 1, 2,3,4,5,6 "), Ok(v4(1, 2, 3, 4, 1286)));
        assert_eq!(parse_port("1,2,3,4,5"), Err(AddrError::WrongFieldCount));
        assert_eq!(parse_port("1,2,3,4,5,6,7"), Err(AddrError::WrongFieldCount));
        assert_eq!(parse_port(""), Err(AddrError::WrongFieldCount));
        assert!(matches!(
            parse_port("1,2,3,256,5,6"),
            Err(AddrError::BadNumber(_))
        ));
        assert!(matches!(
            parse_port("1,2,3,-4,5,6"),
            Err(AddrError::BadNumber(_))
        ));
        assert!(matches!(
            parse_port("1,2,3,+4,5,6"),
            Err(AddrError::BadNumber(_))
        ));
        assert!(matches!(
            parse_port("a,b,c,d,e,f"),
            Err(AddrError::BadNumber(_))
        ));
        assert!(matches!(
            parse_port("1,2,3,4,,6"),
            Err(AddrError::BadNumber(_))
        ));
        assert!(matches!(
            parse_port("1,2,3,4,0,0"),
            Err(AddrError::BadPort(_))
        ));
    }

    #[test]
    fn epsv_format_and_parse() {
        assert_eq!(
            format_epsv(6446),
            "Entering Extended Passive Mode (|||6446|)"
        );
        assert_eq!(parse_epsv(&format_epsv(6446)), Ok(6446));
        assert_eq!(
            parse_epsv("229 Entering Extended Passive Mode (!!!65535!)"),
            Ok(65535)
        );
        assert_eq!(parse_epsv("(###1#)"), Ok(1));
        assert_eq!(parse_epsv("see (note) then (|||21|)"), Ok(21));
    }

    #[test]
    fn epsv_malformed() {
        assert_eq!(
            parse_epsv("Entering Extended Passive Mode"),
            Err(AddrError::NotFound)
        );
        assert!(matches!(parse_epsv("(|||0|)"), Err(AddrError::BadPort(_))));
        assert!(matches!(
            parse_epsv("(|||65536|)"),
            Err(AddrError::BadPort(_))
        ));
        assert!(matches!(parse_epsv("(|||x|)"), Err(AddrError::BadPort(_))));
        assert!(matches!(
            parse_epsv("(|||1234)"),
            Err(AddrError::BadDelimiter)
        ));
        assert!(matches!(
            parse_epsv("(||1234|)"),
            Err(AddrError::BadDelimiter)
        ));
        assert!(matches!(
            parse_epsv("(|!|1234|)"),
            Err(AddrError::BadDelimiter)
        ));
        assert!(matches!(parse_epsv("(1111)"), Err(AddrError::BadDelimiter)));
        assert!(matches!(parse_epsv("(|||12|"), Err(AddrError::NotFound)));
    }

    #[test]
    fn eprt_round_trip_and_parse() {
        let a4: SocketAddr = "132.235.1.2:6275".parse().unwrap();
        let a6: SocketAddr = "[::1]:5282".parse().unwrap();
        assert_eq!(parse_eprt("|1|132.235.1.2|6275|"), Ok(a4));
        assert_eq!(parse_eprt("|2|::1|5282|"), Ok(a6));
        assert_eq!(format_eprt(a4), "|1|132.235.1.2|6275|");
        assert_eq!(format_eprt(a6), "|2|::1|5282|");
        let full: SocketAddr = "[1080::8:800:200c:417a]:5282".parse().unwrap();
        assert_eq!(parse_eprt(&format_eprt(full)), Ok(full));
        assert_eq!(
            parse_eprt("#1#10.0.0.1#21#"),
            Ok("10.0.0.1:21".parse().unwrap())
        );
    }

    #[test]
    fn eprt_malformed() {
        assert!(matches!(
            parse_eprt("|3|1.2.3.4|21|"),
            Err(AddrError::BadProtocol(_))
        ));
        assert!(matches!(
            parse_eprt("||1.2.3.4|21|"),
            Err(AddrError::BadProtocol(_))
        ));
        assert!(matches!(
            parse_eprt("|1|::1|21|"),
            Err(AddrError::BadHost(_))
        ));
        assert!(matches!(
            parse_eprt("|2|1.2.3.4|21|"),
            Err(AddrError::BadHost(_))
        ));
        assert!(matches!(
            parse_eprt("|1|1.2.3.256|21|"),
            Err(AddrError::BadHost(_))
        ));
        assert!(matches!(
            parse_eprt("|1|1.2.3.4|0|"),
            Err(AddrError::BadPort(_))
        ));
        assert!(matches!(
            parse_eprt("|1|1.2.3.4|70000|"),
            Err(AddrError::BadPort(_))
        ));
        assert!(matches!(
            parse_eprt("|1|1.2.3.4||"),
            Err(AddrError::BadPort(_))
        ));
        assert!(matches!(
            parse_eprt("|1|1.2.3.4|21"),
            Err(AddrError::BadDelimiter)
        ));
        assert!(matches!(
            parse_eprt("|1|1.2.3.4|21|x"),
            Err(AddrError::BadDelimiter)
        ));
        assert!(matches!(
            parse_eprt("1|1.2.3.4|21|"),
            Err(AddrError::BadDelimiter)
        ));
        assert!(matches!(
            parse_eprt(" |1|1.2.3.4|21|"),
            Err(AddrError::BadDelimiter)
        ));
        assert!(matches!(parse_eprt(""), Err(AddrError::BadDelimiter)));
    }

    /// Random text (LCG) into every parser never panics; what parses formats back to itself.
    #[test]
    fn fuzz_parsers() {
        let mut state: u64 = 777;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        let pieces = [
            "|",
            "1",
            "2",
            "255",
            "256",
            ",",
            "(",
            ")",
            ":",
            "::1",
            ".",
            "127.0.0.1",
            "65535",
            "0",
            "#",
            " ",
        ];
        for _ in 0..50_000 {
            let n = next() % 12;
            let s: String = (0..n).map(|_| pieces[next() % pieces.len()]).collect();
            if let Ok(a) = parse_port(&s) {
                assert_eq!(parse_port(&format_port(a)), Ok(a));
            }
            if let Ok(a) = parse_eprt(&s) {
                assert_eq!(parse_eprt(&format_eprt(a)), Ok(a));
            }
            if let Ok(a) = parse_pasv(&s) {
                assert_eq!(parse_pasv(&format_pasv(a)), Ok(a));
            }
            if let Ok(p) = parse_epsv(&s) {
                assert_eq!(parse_epsv(&format_epsv(p)), Ok(p));
            }
        }
    }
}
