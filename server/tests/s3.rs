//! The S3 backend against a real S3 server on loopback: moto's server mode
//! (`pip install 'moto[server]'`, in tests/requirements.txt). Each test starts
//! its own moto and its own `ringftpd --root s3://bucket/prefix`, talks FTP
//! over real sockets, and checks the bucket itself over moto's HTTP API
//! (objects, markers, pending multipart uploads). Without moto the tests say
//! so and pass; CI installs it, so there they run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{pattern, Ftp};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ringftpd");
const BUCKET: &str = "ringftp-test";

/// moto's S3 on 127.0.0.1, on a port the OS picked; ends with the test.
struct Moto {
    child: Child,
    _stdin: ChildStdin,
    addr: SocketAddr,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MOTO: &str = "
import sys
from moto.server import ThreadedMotoServer
s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
s.start()
print(s.get_host_and_port()[1], flush=True)
sys.stdin.read()
";

/// `None` (and a printed reason) when moto is not installed.
fn moto() -> Option<Moto> {
    let have = Command::new("python3")
        .args(["-c", "import moto.server"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!("SKIPPED: moto is not installed (pip install 'moto[server]')");
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", MOTO])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("moto printed no port");
    let m = Moto {
        child,
        _stdin: stdin,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let (code, _) = m.http("PUT", &format!("/{BUCKET}"), b"");
    assert_eq!(code, 200, "cannot create the bucket");
    Some(m)
}

/// Percent-encodes a key for a URL path (slashes kept).
fn enc(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Moto {
    /// One plain HTTP/1.1 request; status and body. moto checks no
    /// signatures, but treats a request without Authorization as anonymous
    /// (403 on objects), so a made-up one is sent.
    fn http(&self, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\
             Content-Type: application/octet-stream\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\n\
             Connection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("no HTTP header end");
        let headers = String::from_utf8_lossy(&resp[..split]).to_string();
        let code = headers
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap();
        let mut body = resp[split + 4..].to_vec();
        if headers
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        (code, body)
    }

    fn put(&self, key: &str, body: &[u8]) {
        let (code, _) = self.http("PUT", &format!("/{BUCKET}/{}", enc(key)), body);
        assert_eq!(code, 200, "PUT {key}");
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.http("GET", &format!("/{BUCKET}/{}", enc(key)), b"") {
            (200, b) => Some(b),
            (404, _) => None,
            (c, b) => panic!("GET {key}: {c} {}", String::from_utf8_lossy(&b)),
        }
    }

    /// Every key in the bucket (one page is enough for these tests).
    fn keys(&self) -> Vec<String> {
        let (code, body) = self.http("GET", &format!("/{BUCKET}?list-type=2"), b"");
        assert_eq!(code, 200);
        xml_values(&String::from_utf8_lossy(&body), "Key")
    }

    /// Multipart uploads started and neither completed nor aborted.
    fn pending_uploads(&self) -> usize {
        let (code, body) = self.http("GET", &format!("/{BUCKET}?uploads"), b"");
        assert_eq!(code, 200);
        String::from_utf8_lossy(&body).matches("<Upload>").count()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let len = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if len == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + len]);
        b = &b[nl + 2 + len + 2..];
    }
}

fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split(&close).next())
        .map(|v| {
            v.replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#x27;", "'")
                .replace("&apos;", "'")
        })
        .collect()
}

struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    _etc: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn add_user(users: &std::path::Path, name: &str, home: Option<&str>) {
    let mut cmd = Command::new(BIN);
    cmd.args(["user", "add", name, "--password-stdin", "--users"])
        .arg(users);
    if let Some(h) = home {
        cmd.args(["--home", h]);
    }
    let mut add = cmd.stdin(Stdio::piped()).spawn().unwrap();
    add.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    assert!(add.wait().unwrap().success());
}

/// The built ringftpd serving `s3://BUCKET/pre` from `moto`; `extra` is
/// appended to its TOML file.
fn serve(moto: &Moto, extra: &str) -> Server {
    let etc = tempfile::tempdir().unwrap();
    let users = etc.path().join("users.toml");
    add_user(&users, "alice", None);
    add_user(&users, "bob", Some("bob"));
    let config = etc.path().join("ringftpd.toml");
    std::fs::write(
        &config,
        format!(
            "login_fail_delay = 0\ndata_timeout = 10\nroot = \"s3://{BUCKET}/pre\"\n\
             [s3]\nendpoint = \"http://{}\"\ntimeout = 5\n{extra}",
            moto.addr
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--tls",
            "off",
        ])
        .arg("--users")
        .arg(&users)
        .arg("--config")
        .arg(&config)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret-value")
        .env_remove("AWS_SESSION_TOKEN")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        log.lock().unwrap().push_str(&line);
        log.lock().unwrap().push('\n');
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().parse().unwrap();
        }
    };
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    Server {
        child,
        addr,
        log,
        _etc: etc,
    }
}

