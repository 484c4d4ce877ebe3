//! Black-box tests of the built `ringftpd` binary: the `user` subcommands, configuration
//! errors, and the first start that creates a user and logs in with it over a real socket.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ringftpd::users::UserDb;

fn ringftpd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ringftpd"));
    c.env_remove("RINGFTPD_USERS").env_remove("RINGFTPD_LOG");
    c
}

fn run(args: &[&str], stdin: &str) -> Output {
    run_env(args, stdin, &[])
}

fn run_env(args: &[&str], stdin: &str, env: &[(&str, &Path)]) -> Output {
    let mut cmd = ringftpd();
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // The command may exit before reading stdin (a bad name is refused
    // first), so a broken pipe here is not an error.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn one_line_error(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("ringftpd: "), "{err:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}

#[test]
fn user_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("etc/ringftpd/users.toml");
    let u = users.to_str().unwrap();

    let o = run(
        &["user", "add", "alice", "--users", u, "--password-stdin"],
        "wonder land\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mode = std::fs::metadata(&users).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dmode = std::fs::metadata(users.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dmode & 0o777, 0o700);
    // the password keeps its inner space, loses the newline
    let db = UserDb::load(&users).unwrap();
    assert!(db.verify("alice", "wonder land").is_some());
    assert!(db.verify("alice", "wonder land\n").is_none());

    one_line_error(
        &run(
            &["user", "add", "alice", "--users", u, "--password-stdin"],
            "x\n",
        ),
        1,
        "already exists",
    );
    one_line_error(
        &run(
            &["user", "add", "a b", "--users", u, "--password-stdin"],
            "x\n",
        ),
        2,
        "invalid user name",
    );
    one_line_error(
        &run(
            &["user", "add", "bob", "--users", u, "--password-stdin"],
            "\n",
        ),
        1,
        "empty password",
    );
    one_line_error(
        &run(
            &[
                "user",
                "add",
                "bob",
                "--users",
                u,
                "--password-stdin",
                "--home",
                "../x",
            ],
            "p\n",
        ),
        2,
        "home",
    );

    // RINGFTPD_USERS stands in for --users
    let env = [("RINGFTPD_USERS", users.as_path())];
    let o = run_env(
        &[
            "user",
            "add",
            "bob",
            "--password-stdin",
            "--home",
            "bob",
            "--read-only",
        ],
        "b\n",
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_env(&["user", "list"], "", &env);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "alice\t.\trw\nbob\tbob\tro\n"
    );

    let o = run(
        &["user", "passwd", "bob", "--users", u, "--password-stdin"],
        "new\r\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let db = UserDb::load(&users).unwrap();
    assert!(db.verify("bob", "new").is_some());
    assert!(db.verify("bob", "b").is_none());
    one_line_error(
        &run(
            &["user", "passwd", "carol", "--users", u, "--password-stdin"],
            "x\n",
        ),
        1,
        "no such user",
    );

    assert!(run(&["user", "del", "bob", "--users", u], "")
        .status
        .success());
    one_line_error(
        &run(&["user", "del", "bob", "--users", u], ""),
        1,
        "no such user",
    );
    let o = run(&["user", "list", "--users", u], "");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "alice\t.\trw\n");
    assert_eq!(
        std::fs::read_dir(users.parent().unwrap()).unwrap().count(),
        1,
        "no temp files left"
    );
}

#[test]
fn configuration_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let u = users.to_str().unwrap();
    let root = dir.path().to_str().unwrap();
    let missing = dir.path().join("missing");
    let o = run(
        &[
            "--listen",
            "127.0.0.1:0",
            "--users",
            u,
            "--root",
            missing.to_str().unwrap(),
        ],
        "",
    );
    one_line_error(&o, 2, "root directory");
    assert!(!missing.exists());

    let cfg = dir.path().join("ringftpd.toml");
    std::fs::write(
        &cfg,
        "listen = [\"127.0.0.1:0\"]\nidle_timeout = 5\nbogus = 1\n",
    )
    .unwrap();
    let o = run(
        &[
            "serve",
            "--users",
            u,
            "--root",
            root,
            "--config",
            cfg.to_str().unwrap(),
        ],
        "",
    );
    one_line_error(&o, 2, "bogus");
    assert!(
        !users.exists(),
        "no user is created before the configuration is valid"
    );

    let o = run(&["--passive-ports", "10-20"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("below 1024"), "{}", stderr(&o));

    let o = run(&["--help"], "");
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--listen",
        "--root",
        "--users",
        "--passive-ports",
        "--config",
        "user",
    ] {
        assert!(help.contains(flag), "help lacks {flag}");
    }
}

/// Reads lines from a child's pipe into a channel.
fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line with {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// Everything left in the channel once the child has exited (its pipes closed).
fn drain(rx: &mpsc::Receiver<String>) -> Vec<String> {
    let mut all = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        all.push(line);
    }
    all
}

fn reply(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

fn login(port: u16, user: &str, pass: &str) -> String {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    assert!(reply(&mut r).starts_with("220"));
    write!(w, "USER {user}\r\n").unwrap();
    assert!(reply(&mut r).starts_with("331"));
    write!(w, "PASS {pass}\r\n").unwrap();
    reply(&mut r)
}

#[test]
fn first_start_creates_a_user_that_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("conf/users.toml");
    let mut child = ringftpd()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--login-fail-delay",
            "0",
        ])
        .arg("--root")
        .arg(dir.path())
        .arg("--users")
        .arg(&users)
        .env("SUDO_USER", "")
        .env("USER", "first.user")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    let created = wait_for(&out, "created user");
    let listening = wait_for(&err, "listening on");
    let port: u16 = listening
        .rsplit(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let password = created.split('\'').nth(3).unwrap().to_string();
    assert!(created.contains("'first.user'"), "{created}");
    assert_eq!(password.len(), 20);
    let mode = std::fs::metadata(&users).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let good = login(port, "first.user", &password);
    let bad = login(port, "first.user", "wrong");
    let unknown = login(port, "nobody", &password);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(good.starts_with("230"), "{good}");
    assert!(bad.starts_with("530"), "{bad}");
    assert!(unknown.starts_with("530"), "{unknown}");
    // the password was printed once, on stdout, and never logged
    let logged = drain(&err);
    assert!(logged.iter().all(|l| !l.contains(&password)), "{logged:?}");

    // a second start leaves the file alone
    let before = std::fs::read(&users).unwrap();
    let mut again = ringftpd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--root")
        .arg(dir.path())
        .arg("--users")
        .arg(&users)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out2 = lines(again.stdout.take().unwrap());
    let err2 = lines(again.stderr.take().unwrap());
    wait_for(&err2, "listening on");
    again.kill().unwrap();
    again.wait().unwrap();
    assert!(drain(&out2).iter().all(|l| !l.contains("created user")));
    assert_eq!(std::fs::read(&users).unwrap(), before);
}
