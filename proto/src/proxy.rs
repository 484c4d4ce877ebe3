//! The PROXY protocol header (HAProxy's `proxy-protocol.txt`, versions 1 and 2) that a TCP load
//! balancer puts in front of the control connection to pass on the client's real address.
//!
//! No I/O: [`parse`] takes the bytes received so far and answers "need more", a [`Header`]
//! (with the number of bytes it took; what follows belongs to the FTP session) or an error.
//! The byte-level parsing is the `ppp` crate's; this module adds the bounds the server relies on
//! and reduces the result to what it needs:
//!
//! - version 1 (text) is at most [`V1_MAX`] bytes (107, the specification's bound);
//! - version 2 (binary) is a 16-byte header and at most [`V2_MAX_PAYLOAD`] bytes of addresses
//!   and TLVs, refused as soon as the 16 bytes announce more, without waiting for them;
//! - anything else at the start is [`ProxyError::Missing`] as soon as one byte shows it.
//!
//! What the server does with a header ([`Source`]): `PROXY TCP4/TCP6` and v2 `PROXY` over
//! IPv4/IPv6 name the client; v1 `UNKNOWN`, v2 `LOCAL` (a balancer's own health check), and v2
//! over AF_UNIX or an unspecified family name nobody, and the connection's own peer stands.

use std::net::SocketAddr;

use ppp::v1;
use ppp::v2;

/// Longest version 1 header, CRLF included (the specification's worst case, TCP6 with both ports).
pub const V1_MAX: usize = 107;
/// Fixed part of a version 2 header: signature, version/command, family/protocol, length.
pub const V2_FIXED: usize = 16;
/// Most bytes accepted after the fixed part of a version 2 header. IPv6 addresses take 36 and
/// AF_UNIX ones 216; the rest leaves room for the TLVs HAProxy can add (authority, unique id,
/// TLS details). The format allows 65,535; nobody needs that much to say who connected.
pub const V2_MAX_PAYLOAD: usize = 2048;
/// The first bytes of every version 2 header.
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The first bytes of every version 1 header.
pub const V1_PREFIX: &[u8; 6] = b"PROXY ";

/// Who the balancer says is at the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The client's own address and port (`from`), and the balancer's address
    /// it connected to (`to`).
    Client { from: SocketAddr, to: SocketAddr },
    /// No client named (v1 `UNKNOWN`, v2 `LOCAL`, AF_UNIX, unspecified family): the connection
    /// is the balancer's own, and its TCP peer address is the one to use.
    Unknown,
}

impl Source {
    /// The client's address, if the header names one.
    pub fn client(&self) -> Option<SocketAddr> {
        match self {
            Source::Client { from, .. } => Some(*from),
            Source::Unknown => None,
        }
    }
}

/// A complete header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 1 or 2.
    pub version: u8,
    pub source: Source,
    /// Bytes the header took at the start of the input; the session starts after them.
    pub len: usize,
}

/// What the bytes so far amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A prefix of a valid header: read more (the caller bounds the time).
    NeedMore,
    Header(Header),
}

/// Why the input is not a usable header. Once returned, more bytes cannot change it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("no PROXY protocol header")]
    Missing,
    #[error("PROXY protocol v1 header longer than {V1_MAX} bytes")]
    V1TooLong,
    #[error("PROXY protocol v2 header announces {0} bytes after its fixed part, more than {V2_MAX_PAYLOAD}")]
    V2TooLong(usize),
    #[error("invalid PROXY protocol v1 header: {0}")]
    V1(String),
    #[error("invalid PROXY protocol v2 header: {0}")]
    V2(String),
    #[error("PROXY protocol v2 header for a datagram protocol on a TCP connection")]
    NotStream,
}

/// Whether `first` (the first bytes a peer sent) starts like a PROXY header, for refusing one
/// from a peer that is not a trusted balancer. Needs the whole v1 prefix or v2 signature.
pub fn looks_like_header(first: &[u8]) -> bool {
    first.starts_with(V1_PREFIX) || first.starts_with(V2_SIGNATURE)
}