#[test]
fn files_round_trip_small_and_multipart_with_rest_and_ascii() {
    let Some(moto) = moto() else { return };
    let srv = serve(&moto, "part_size = \"5M\"\n");
    assert!(
        srv.log.lock().unwrap().contains(&format!(
            "storage: s3://{BUCKET}/pre at http://{}",
            moto.addr
        )),
        "{}",
        srv.log.lock().unwrap()
    );
    let mut f = Ftp::login(srv.addr);

    // A small file: one PutObject, under the prefix, verbatim key.
    let small = pattern(3000, 1);
    assert_eq!(f.stor("small.bin", &small).code, 226);
    assert_eq!(moto.get("pre/small.bin").unwrap(), small);

    // Over two parts of 5 MiB: a multipart upload, completed.
    let big = pattern(12 << 20, 2);
    assert_eq!(f.stor("big.bin", &big).code, 226);
    assert!(
        moto.get("pre/big.bin").unwrap() == big,
        "big object differs"
    );
    assert_eq!(moto.pending_uploads(), 0);
    assert!(f.retr("big.bin").unwrap() == big, "download differs");

    // REST n: a ranged GET from n.
    assert_eq!(f.cmd("REST 7000000").code, 350);
    assert!(
        f.retr("big.bin").unwrap() == big[7_000_000..],
        "REST tail differs"
    );
    // REST at the very end: nothing to send, still 226.
    assert_eq!(f.cmd(&format!("REST {}", big.len())).code, 350);
    assert_eq!(f.retr("big.bin").unwrap(), b"");
    assert_eq!(f.cmd(&format!("REST {}", big.len() + 1)).code, 350);
    assert_eq!(f.retr("big.bin").unwrap_err().code, 554);

    assert_eq!(f.cmd("SIZE big.bin").text(), big.len().to_string());
    let mdtm = f.cmd("MDTM big.bin");
    assert_eq!(mdtm.code, 213);
    assert_eq!(mdtm.text().len(), 14, "{mdtm:?}");

    // TYPE A converts both ways, as on a local root.
    assert_eq!(f.cmd("TYPE A").code, 200);
    assert_eq!(f.stor("text.txt", b"one\r\ntwo\r\n").code, 226);
    assert_eq!(moto.get("pre/text.txt").unwrap(), b"one\ntwo\n");
    assert_eq!(f.retr("text.txt").unwrap(), b"one\r\ntwo\r\n");
    assert_eq!(f.cmd("TYPE I").code, 200);

    // Names that URL and object_store encodings could mangle round-trip.
    for name in [
        "a b.txt",
        "ünï €.bin",
        "100%.txt",
        "hash#tag",
        "what?.txt",
        "a+b=c&d",
    ] {
        let body = name.as_bytes().repeat(10);
        assert_eq!(f.stor(name, &body).code, 226, "STOR {name}");
        assert_eq!(
            moto.get(&format!("pre/{name}")).as_deref(),
            Some(&body[..]),
            "key of {name}"
        );
        assert_eq!(f.retr(name).unwrap(), body, "RETR {name}");
    }
    let (r, names) = f.listing("NLST");
    assert_eq!(r.code, 226);
    for name in [
        "a b.txt",
        "ünï €.bin",
        "100%.txt",
        "hash#tag",
        "what?.txt",
        "a+b=c&d",
    ] {
        assert!(names.lines().any(|l| l == name), "{name} not in {names:?}");
    }

    // A missing object: 550, and the session goes on.
    assert_eq!(f.retr("nope").unwrap_err().code, 550);
    assert_eq!(f.cmd("SIZE nope").code, 550);
    assert_eq!(f.cmd("NOOP").code, 200);
    // Nothing outside the prefix was written.
    assert!(moto.keys().iter().all(|k| k.starts_with("pre/")));
}

