//! Host authenticity, as ssh checks host keys (sshconnect.c's
//! `check_host_key`), for the server's TLS certificate: runs after the
//! control connection's handshake (or after the server declined AUTH TLS)
//! and before USER, so no password goes to a server that was not accepted.
//!
//! [`judge`] is the decision without I/O; [`verify`] prints and asks.
//! The question is asked on /dev/tty (as ssh's read_passphrase does) and
//! everything else goes to stderr; `-q` hides what ssh's `-q` hides
//! (warnings and errors, not the question or the final failure line).

use std::io::{BufRead, Read, Write};

use ringftp_proto::fingerprint::HostKey;

use crate::known_hosts::{self, Entry, KnownHosts};
use crate::messages;
use crate::options::Strict;

/// What the server offered on this connection.
#[derive(Debug, Clone)]
pub enum Offer {
    Tls { key: HostKey, ca_valid: bool },
    Plain,
}

/// The decision for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The pinned key: go on.
    Known,
    /// Valid under the system roots: go on; record the host (it speaks
    /// TLS) when it has no line yet.
    CaValid { record: bool },
    /// First contact: ask, add or refuse by StrictHostKeyChecking.
    New,
    /// Not the recorded key (or a CA host that now shows a certificate
    /// the system roots do not vouch for).
    Changed(Entry),
    /// A recorded TLS host that now offers no TLS.
    Downgrade(Entry),
    /// A host never seen with TLS, that offers none: warn and go on.
    Plain,
}

/// Decide from the host's line (if any) and the offer.
pub fn judge(entry: Option<&Entry>, offer: &Offer) -> Verdict {
    match (offer, entry) {
        (Offer::Tls { ca_valid: true, .. }, e) => Verdict::CaValid {
            record: e.is_none(),
        },
        (Offer::Tls { key, .. }, Some(e)) => {
            if !e.is_ca() && e.fingerprint == key.fingerprint {
                Verdict::Known
            } else {
                Verdict::Changed(e.clone())
            }
        }
        (Offer::Tls { .. }, None) => Verdict::New,
        (Offer::Plain, Some(e)) => Verdict::Downgrade(e.clone()),
        (Offer::Plain, None) => Verdict::Plain,
    }
}

/// Everything `verify` needs to know about the user's wishes.
pub struct Policy<'a> {
    pub strict: Strict,
    /// Batch mode (sftp -b, or -o BatchMode=yes): never ask.
    pub batch: bool,
    /// sftp -q: ssh's warnings and errors are not shown.
    pub quiet: bool,
    pub known_hosts: &'a KnownHosts,
}

/// Why the connection must not go on.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// "Host key verification failed."
    Failed,
    /// StrictHostKeyChecking=no with a changed key: reported, and the
    /// password must not be sent ("Permission denied").
    NoPassword,
}

fn warn(policy: &Policy<'_>, msg: &str) {
    if !policy.quiet {
        crate::commands::error(msg);
    }
}

/// Check the host named `name` (see `known_hosts::host_name`) whose address
/// is shown as `ip`. Ok(()) means: go on and log in.
pub fn verify(name: &str, ip: &str, offer: &Offer, policy: &Policy<'_>) -> Result<(), Refusal> {
    let kh = policy.known_hosts;
    let file = kh.path.display().to_string();
    let refuse_strict = |strict_line: String| {
        if policy.strict == Strict::No {
            warn(policy, messages::PASSWORD_AUTH_DISABLED);
            Refusal::NoPassword
        } else {
            warn(policy, &strict_line);
            crate::commands::error(messages::HOST_KEY_FAILED);
            Refusal::Failed
        }
    };
    match judge(kh.lookup(name), offer) {
        Verdict::Known => Ok(()),
        Verdict::CaValid { record } => {
            if record {
                if let Err(e) = kh.append(name, known_hosts::CA_KIND, known_hosts::CA_MARK) {
                    tracing::debug!(error = %e, "known_hosts");
                    warn(policy, &messages::add_failed(&file));
                }
            }
            Ok(())
        }
        Verdict::Plain => {
            warn(policy, &messages::no_tls(name));
            Ok(())
        }
        Verdict::Downgrade(e) => {
            warn(
                policy,
                &messages::tls_downgrade(name, &file, &e.kind, e.line),
            );
            Err(refuse_strict(messages::tls_gone_strict(name)))
        }
        Verdict::Changed(e) => {
            let Offer::Tls { key, .. } = offer else {
                return Err(Refusal::Failed);
            };
            warn(
                policy,
                &messages::host_key_changed(
                    key.key_type.as_str(),
                    &key.fingerprint,
                    &file,
                    &e.kind,
                    e.line,
                ),
            );
            Err(refuse_strict(messages::key_changed_strict(name)))
        }
        Verdict::New => {
            let Offer::Tls { key, .. } = offer else {
                return Err(Refusal::Failed);
            };
            let kind = key.key_type.as_str();
            let accepted = match policy.strict {
                Strict::Yes => {
                    warn(policy, &messages::no_key_known_strict(kind, name));
                    false
                }
                Strict::AcceptNew | Strict::No => true,
                Strict::Ask if policy.batch => false,
                Strict::Ask => ask(name, ip, key, kh),
            };
            if !accepted {
                crate::commands::error(messages::HOST_KEY_FAILED);
                return Err(Refusal::Failed);
            }
            match kh.append(name, kind, &key.fingerprint) {
                Ok(()) => warn(policy, &messages::permanently_added(name, kind)),
                Err(e) => {
                    tracing::debug!(error = %e, "known_hosts");
                    warn(policy, &messages::add_failed(&file));
                }
            }
            Ok(())
        }
    }
}

