//! The server's certificate as an ssh host key: made on the first start,
//! pinned by clients through its fingerprint, never silently replaced.
//!
//! Without `--tls-cert`, ringftpd keeps a self-signed ECDSA P-256 certificate
//! and its key beside the users file (`tls-cert.pem`, `tls-key.pem`). They are
//! made once, when the certificate does not exist; after that they are only
//! read, and a file that cannot be read or parsed stops the start with its
//! path: a new key would look like a man in the middle to every client that
//! has pinned the old one.
//!
//! The key is written first (mode 0600 from its creation, then renamed into
//! place), the certificate last: the certificate is the marker that the pair
//! is complete. A key without a certificate (a start cut off in between) has
//! never been served and is replaced; a certificate without its key is an
//! error. A lock on the directory keeps two first starts from racing.
//!
//! Fingerprints are `ringftp_proto::fingerprint`'s, the text the client shows.

use std::io::{self, Write};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use ringftp_proto::fingerprint::{self, HostKey, KeyType};
use x509_cert::der::{self, Decode, Reader};

use crate::tls::TlsError;

pub const CERT_FILE: &str = "tls-cert.pem";
pub const KEY_FILE: &str = "tls-key.pem";

/// Where the certificate and key are, and whether they may be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The default pair beside the users file: made on the first start.
    pub self_signed: bool,
}

impl TlsFiles {
    /// The default pair in the directory of `users_file`.
    pub fn beside(users_file: &Path) -> TlsFiles {
        let dir = match users_file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        TlsFiles {
            cert: dir.join(CERT_FILE),
            key: dir.join(KEY_FILE),
            self_signed: true,
        }
    }
}

fn create_err(path: &Path, source: io::Error) -> TlsError {
    TlsError::Create {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes the self-signed pair if `files.cert` does not exist yet; true when
/// it did. `names` go into the certificate's subject alternative names
/// (host names and IP addresses; invalid ones are skipped).
pub fn create_if_missing(files: &TlsFiles, names: &[String]) -> Result<bool, TlsError> {
    let dir = match files.cert.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let exists = |p: &Path| match std::fs::symlink_metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(TlsError::Read {
            what: "certificate",
            path: p.to_path_buf(),
            source: e,
        }),
    };
    if exists(&files.cert)? {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(|e| create_err(dir, e))?;
    // Two first starts at once: the second waits, then finds the certificate.
    let lock = std::fs::File::open(dir).map_err(|e| create_err(dir, e))?;
    rustix::fs::flock(lock.as_fd(), rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| create_err(dir, e.into()))?;
    if exists(&files.cert)? {
        return Ok(false);
    }
    let (cert_pem, key_pem) = generate(names)?;
    write_atomically(dir, &files.key, key_pem.as_bytes(), 0o600)?;
    write_atomically(dir, &files.cert, cert_pem.as_bytes(), 0o644)?;
    Ok(true)
}

/// A new ECDSA P-256 key and a self-signed certificate for it, both PEM.
/// Valid from yesterday (clocks differ) to 9999-12-31, RFC 5280's "no
/// well-defined expiration date": like an ssh host key it is pinned, not
/// checked against a CA, so it should not expire under its users.
fn generate(names: &[String]) -> Result<(String, String), TlsError> {
    use rcgen::{CertificateParams, DnType, KeyPair, SanType, PKCS_ECDSA_P256_SHA256};
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut seen = Vec::new();
    for name in names {
        if seen.contains(name) {
            continue;
        }
        seen.push(name.clone());
        let san = match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) if valid_dns_name(name) => match name.clone().try_into() {
                Ok(n) => SanType::DnsName(n),
                Err(_) => continue,
            },
            Err(_) => continue,
        };
        params.subject_alt_names.push(san);
    }
    let cn = names
        .iter()
        .find(|n| valid_dns_name(n) && n.parse::<IpAddr>().is_err() && n.as_str() != "localhost")
        .map_or("localhost", String::as_str);
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "ringftpd self-signed");
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = rcgen::date_time_ymd(9999, 12, 31);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Letters, digits, '-' and '.', as a DNS name in a certificate must be.
fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !name.starts_with(['-', '.'])
}