#[test]
fn directories_markers_listings_and_renames() {
    let Some(moto) = moto() else { return };
    let srv = serve(&moto, "");
    let mut f = Ftp::login(srv.addr);

    let r = f.cmd("MKD docs");
    assert_eq!(r.code, 257, "{r:?}");
    assert!(moto.keys().contains(&"pre/docs/".to_string()));
    assert_eq!(f.cmd("MKD docs").code, 550);
    assert_eq!(f.cmd("MKD missing/sub").code, 550);
    assert_eq!(f.cmd("CWD docs").code, 250);
    assert_eq!(f.cmd("PWD").text(), "\"/docs\" is the current directory");
    assert_eq!(f.stor("inside.txt", b"hello").code, 226);
    assert_eq!(f.cmd("CDUP").code, 250);
    assert_eq!(f.cmd("CWD nowhere").code, 550);
    // A directory that exists only through a key beneath it (another tool wrote it).
    moto.put("pre/implicit/deep/file.txt", b"x");
    assert_eq!(f.cmd("CWD implicit/deep").code, 250);
    assert_eq!(f.cmd("CWD /").code, 250);
    assert_eq!(f.stor("top.txt", b"top").code, 226);

    // MLSD: prefixes are directories, objects files with size and time; the
    // marker of docs is not a file inside docs.
    let (r, text) = f.listing("MLSD");
    assert_eq!(r.code, 226, "{r:?}");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.ends_with(&format!("; {name}")))
            .unwrap_or_else(|| panic!("{name} not in {text}"))
            .to_ascii_lowercase()
    };
    assert!(line("docs").contains("type=dir;"));
    assert!(line("implicit").contains("type=dir;"));
    let top = line("top.txt");
    assert!(
        top.contains("type=file;") && top.contains("size=3;"),
        "{top}"
    );
    assert!(top.contains("modify=20"), "{top}");
    let (r, inside) = f.listing("MLSD docs");
    assert_eq!(r.code, 226);
    assert_eq!(inside.lines().count(), 1, "{inside}");
    assert!(inside.contains("; inside.txt"));
    let (r, list) = f.listing("LIST docs");
    assert_eq!(r.code, 226);
    assert!(
        list.lines().count() == 1 && list.contains(" 5 ") && list.ends_with("inside.txt\r\n"),
        "{list}"
    );
    let mlst = f.cmd("MLST top.txt");
    assert_eq!(mlst.code, 250);
    let stat = f.cmd("STAT docs");
    assert_eq!(stat.code, 213);
    assert!(stat.text().contains("inside.txt"), "{stat:?}");

    // RMD only when nothing but the marker is left.
    let r = f.cmd("RMD docs");
    assert_eq!(r.code, 550);
    assert!(r.text().contains("Directory not empty"), "{r:?}");
    assert_eq!(f.cmd("DELE docs/inside.txt").code, 250);
    assert_eq!(f.cmd("DELE docs/inside.txt").code, 550);
    assert_eq!(f.cmd("DELE docs").code, 550);
    assert_eq!(f.cmd("RMD docs").code, 250);
    assert!(!moto.keys().iter().any(|k| k.starts_with("pre/docs")));
    assert_eq!(f.cmd("RMD docs").code, 550);

    // RNFR/RNTO of a file: copy, then delete the source.
    assert_eq!(f.cmd("RNFR top.txt").code, 350);
    assert_eq!(f.cmd("RNTO implicit/moved.txt").code, 250);
    assert_eq!(moto.get("pre/implicit/moved.txt").unwrap(), b"top");
    assert_eq!(moto.get("pre/top.txt"), None);
    assert_eq!(f.cmd("RNFR nothing").code, 550);
    // A directory: refused with the reason, nothing moved.
    assert_eq!(f.cmd("RNFR implicit").code, 350);
    let r = f.cmd("RNTO elsewhere");
    assert_eq!(r.code, 550);
    assert!(
        r.text().contains("not supported on object storage"),
        "{r:?}"
    );
    assert!(moto.get("pre/implicit/deep/file.txt").is_some());

    // Immutable objects: APPE onto one and REST + STOR are refused, clearly.
    let mut d = f.data();
    let r = f.cmd("APPE implicit/moved.txt");
    assert_eq!(r.code, 550);
    assert!(r.text().contains("object storage"), "{r:?}");
    drop(d);
    d = f.data();
    assert_eq!(f.cmd("REST 2").code, 350);
    assert_eq!(f.cmd("STOR implicit/moved.txt").code, 550);
    drop(d);
    // APPE of a new name is a plain upload.
    let mut d = f.data();
    assert_eq!(f.cmd("APPE fresh.txt").code, 150);
    d.write_all(b"fresh").unwrap();
    drop(d);
    assert_eq!(f.reply().code, 226);
    assert_eq!(moto.get("pre/fresh.txt").unwrap(), b"fresh");

    // STOU picks a free name.
    let mut d = f.data();
    let r = f.cmd("STOU fresh.txt");
    assert_eq!(r.code, 150);
    assert!(r.text().contains("FILE: fresh.txt.1"), "{r:?}");
    d.write_all(b"second").unwrap();
    drop(d);
    assert_eq!(f.reply().code, 226);
    assert_eq!(moto.get("pre/fresh.txt.1").unwrap(), b"second");

    // What S3 cannot do is said, not faked; FEAT leaves it out.
    assert_eq!(f.cmd("MFMT 20200101000000 fresh.txt").code, 550);
    assert_eq!(f.cmd("SITE CHMOD 600 fresh.txt").code, 550);
    assert_eq!(f.cmd("SITE SYMLINK fresh.txt ln").code, 550);
    assert_eq!(f.cmd("AVBL").code, 550);
    let feat = f.cmd("FEAT");
    assert!(
        !feat.text().contains("MFMT") && feat.text().contains("SIZE"),
        "{feat:?}"
    );

    // A user's home is a sub-prefix, and must exist.
    assert_eq!(f.cmd("MKD bob").code, 257);
    let mut b = Ftp::login_as(srv.addr, "bob");
    assert_eq!(b.stor("mine.txt", b"bob's").code, 226);
    assert_eq!(moto.get("pre/bob/mine.txt").unwrap(), b"bob's");
    assert_eq!(b.cmd("CWD ..").code, 250);
    assert_eq!(b.cmd("PWD").text(), "\"/\" is the current directory");
    let (_, names) = b.listing("NLST");
    assert_eq!(names, "mine.txt\r\n");
}

