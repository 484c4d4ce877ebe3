//! Interoperability with a third-party client: Python's `ftplib` talks to a minimal server made of
//! this crate's pieces (`LineBuffer`, `Command::parse`, `Reply::encode`, `quote_257`) over a real
//! loopback socket. What ftplib sends must parse to the expected commands, and ftplib must read
//! our replies, including multi-line ones whose middle lines start with digits or look like an end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use ringftp_proto::command::{Command, OptsArg, Password, SiteCmd, TransferType};
use ringftp_proto::line::{LineBuffer, MAX_LINE};
use ringftp_proto::path::{normalize, quote_257};
use ringftp_proto::reply::Reply;

const CLIENT: &str = r#"
import ftplib, sys
f = ftplib.FTP()
f.encoding = "utf-8"
print(repr(f.connect("127.0.0.1", int(sys.argv[1]), timeout=20)))
print(repr(f.login("alice", " pass word ")))
print(repr(f.sendcmd("HELP")))
f.cwd('dir "q"')
print(repr(f.pwd()))
print(repr(f.mkd("Grüße aus Köln")))
f.rename("old name", "new name")
print(repr(f.sendcmd("SITE CHMOD 755 a file")))
print(repr(f.sendcmd('SITE SYMLINK "t a" l')))
f.voidcmd("TYPE I")
f.voidcmd("opts utf8 on")
print(repr(f.sendcmd("REST 100")))
print(repr(f.size("big file")))
try:
    f.sendcmd("BOGUS")
except ftplib.error_perm as e:
    print("perm", repr(str(e)))
print(repr(f.quit()))
"#;

fn reply_for(cmd: &Result<Command, ringftp_proto::command::ParseError>, cwd: &mut String) -> Reply {
    let cmd = match cmd {
        Ok(c) => c,
        Err(e) => return Reply::new(e.reply_code(), e.to_string()),
    };
    match cmd {
        Command::User(_) => Reply::new(331, "Please specify the password."),
        Command::Pass(_) => Reply::new(230, "Login successful."),
        Command::Help(_) => Reply::multi(
            214,
            vec![
                "The following commands are recognized.".into(),
                "214 this is not the end".into(),
                String::new(),
                "2 RETR STOR".into(),
                "Help OK.".into(),
            ],
        ),
        Command::Cwd(p) => {
            *cwd = normalize(cwd, p).unwrap();
            Reply::new(250, "Directory successfully changed.")
        }
        Command::Pwd => Reply::new(257, format!("{} is the current directory", quote_257(cwd))),
        Command::Mkd(p) => Reply::new(
            257,
            format!("{} created", quote_257(&normalize(cwd, p).unwrap())),
        ),
        Command::Rnfr(_) | Command::Rest(_) => Reply::new(350, "Ready."),
        Command::Size(_) => Reply::new(213, "123456789012"),
        Command::Quit => Reply::new(221, "Goodbye."),
        _ => Reply::new(200, "OK."),
    }
}

#[test]
fn python_ftplib_interop() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let child = Process::new("python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    let (mut sock, _) = listener.accept().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    sock.write_all(
        Reply::multi(
            220,
            vec!["Welcome".into(), "200 lines".into(), "ready".into()],
        )
        .encode()
        .as_bytes(),
    )
    .unwrap();

    let mut lines = LineBuffer::new(MAX_LINE);
    let mut got = Vec::new();
    let mut cwd = "/".to_owned();
    'session: loop {
        let mut chunk = [0u8; 1024];
        let n = sock.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        lines.push(&chunk[..n]);
        while let Some(line) = lines.next_line() {
            let cmd = Command::parse(&line.unwrap());
            let reply = reply_for(&cmd, &mut cwd);
            sock.write_all(reply.encode().as_bytes()).unwrap();
            let quit = cmd == Ok(Command::Quit);
            got.push(cmd);
            if quit {
                break 'session;
            }
        }
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "ftplib failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let expected = vec![
        Ok(Command::User("alice".into())),
        Ok(Command::Pass(Password::new(" pass word ".into()))),
        Ok(Command::Help(None)),
        Ok(Command::Cwd("dir \"q\"".into())),
        Ok(Command::Pwd),
        Ok(Command::Mkd("Grüße aus Köln".into())),
        Ok(Command::Rnfr("old name".into())),
        Ok(Command::Rnto("new name".into())),
        Ok(Command::Site(SiteCmd::Chmod {
            mode: 0o755,
            path: "a file".into(),
        })),
        Ok(Command::Site(SiteCmd::Symlink {
            target: "t a".into(),
            link: "l".into(),
        })),
        Ok(Command::Type(TransferType::Image)),
        Ok(Command::Opts(OptsArg::Utf8(true))),
        Ok(Command::Rest(100)),
        Ok(Command::Size("big file".into())),
        Err(ringftp_proto::command::ParseError::UnknownVerb(
            "BOGUS".into(),
        )),
        Ok(Command::Quit),
    ];
    assert_eq!(got, expected);
    let expected_out = [
        "'220-Welcome\\n 200 lines\\n220 ready'",
        "'230 Login successful.'",
        "'214-The following commands are recognized.\\n 214 this is not the end\\n \\n 2 RETR STOR\\n214 Help OK.'",
        "'/dir \"q\"'",
        "'/dir \"q\"/Grüße aus Köln'",
        "'200 OK.'",
        "'200 OK.'",
        "'350 Ready.'",
        "123456789012",
        "perm '500 Unknown command.'",
        "'221 Goodbye.'",
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected_out);
}
