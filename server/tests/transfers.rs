//! Black-box checks of the built `ringftpd` on real sockets with OS-chosen
//! ports: login, zero-copy RETR/STOR byte for byte, REST, ABOR mid-transfer,
//! and the upload rule (an interrupted STOR never damages an existing file).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{pattern, Ftp};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ringftpd");

struct Server {
    child: Child,
    addr: SocketAddr,
    root: tempfile::TempDir,
    _etc: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let root = tempfile::tempdir().unwrap();
    let etc = tempfile::tempdir().unwrap();
    let users = etc.path().join("users.toml");
    let mut add = Command::new(BIN)
        .args(["user", "add", "alice", "--password-stdin", "--users"])
        .arg(&users)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    assert!(add.wait().unwrap().success());
    let config = etc.path().join("ringftpd.toml");
    std::fs::write(&config, "login_fail_delay = 0\ndata_timeout = 5\n").unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--root",
        ])
        .arg(root.path())
        .arg("--users")
        .arg(&users)
        .arg("--config")
        .arg(&config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().parse().unwrap();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        addr,
        root,
        _etc: etc,
    }
}

fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).unwrap();
    v
}

fn path(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}

#[test]
fn stor_then_retr_is_byte_identical_and_rest_resumes() {
    let srv = start();
    let mut f = Ftp::login(srv.addr);
    let body = pattern(9 << 20, 7);

    let mut d = f.data();
    assert_eq!(f.cmd("STOR big file.bin").code, 150);
    d.write_all(&body).unwrap();
    drop(d);
    assert_eq!(f.reply().code, 226);
    assert_eq!(
        std::fs::read(path(srv.root.path(), "big file.bin")).unwrap(),
        body
    );

    let d = f.data();
    assert_eq!(f.cmd("RETR big file.bin").code, 150);
    let got = read_all(d);
    assert_eq!(f.reply().code, 226);
    assert!(got == body, "download differs");

    let d = f.data();
    assert_eq!(f.cmd("REST 1000000").code, 350);
    assert_eq!(f.cmd("RETR big file.bin").code, 150);
    let tail = read_all(d);
    assert_eq!(f.reply().code, 226);
    assert!(tail == body[1_000_000..], "REST tail differs");

    assert_eq!(f.cmd("SIZE big file.bin").text(), body.len().to_string());
    assert_eq!(f.cmd("QUIT").code, 221);
}

#[test]
fn abor_mid_download_keeps_session_usable() {
    let srv = start();
    std::fs::write(path(srv.root.path(), "huge"), pattern(64 << 20, 3)).unwrap();
    let mut f = Ftp::login(srv.addr);
    let mut d = f.data();
    assert_eq!(f.cmd("RETR huge").code, 150);
    let mut first = [0u8; 65536];
    d.read_exact(&mut first).unwrap();
    // Stop reading so the transfer is surely still running, then abort.
    let r1 = f.cmd("ABOR");
    assert!(r1.code == 426 || r1.code == 226, "{r1:?}");
    if r1.code == 426 {
        assert_eq!(f.reply().code, 226);
    }
    drop(d);
    assert_eq!(f.cmd("NOOP").code, 200);
    assert_eq!(f.cmd("PWD").code, 257);
}

#[test]
fn interrupted_overwrite_keeps_the_old_file_and_new_partial_file_stays() {
    let srv = start();
    let old = pattern(1 << 20, 11);
    std::fs::write(path(srv.root.path(), "keep.bin"), &old).unwrap();
    let mut f = Ftp::login(srv.addr);

    // Overwrite, but abort halfway: the old file must survive untouched.
    let mut d = f.data();
    assert_eq!(f.cmd("STOR keep.bin").code, 150);
    d.write_all(&pattern(300_000, 5)).unwrap();
    d.flush().unwrap();
    let r = f.cmd("ABOR");
    assert!(r.code == 426 || r.code == 226, "{r:?}");
    if r.code == 426 {
        assert_eq!(f.reply().code, 226);
    }
    drop(d);
    assert_eq!(
        std::fs::read(path(srv.root.path(), "keep.bin")).unwrap(),
        old
    );
    let leftovers: Vec<_> = std::fs::read_dir(srv.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // A new file interrupted the same way keeps its partial data for resume.
    let part = pattern(200_000, 9);
    let mut d = f.data();
    assert_eq!(f.cmd("STOR new.bin").code, 150);
    d.write_all(&part).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let r = f.cmd("ABOR");
    if r.code == 426 {
        assert_eq!(f.reply().code, 226);
    }
    drop(d);
    let kept = std::fs::read(path(srv.root.path(), "new.bin")).unwrap();
    assert!(!kept.is_empty() && part.starts_with(&kept));

    // Resume with REST + STOR to the complete file.
    let full = {
        let mut v = part.clone();
        v.extend(pattern(100_000, 13));
        v
    };
    let mut d = f.data();
    assert_eq!(f.cmd(&format!("REST {}", kept.len())).code, 350);
    assert_eq!(f.cmd("STOR new.bin").code, 150);
    d.write_all(&full[kept.len()..]).unwrap();
    drop(d);
    assert_eq!(f.reply().code, 226);
    assert!(std::fs::read(path(srv.root.path(), "new.bin")).unwrap() == full);
}

#[test]
fn a_second_server_on_a_busy_port_fails_with_one_line() {
    let srv = start();
    let users = srv._etc.path().join("users.toml");
    let out = Command::new(BIN)
        .args(["serve", "--listen", &srv.addr.to_string(), "--root"])
        .arg(srv.root.path())
        .arg("--users")
        .arg(&users)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Address already in use"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("ringftpd: ")).count(),
        1,
        "{err}"
    );
    // The running server is untouched.
    let mut f = Ftp::login(srv.addr);
    assert_eq!(f.cmd("NOOP").code, 200);
}