/// Parses the header at the start of `buf`; see the module docs.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf.get(..n) == V2_SIGNATURE.get(..n) {
        if n < V2_SIGNATURE.len() {
            return Ok(Parsed::NeedMore);
        }
        parse_v2(buf)
    } else {
        parse_v1(buf)
    }
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let Some(&[hi, lo]) = buf.get(14..16) else {
        return Ok(Parsed::NeedMore);
    };
    let payload = usize::from(u16::from_be_bytes([hi, lo]));
    if payload > V2_MAX_PAYLOAD {
        return Err(ProxyError::V2TooLong(payload));
    }
    let header = match v2::Header::try_from(buf) {
        Ok(h) => h,
        Err(v2::ParseError::Incomplete(_) | v2::ParseError::Partial(..)) => {
            return Ok(Parsed::NeedMore)
        }
        Err(e) => return Err(ProxyError::V2(e.to_string())),
    };
    let source = match (header.command, header.addresses) {
        (v2::Command::Local, _) => Source::Unknown,
        (v2::Command::Proxy, v2::Addresses::IPv4(a)) if is_stream(header.protocol)? => {
            Source::Client {
                from: SocketAddr::from((a.source_address, a.source_port)),
                to: SocketAddr::from((a.destination_address, a.destination_port)),
            }
        }
        (v2::Command::Proxy, v2::Addresses::IPv6(a)) if is_stream(header.protocol)? => {
            Source::Client {
                from: SocketAddr::from((a.source_address, a.source_port)),
                to: SocketAddr::from((a.destination_address, a.destination_port)),
            }
        }
        (v2::Command::Proxy, _) => Source::Unknown,
    };
    Ok(Parsed::Header(Header {
        version: 2,
        source,
        len: header.len(),
    }))
}