/// Writes `data` to `path` through a temporary file in `dir` that has `mode`
/// from the moment it exists (tempfile creates it 0600 with O_EXCL), synced,
/// then renamed over `path`.
fn write_atomically(dir: &Path, path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tls-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| create_err(path, e))?;
    tmp.write_all(data).map_err(|e| create_err(path, e))?;
    tmp.as_file().sync_all().map_err(|e| create_err(path, e))?;
    tmp.persist(path).map_err(|e| create_err(path, e.error))?;
    Ok(())
}

/// The host key of the first certificate in a PEM file, with its size in
/// bits (for `ringftpd fingerprint`, as `ssh-keygen -l` prints it).
pub fn host_key_of_file(path: &Path) -> Result<(HostKey, Option<u32>), TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        what: "certificate",
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |message: String| TlsError::Pem {
        what: "certificate",
        path: path.to_path_buf(),
        message,
    };
    let first = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| bad("no PEM CERTIFICATE found".into()))?
        .map_err(|e| bad(e.to_string()))?;
    host_key(&first).map_err(|e| bad(e.to_string()))
}

/// The host key of a DER certificate, with its size in bits when known.
pub fn host_key(der: &[u8]) -> Result<(HostKey, Option<u32>), fingerprint::CertError> {
    let key = fingerprint::of_certificate(der)?;
    Ok((key.clone(), key_bits(der, key.key_type)))
}

/// The key size: the curve of an EC key, 256 for Ed25519, the modulus of RSA.
fn key_bits(der: &[u8], kind: KeyType) -> Option<u32> {
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    match kind {
        KeyType::Ed25519 => Some(256),
        KeyType::Ecdsa => {
            let curve = spki.algorithm.parameters.as_ref()?;
            let oid = curve.decode_as::<der::asn1::ObjectIdentifier>().ok()?;
            match oid.to_string().as_str() {
                "1.2.840.10045.3.1.7" => Some(256),
                "1.3.132.0.34" => Some(384),
                "1.3.132.0.35" => Some(521),
                _ => None,
            }
        }
        KeyType::Rsa => {
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
            let bytes = spki.subject_public_key.as_bytes()?;
            let mut reader = der::SliceReader::new(bytes).ok()?;
            let modulus = reader
                .sequence(|r| {
                    let n = der::asn1::UintRef::decode(r)?;
                    let _e = der::asn1::UintRef::decode(r)?;
                    Ok(n.as_bytes().to_vec())
                })
                .ok()?;
            let first = *modulus.first()?;
            let len = u32::try_from(modulus.len()).ok()?;
            Some(len * 8 - first.leading_zeros())
        }
        KeyType::Other => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn first_start_creates_a_pair_then_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::beside(&dir.path().join("users.toml"));
        assert_eq!(files.cert, dir.path().join("tls-cert.pem"));
        let names = [
            "localhost",
            "127.0.0.1",
            "::1",
            "host_with_underscore",
            "ftp-1.example",
        ]
        .map(String::from);
        assert!(create_if_missing(&files, &names).unwrap());
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (key, bits) = host_key_of_file(&files.cert).unwrap();
        assert_eq!(key.key_type, KeyType::Ecdsa);
        assert_eq!(bits, Some(256));
        assert!(key.fingerprint.starts_with("SHA256:"));
        let before = std::fs::read(&files.cert).unwrap();
        assert!(!create_if_missing(&files, &names).unwrap());
        assert_eq!(std::fs::read(&files.cert).unwrap(), before);
        // No temporary files left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2);
        // rustls accepts the pair.
        crate::tls::TlsConfig::load(&files.cert, &files.key).unwrap();
    }

    #[test]
    fn a_key_without_its_certificate_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::beside(&dir.path().join("users.toml"));
        std::fs::write(&files.key, b"half-written").unwrap();
        assert!(create_if_missing(&files, &[]).unwrap());
        crate::tls::TlsConfig::load(&files.cert, &files.key).unwrap();
    }

    #[test]
    fn dns_names() {
        assert!(valid_dns_name("ftp-1.example.org"));
        assert!(!valid_dns_name("a_b"));
        assert!(!valid_dns_name("-x"));
        assert!(!valid_dns_name(""));
    }
}
