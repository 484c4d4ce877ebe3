//! `-o option`, as ssh(1) reads it: `Key=Value` or `Key Value`, keys in any
//! case. The ones that mean something for FTPS are honoured; ssh options
//! that are harmless to ignore over FTP are accepted and ignored (scripts
//! pass them to sftp); any other name is refused with ssh's own message and
//! status 255, as ssh refuses it.

use std::path::PathBuf;

/// ssh's StrictHostKeyChecking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strict {
    /// Never add a host by itself; an unknown host fails.
    Yes,
    /// Ask on the terminal (the default).
    #[default]
    Ask,
    /// Add unknown hosts without asking; a changed one still fails.
    AcceptNew,
    /// Add unknown hosts; a changed one is reported, and the password is
    /// not sent (as ssh disables password authentication then).
    No,
}

/// What `-o` set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshOptions {
    pub strict: Strict,
    /// `UserKnownHostsFile` (`none`: /dev/null).
    pub known_hosts: Option<PathBuf>,
    /// `BatchMode=yes`: no questions (sftp -b sets it too).
    pub batch_mode: bool,
    pub port: Option<u16>,
    pub user: Option<String>,
}

/// ssh options accepted and ignored: they concern ssh's own transport,
/// authentication or multiplexing, none of which FTP has. Options whose
/// silent loss would change where or how the connection goes (ProxyCommand,
/// ProxyJump, LocalForward, ...) are not in the list: they are refused.
const IGNORED: &[&str] = &[
    "addkeystoagent",
    "addressfamily",
    "checkhostip",
    "ciphers",
    "compression",
    "connectionattempts",
    "connecttimeout",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "fingerprinthash",
    "forwardagent",
    "globalknownhostsfile",
    "gssapiauthentication",
    "hashknownhosts",
    "hostkeyalgorithms",
    "identitiesonly",
    "identityfile",
    "ipqos",
    "kbdinteractiveauthentication",
    "kexalgorithms",
    "loglevel",
    "macs",
    "passwordauthentication",
    "preferredauthentications",
    "pubkeyacceptedalgorithms",
    "pubkeyauthentication",
    "requesttty",
    "serveraliveinterval",
    "serveralivecountmax",
    "tcpkeepalive",
    "updatehostkeys",
    "visualhostkey",
];

/// Parse every `-o` argument; errors carry ssh's message.
pub fn parse(args: &[String]) -> Result<SshOptions, String> {
    let mut o = SshOptions::default();
    // ssh keeps the first value given for an option.
    let mut seen: Vec<String> = Vec::new();
    for arg in args {
        let arg = arg.trim();
        let (key, value) = match arg.find(|c: char| c == '=' || c.is_ascii_whitespace()) {
            Some(i) => (
                arg.get(..i).unwrap_or(""),
                arg.get(i + 1..)
                    .unwrap_or("")
                    .trim_start_matches(|c: char| c == '=' || c.is_ascii_whitespace())
                    .trim(),
            ),
            None => (arg, ""),
        };
        let key = key.to_ascii_lowercase();
        let known = matches!(
            key.as_str(),
            "stricthostkeychecking" | "userknownhostsfile" | "batchmode" | "port" | "user"
        );
        if !known && !IGNORED.contains(&key.as_str()) {
            return Err(format!(
                "command-line: line 0: Bad configuration option: {key}"
            ));
        }
        if value.is_empty() {
            return Err("command-line line 0: Missing argument.".into());
        }
        if seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        let unsupported = || format!("command-line line 0: unsupported option \"{value}\".");
        match key.as_str() {
            "stricthostkeychecking" => {
                o.strict = match value.to_ascii_lowercase().as_str() {
                    "yes" | "true" => Strict::Yes,
                    "ask" => Strict::Ask,
                    "accept-new" => Strict::AcceptNew,
                    "no" | "off" | "false" => Strict::No,
                    _ => return Err(unsupported()),
                }
            }
            "batchmode" => {
                o.batch_mode = match value.to_ascii_lowercase().as_str() {
                    "yes" | "true" => true,
                    "no" | "false" => false,
                    _ => return Err(unsupported()),
                }
            }
            "userknownhostsfile" => {
                // ssh takes a list; the first file is the one written.
                let first = value.split_whitespace().next().unwrap_or(value);
                o.known_hosts = Some(if first.eq_ignore_ascii_case("none") {
                    PathBuf::from("/dev/null")
                } else {
                    expand_tilde(first)
                });
            }
            "port" => {
                o.port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| {
                            "command-line line 0: Badly formatted port number.".to_string()
                        })?,
                )
            }
            "user" => o.user = Some(value.to_string()),
            _ => {}
        }
    }
    Ok(o)
}

fn expand_tilde(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ if p == "~" => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default(),
        _ => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(a: &[&str]) -> Result<SshOptions, String> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn forms_and_case() {
        assert_eq!(
            p(&["StrictHostKeyChecking=yes"]).unwrap().strict,
            Strict::Yes
        );
        assert_eq!(
            p(&["stricthostkeychecking accept-new"]).unwrap().strict,
            Strict::AcceptNew
        );
        assert_eq!(
            p(&["STRICTHOSTKEYCHECKING = No"]).unwrap().strict,
            Strict::No
        );
        assert_eq!(p(&[]).unwrap().strict, Strict::Ask);
        assert_eq!(
            p(&["UserKnownHostsFile=/tmp/kh /tmp/other"])
                .unwrap()
                .known_hosts,
            Some(PathBuf::from("/tmp/kh"))
        );
        assert_eq!(
            p(&["UserKnownHostsFile=none"]).unwrap().known_hosts,
            Some(PathBuf::from("/dev/null"))
        );
        // The first value wins, as in ssh.
        assert_eq!(
            p(&["StrictHostKeyChecking=no", "StrictHostKeyChecking=yes"])
                .unwrap()
                .strict,
            Strict::No
        );
        assert!(p(&["BatchMode=yes"]).unwrap().batch_mode);
        assert_eq!(p(&["Port=2121"]).unwrap().port, Some(2121));
        assert!(p(&["ConnectTimeout=5", "Compression=yes"]).is_ok());
    }

    #[test]
    fn errors_are_sshs() {
        assert_eq!(
            p(&["Foo=bar"]).unwrap_err(),
            "command-line: line 0: Bad configuration option: foo"
        );
        assert_eq!(
            p(&["ProxyCommand=nc x 21"]).unwrap_err(),
            "command-line: line 0: Bad configuration option: proxycommand"
        );
        assert_eq!(
            p(&["StrictHostKeyChecking=maybe"]).unwrap_err(),
            "command-line line 0: unsupported option \"maybe\"."
        );
        assert_eq!(
            p(&["StrictHostKeyChecking"]).unwrap_err(),
            "command-line line 0: Missing argument."
        );
    }
}