/// An IP address in a v2 header must come with STREAM: the session is a TCP connection.
fn is_stream(p: v2::Protocol) -> Result<bool, ProxyError> {
    match p {
        v2::Protocol::Stream => Ok(true),
        v2::Protocol::Datagram | v2::Protocol::Unspecified => Err(ProxyError::NotStream),
    }
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let n = buf.len().min(V1_PREFIX.len());
    if buf.get(..n) != V1_PREFIX.get(..n) {
        return Err(ProxyError::Missing);
    }
    // The header ends at the first CR (which must be followed by LF); without one in the first
    // 107 bytes it can never be valid.
    let end = buf.iter().position(|&b| b == b'\r');
    let lf = buf.iter().position(|&b| b == b'\n');
    if lf.is_some_and(|lf| end.is_none_or(|cr| lf < cr)) {
        return Err(ProxyError::V1("line ends without CR".to_string()));
    }
    match end {
        None if buf.len() >= V1_MAX => return Err(ProxyError::V1TooLong),
        None => return Ok(Parsed::NeedMore),
        Some(cr) if cr + 2 > V1_MAX => return Err(ProxyError::V1TooLong),
        Some(cr) if cr + 2 > buf.len() => return Ok(Parsed::NeedMore),
        Some(_) => {}
    }
    let header = match v1::Header::try_from(buf) {
        Ok(h) => h,
        Err(v1::BinaryParseError::Parse(e)) => return Err(ProxyError::V1(e.to_string())),
        Err(v1::BinaryParseError::InvalidUtf8(_)) => {
            return Err(ProxyError::V1("not ASCII".to_string()))
        }
    };
    let source = match header.addresses {
        v1::Addresses::Tcp4(a) => Source::Client {
            from: SocketAddr::from((a.source_address, a.source_port)),
            to: SocketAddr::from((a.destination_address, a.destination_port)),
        },
        v1::Addresses::Tcp6(a) => Source::Client {
            from: SocketAddr::from((a.source_address, a.source_port)),
            to: SocketAddr::from((a.destination_address, a.destination_port)),
        },
        v1::Addresses::Unknown => Source::Unknown,
    };
    Ok(Parsed::Header(Header {
        version: 1,
        source,
        len: header.header.len(),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn header(buf: &[u8]) -> Header {
        match parse(buf) {
            Ok(Parsed::Header(h)) => h,
            other => panic!("{buf:?}: {other:?}"),
        }
    }

    fn v2(command: u8, family: u8, addrs: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let mut b = V2_SIGNATURE.to_vec();
        b.push(0x20 | command);
        b.push(family);
        let len = u16::try_from(addrs.len() + tlvs.len()).unwrap();
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(addrs);
        b.extend_from_slice(tlvs);
        b
    }

    const V4_ADDRS: [u8; 12] = [192, 0, 2, 7, 10, 0, 0, 1, 0xC3, 0x50, 0, 21];

    #[test]
    fn v1_tcp4_and_what_follows() {
        let input = b"PROXY TCP4 192.0.2.7 10.0.0.1 50000 21\r\nUSER x\r\n";
        let h = header(input);
        assert_eq!(h.version, 1);
        assert_eq!(h.source.client(), Some("192.0.2.7:50000".parse().unwrap()));
        assert_eq!(&input[h.len..], b"USER x\r\n");
    }

    #[test]
    fn v1_tcp6_and_unknown() {
        let h = header(b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 21\r\n");
        assert_eq!(
            h.source.client(),
            Some("[2001:db8::7]:4000".parse().unwrap())
        );
        let h = header(b"PROXY UNKNOWN\r\n");
        assert_eq!((h.source, h.len), (Source::Unknown, 15));
        let h = header(b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");
        assert_eq!((h.source, h.len), (Source::Unknown, V1_MAX));
    }

    #[test]
    fn v1_every_prefix_needs_more() {
        let input = b"PROXY TCP4 192.0.2.7 10.0.0.1 50000 21\r\n";
        for n in 0..input.len() {
            assert_eq!(parse(&input[..n]), Ok(Parsed::NeedMore), "{n} bytes");
        }
    }

    #[test]
    fn v1_bounds_and_errors() {
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'a'; 200]].concat();
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
        assert_eq!(parse(&long[..V1_MAX]), Err(ProxyError::V1TooLong));
        assert_eq!(parse(&long[..V1_MAX - 1]), Ok(Parsed::NeedMore));
        let cr_late = [&long[..120], b"\r\n"].concat();
        assert_eq!(parse(&cr_late), Err(ProxyError::V1TooLong));
        for bad in [
            b"USER alice\r\n".as_slice(),
            b"PROXY TCP4 300.0.0.1 10.0.0.1 1 21\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 70000 21\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 01 21\r\n",
            b"PROXY TCP4 2001:db8::1 10.0.0.1 1 21\r\n",
            b"PROXY TCP5 192.0.2.7 10.0.0.1 1 21\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 1 21\rX",
            b"PROXY TCP4 192.0.2.7\r\n",
            b"PROXY \xff\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 1 21\n",
            b"PROXY TCP4 192.0.2.7\n10.0.0.1 1 21\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(b"Q"), Err(ProxyError::Missing));
        assert_eq!(parse(b"PROXX"), Err(ProxyError::Missing));
    }

    #[test]
    fn v2_ipv4_with_tlvs_and_what_follows() {
        let mut input = v2(1, 0x11, &V4_ADDRS, &[0x04, 0, 2, 0xAB, 0xCD]);
        let len = input.len();
        input.extend_from_slice(b"USER x\r\n");
        let h = header(&input);
        assert_eq!(h.version, 2);
        let to = "10.0.0.1:21".parse().unwrap();
        assert!(matches!(h.source, Source::Client { to: t, .. } if t == to));
        assert_eq!(h.source.client(), Some("192.0.2.7:50000".parse().unwrap()));
        assert_eq!(h.len, len);
        for n in 0..len {
            assert_eq!(parse(&input[..n]), Ok(Parsed::NeedMore), "{n} bytes");
        }
    }

    #[test]
    fn v2_ipv6_local_unix_unspec() {
        let mut a6 = Vec::new();
        a6.extend_from_slice(
            &"2001:db8::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        a6.extend_from_slice(&[0; 16]);
        a6.extend_from_slice(&[0x0F, 0xA0, 0, 21]);
        let h = header(&v2(1, 0x21, &a6, &[]));
        assert_eq!(
            h.source.client(),
            Some("[2001:db8::7]:4000".parse().unwrap())
        );
        // LOCAL: health check, whatever addresses it carries.
        assert_eq!(header(&v2(0, 0x11, &V4_ADDRS, &[])).source, Source::Unknown);
        assert_eq!(header(&v2(0, 0x00, &[], &[])).source, Source::Unknown);
        assert_eq!(header(&v2(1, 0x31, &[0; 216], &[])).source, Source::Unknown);
        assert_eq!(header(&v2(1, 0x00, &[], &[])).source, Source::Unknown);
    }

    #[test]
    fn v2_bounds_and_errors() {
        let mut big = v2(1, 0x11, &V4_ADDRS, &[]);
        big[14..16].copy_from_slice(&u16::try_from(V2_MAX_PAYLOAD + 1).unwrap().to_be_bytes());
        assert_eq!(parse(&big), Err(ProxyError::V2TooLong(V2_MAX_PAYLOAD + 1)));
        assert_eq!(
            parse(&big[..16]),
            Err(ProxyError::V2TooLong(V2_MAX_PAYLOAD + 1))
        );
        let at_limit = v2(1, 0x11, &V4_ADDRS, &vec![0; V2_MAX_PAYLOAD - 12]);
        assert!(matches!(parse(&at_limit), Ok(Parsed::Header(_))));
        assert_eq!(
            parse(&v2(1, 0x12, &V4_ADDRS, &[])),
            Err(ProxyError::NotStream)
        );
        let mut bad_version = v2(1, 0x11, &V4_ADDRS, &[]);
        bad_version[12] = 0x11;
        assert!(matches!(parse(&bad_version), Err(ProxyError::V2(_))));
        assert!(matches!(
            parse(&v2(2, 0x11, &V4_ADDRS, &[])),
            Err(ProxyError::V2(_))
        ));
        assert!(matches!(
            parse(&v2(1, 0x41, &V4_ADDRS, &[])),
            Err(ProxyError::V2(_))
        ));
        // Length too short for the family's addresses.
        assert!(matches!(
            parse(&v2(1, 0x11, &V4_ADDRS[..8], &[])),
            Err(ProxyError::V2(_))
        ));
        // A near-miss of the signature is not a header of either version.
        assert_eq!(parse(b"\r\n\r\n\0\r\nQUIX\n"), Err(ProxyError::Missing));
    }

    #[test]
    fn looks_like() {
        assert!(looks_like_header(b"PROXY TCP4 "));
        assert!(looks_like_header(&v2(0, 0, &[], &[])));
        assert!(!looks_like_header(b"USER proxy\r\n"));
        assert!(!looks_like_header(b"PROXY"));
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics_and_respects_bounds(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..3000)) {
            check(&bytes);
        }

        #[test]
        fn garbage_after_a_v1_prefix(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            check(&[V1_PREFIX.as_slice(), &tail].concat());
        }

        #[test]
        fn garbage_after_a_v2_signature(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..3000)) {
            check(&[V2_SIGNATURE.as_slice(), &tail].concat());
        }

        #[test]
        fn v1_tcp4_round_trip(src in proptest::num::u32::ANY, dst in proptest::num::u32::ANY, sp in proptest::num::u16::ANY, dp in proptest::num::u16::ANY) {
            let (src, dst) = (std::net::Ipv4Addr::from(src), std::net::Ipv4Addr::from(dst));
            let text = format!("PROXY TCP4 {src} {dst} {sp} {dp}\r\n");
            let h = header(text.as_bytes());
            proptest::prop_assert_eq!(h.source, Source::Client { from: SocketAddr::from((src, sp)), to: SocketAddr::from((dst, dp)) });
            proptest::prop_assert_eq!(h.len, text.len());
        }
    }

    /// Every answer is one of the three, a header never claims more bytes than it was given
    /// or than the bounds allow, and "need more" is never answered past the bounds.
    fn check(bytes: &[u8]) {
        match parse(bytes) {
            Ok(Parsed::Header(h)) => {
                assert!(h.len <= bytes.len());
                assert!(h.len <= V1_MAX.max(V2_FIXED + V2_MAX_PAYLOAD));
                // The same header is found with nothing after it.
                assert_eq!(parse(&bytes[..h.len]), Ok(Parsed::Header(h)));
            }
            Ok(Parsed::NeedMore) => {
                assert!(bytes.len() < V2_FIXED + V2_MAX_PAYLOAD);
                if bytes.starts_with(b"P") {
                    assert!(bytes.len() < V1_MAX);
                }
            }
            Err(_) => {}
        }
    }
}