/// The question on /dev/tty; false when there is no terminal.
fn ask(name: &str, ip: &str, key: &HostKey, kh: &KnownHosts) -> bool {
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return false;
    };
    let others = kh.others_with(&key.fingerprint, name);
    let mut prompt = format!(
        "{}\n{}\n",
        messages::authenticity(name, ip),
        messages::key_fingerprint_is(key.key_type.as_str(), &key.fingerprint)
    );
    if others.is_empty() {
        prompt.push_str(messages::NOT_KNOWN_BY_OTHER_NAMES);
        prompt.push('\n');
    } else {
        prompt.push_str(messages::KNOWN_BY_OTHER_NAMES);
        prompt.push('\n');
        let shown = kh.display_path();
        for e in others.iter().take(8) {
            prompt.push_str(&messages::known_as(&shown, e.line, &e.host));
            prompt.push('\n');
        }
    }
    prompt.push_str(messages::CONTINUE_CONNECTING);
    let mut out = &tty;
    let mut input = std::io::BufReader::new(&tty);
    loop {
        if out.write_all(prompt.as_bytes()).is_err() {
            return false;
        }
        let _ = out.flush();
        let mut line = String::new();
        // One line, bounded (ssh reads at most 1 KiB).
        match Read::by_ref(&mut input).take(1024).read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        let answer = line.trim();
        match answer_of(answer, &key.fingerprint) {
            Some(v) => return v,
            None => prompt = messages::TYPE_YES_NO_FP.to_string(),
        }
    }
}

/// ssh's confirm(): empty or "no" is no, "yes" or the exact fingerprint is
/// yes (case-insensitive words, exact fingerprint); anything else asks again.
pub fn answer_of(answer: &str, fingerprint: &str) -> Option<bool> {
    if answer.is_empty() || answer.eq_ignore_ascii_case("no") {
        Some(false)
    } else if answer.eq_ignore_ascii_case("yes") || answer == fingerprint {
        Some(true)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringftp_proto::fingerprint::KeyType;

    fn entry(kind: &str, fp: &str) -> Entry {
        Entry {
            line: 4,
            host: "h".into(),
            kind: kind.into(),
            fingerprint: fp.into(),
        }
    }

    fn tls(fp: &str, ca_valid: bool) -> Offer {
        Offer::Tls {
            key: HostKey {
                key_type: KeyType::Ecdsa,
                fingerprint: fp.into(),
            },
            ca_valid,
        }
    }

    #[test]
    fn decisions() {
        let pinned = entry("ECDSA", "SHA256:a");
        let ca = entry("CA", "system-roots");
        assert_eq!(
            judge(Some(&pinned), &tls("SHA256:a", false)),
            Verdict::Known
        );
        assert_eq!(
            judge(Some(&pinned), &tls("SHA256:b", false)),
            Verdict::Changed(pinned.clone())
        );
        assert_eq!(judge(None, &tls("SHA256:a", false)), Verdict::New);
        // The system roots vouch: no prompt, recorded once.
        assert_eq!(
            judge(None, &tls("SHA256:a", true)),
            Verdict::CaValid { record: true }
        );
        assert_eq!(
            judge(Some(&pinned), &tls("SHA256:z", true)),
            Verdict::CaValid { record: false }
        );
        // A CA host now showing a certificate the roots do not vouch for.
        assert_eq!(
            judge(Some(&ca), &tls("SHA256:a", false)),
            Verdict::Changed(ca.clone())
        );
        assert_eq!(
            judge(Some(&pinned), &Offer::Plain),
            Verdict::Downgrade(pinned.clone())
        );
        assert_eq!(judge(Some(&ca), &Offer::Plain), Verdict::Downgrade(ca));
        assert_eq!(judge(None, &Offer::Plain), Verdict::Plain);
    }

    #[test]
    fn answers_as_ssh_confirm() {
        let fp = "SHA256:abc";
        assert_eq!(answer_of("yes", fp), Some(true));
        assert_eq!(answer_of("YES", fp), Some(true));
        assert_eq!(answer_of("SHA256:abc", fp), Some(true));
        assert_eq!(answer_of("sha256:abc", fp), None);
        assert_eq!(answer_of("", fp), Some(false));
        assert_eq!(answer_of("No", fp), Some(false));
        assert_eq!(answer_of("y", fp), None);
        assert_eq!(answer_of("SHA256:wrong", fp), None);
    }
}