/// An upload cut off (ABOR, or a reset data connection) never replaces the
/// complete object and leaves no multipart upload behind.
#[test]
fn cut_off_uploads_keep_the_old_object_and_leave_no_parts() {
    let Some(moto) = moto() else { return };
    let srv = serve(&moto, "part_size = \"5M\"\n");
    let old = pattern(1 << 20, 3);
    moto.put("pre/keep.bin", &old);
    let mut f = Ftp::login(srv.addr);

    // ABOR after more than two parts went out.
    let mut d = f.data();
    assert_eq!(f.cmd("STOR keep.bin").code, 150);
    d.write_all(&pattern(12 << 20, 4)).unwrap();
    d.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let r = f.cmd("ABOR");
    assert!(r.code == 426 || r.code == 226, "{r:?}");
    if r.code == 426 {
        assert_eq!(f.reply().code, 226);
    }
    drop(d);
    assert!(
        moto.get("pre/keep.bin").unwrap() == old,
        "old object changed"
    );
    assert_eq!(moto.pending_uploads(), 0, "multipart upload left behind");

    // The data connection reset mid-upload (RST): 426, same rule.
    let d = f.data();
    assert_eq!(f.cmd("STOR keep.bin").code, 150);
    let s = socket2::Socket::from(d);
    s.set_linger(Some(Duration::ZERO)).unwrap();
    let mut d: TcpStream = s.into();
    d.write_all(&pattern(11 << 20, 5)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(d);
    let r = f.reply();
    assert_eq!(r.code, 426, "{r:?}");
    assert!(
        moto.get("pre/keep.bin").unwrap() == old,
        "old object changed"
    );
    assert_eq!(moto.pending_uploads(), 0, "multipart upload left behind");

    // The session is still usable, and a whole upload then replaces it.
    let new = pattern(6 << 20, 6);
    assert_eq!(f.stor("keep.bin", &new).code, 226);
    assert!(moto.get("pre/keep.bin").unwrap() == new);
    assert_eq!(moto.pending_uploads(), 0);
}

/// More keys than one S3 list page (1000): every one is listed.
#[test]
fn listings_page_through_continuation_tokens() {
    let Some(moto) = moto() else { return };
    for i in 0..1100 {
        moto.put(&format!("pre/many/f{i:04}"), b"");
    }
    let srv = serve(&moto, "");
    let mut f = Ftp::login(srv.addr);
    let (r, names) = f.listing("NLST many");
    assert_eq!(r.code, 226);
    assert_eq!(names.lines().count(), 1100);
    assert!(names.contains("many/f0000\r\n") && names.contains("many/f1099\r\n"));
}

/// S3 gone mid-session: 451 within the timeout, the session still answers;
/// back again, it works again.
#[test]
fn storage_errors_are_451_and_the_session_survives() {
    let Some(moto) = moto() else { return };
    let srv = serve(&moto, "");
    let mut f = Ftp::login(srv.addr);
    assert_eq!(f.stor("a.txt", b"a").code, 226);
    drop(moto);
    for cmd in ["SIZE a.txt", "CWD x", "MKD y", "DELE a.txt"] {
        let r = f.cmd(cmd);
        assert_eq!(r.code, 451, "{cmd}: {r:?}");
        assert_eq!(r.text(), "Requested action aborted: storage error.");
    }
    assert_eq!(f.retr("a.txt").unwrap_err().code, 451);
    let (r, _) = f.listing("LIST");
    assert_eq!(r.code, 451);
    assert_eq!(f.cmd("NOOP").code, 200);
    assert!(!srv.log.lock().unwrap().contains("testing-secret-value"));
}

#[test]
fn a_missing_bucket_fails_at_start_with_one_line() {
    let Some(moto) = moto() else { return };
    let etc = tempfile::tempdir().unwrap();
    let users = etc.path().join("users.toml");
    add_user(&users, "alice", None);
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls",
            "off",
            "--root",
            "s3://no-such-bucket/x",
            "--s3-endpoint",
        ])
        .arg(format!("http://{}", moto.addr))
        .arg("--users")
        .arg(&users)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret-value")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("ringftpd: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("s3://no-such-bucket/x"), "{line}");
    assert!(!err.contains("testing-secret-value"));
}
