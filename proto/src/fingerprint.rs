//! Host key fingerprints, as OpenSSH shows them, for TLS certificates.
//!
//! An FTPS server's certificate plays the part of an ssh host key: the client shows its
//! fingerprint on first contact and remembers it. The fingerprint is taken of the certificate's
//! public key (its DER `SubjectPublicKeyInfo`), not of the whole certificate, so that a
//! certificate renewed with the same key keeps its fingerprint, as an ssh host key does.
//! The text is ssh's: `SHA256:` and the unpadded standard base64 of the SHA-256 digest.
//!
//! The server (`ringftpd fingerprint`, the first-start message) and the client (the
//! authenticity prompt, `known_hosts`) both use this module, so they always print the same text.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Encode};

/// What a certificate's key is, in the words ssh uses (`ECDSA key fingerprint is ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// id-ecPublicKey (P-256, P-384, ...): ssh says `ECDSA`.
    Ecdsa,
    /// Ed25519: ssh says `ED25519`.
    Ed25519,
    /// rsaEncryption or RSASSA-PSS: ssh says `RSA`.
    Rsa,
    /// Any other algorithm; shown as `UNKNOWN`.
    Other,
}

impl KeyType {
    /// The word ssh prints for the key type, e.g. `ECDSA`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ecdsa => "ECDSA",
            KeyType::Ed25519 => "ED25519",
            KeyType::Rsa => "RSA",
            KeyType::Other => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The public key of a certificate, with its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// The key's algorithm.
    pub key_type: KeyType,
    /// `SHA256:` + unpadded base64 of SHA-256 over the DER SubjectPublicKeyInfo.
    pub fingerprint: String,
}

/// Why a certificate could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a valid X.509 certificate: {0}")]
pub struct CertError(String);

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";

/// The host key of a DER-encoded X.509 certificate.
pub fn of_certificate(cert_der: &[u8]) -> Result<HostKey, CertError> {
    let cert = x509_cert::Certificate::from_der(cert_der).map_err(|e| CertError(e.to_string()))?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let spki_der = spki.to_der().map_err(|e| CertError(e.to_string()))?;
    let key_type = match spki.algorithm.oid.to_string().as_str() {
        OID_EC_PUBLIC_KEY => KeyType::Ecdsa,
        OID_ED25519 => KeyType::Ed25519,
        OID_RSA | OID_RSA_PSS => KeyType::Rsa,
        _ => KeyType::Other,
    };
    Ok(HostKey {
        key_type,
        fingerprint: of_spki(&spki_der),
    })
}

/// The fingerprint of a DER SubjectPublicKeyInfo: `SHA256:` + unpadded base64 of its SHA-256.
pub fn of_spki(spki_der: &[u8]) -> String {
    format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(Sha256::digest(spki_der))
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spki_fingerprint_is_sshs_format() {
        // SHA-256 of the empty input, as `ssh-keygen -l` would print it.
        assert_eq!(
            of_spki(b""),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }

    // Certificates made with `openssl req -x509 -newkey ec|ed25519`; the expected fingerprints
    // were computed by openssl itself (`x509 -pubkey | pkey -pubin -outform DER | dgst -sha256`).
    #[test]
    fn certificate_fingerprints_match_openssl() {
        let ec = of_certificate(include_bytes!("../tests/data/ecdsa-p256.der")).unwrap();
        assert_eq!(ec.key_type, KeyType::Ecdsa);
        assert_eq!(
            ec.fingerprint,
            "SHA256:1dT+CC01o17DHBFkxEbJg1BI6ERjMjMUzAY5GVsf+gw"
        );
        let ed = of_certificate(include_bytes!("../tests/data/ed25519.der")).unwrap();
        assert_eq!(ed.key_type, KeyType::Ed25519);
        assert_eq!(
            ed.fingerprint,
            "SHA256:4ltIOaVFxMc8BuHbSaf0RxJtzWJ0OQjDnaRuEjRGodA"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(of_certificate(b"").is_err());
        assert!(of_certificate(&[0x30, 0x82, 0xff, 0xff]).is_err());
        assert!(of_certificate(b"-----BEGIN CERTIFICATE-----").is_err());
    }
}
