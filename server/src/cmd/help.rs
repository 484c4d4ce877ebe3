//! HELP (RFC 959 4.1.3): the commands this server understands.

use ringftp_proto::reply::Reply;

const VERBS: &[&str] = &[
    "ABOR ACCT ALLO APPE AUTH AVBL CDUP CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MFMT",
    "MKD  MLSD MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD  QUIT REIN REST",
    "RETR RMD  RNFR RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD",
    "XPWD XRMD",
];

pub fn run(topic: Option<String>) -> Reply {
    match topic.as_deref().map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case("MODE") => Reply::new(
            214,
            "MODE S (stream, the default) or MODE B (block: the data connection stays open between transfers).",
        ),
        Some(t) if t.eq_ignore_ascii_case("SITE") => Reply::multi(
            214,
            vec![
                "The following SITE commands are recognized:".to_string(),
                " CHMOD <mode> <path>".to_string(),
                " SYMLINK <target> <link>".to_string(),
                " STATVFS [<path>]".to_string(),
                " HELP".to_string(),
                "Help OK.".to_string(),
            ],
        ),
        _ => {
            let mut lines = vec!["The following commands are recognized.".to_string()];
            lines.extend(VERBS.iter().map(|l| format!(" {l}")));
            lines.push("Help OK.".to_string());
            Reply::multi(214, lines)
        }
    }
}
