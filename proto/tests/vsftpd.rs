//! Interoperability with a real third-party server: vsftpd, run in inetd mode on one end of a
//! loopback TCP connection. Our encoded commands must be understood, and its replies, PASV/EPSV
//! addresses, 257 paths, MDTM values and LIST lines must parse with this crate. Our own
//! `format_list_line` must print exactly what vsftpd prints for the same files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ringftp_proto::addr::{parse_epsv, parse_pasv};
use ringftp_proto::command::{Command, EpsvArg, Password, TransferType};
use ringftp_proto::listing::{
    format_list_line, format_time_val, parse_list_line_at, FileInfo, FileKind,
};
use ringftp_proto::path::parse_257;
use ringftp_proto::reply::{parse_reply, Reply};

const VSFTPD: &str = "/usr/sbin/vsftpd";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "ringftp-proto-{tag}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Session {
    ctl: TcpStream,
    buf: Vec<u8>,
    child: Child,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Session {
    /// vsftpd with its control connection on stdin/stdout (listen=NO), anonymous, read-only.
    fn start(root: &Path, conf_dir: &Path) -> Session {
        let conf = conf_dir.join("vsftpd.conf");
        fs::write(
            &conf,
            format!(
                "listen=NO\nlisten_ipv6=NO\nanonymous_enable=YES\nno_anon_password=YES\nanon_root={}\n\
                 local_enable=NO\nwrite_enable=NO\nseccomp_sandbox=NO\nuse_localtime=NO\nhide_ids=NO\n\
                 secure_chroot_dir=/var/run/vsftpd/empty\npasv_enable=YES\nport_enable=YES\n\
                 pasv_address=127.0.0.1\nxferlog_enable=NO\ndirmessage_enable=NO\n\
                 ftpd_banner=ringftp-proto interop\n",
                root.display()
            ),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ctl = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        let out = OwnedFd::from(server_side.try_clone().unwrap());
        let child = Process::new(VSFTPD)
            .arg(&conf)
            .stdin(Stdio::from(OwnedFd::from(server_side)))
            .stdout(Stdio::from(out))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        ctl.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Session {
            ctl,
            buf: Vec::new(),
            child,
        }
    }

    fn reply(&mut self) -> Reply {
        loop {
            if let Some((r, used)) = parse_reply(&self.buf).unwrap() {
                self.buf.drain(..used);
                return r;
            }
            let mut chunk = [0u8; 4096];
            let n = self.ctl.read(&mut chunk).unwrap();
            assert!(
                n > 0,
                "vsftpd closed the connection; buffered: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn send(&mut self, cmd: &Command) {
        self.ctl.write_all(cmd.encode().as_bytes()).unwrap();
    }

    fn cmd(&mut self, cmd: &Command) -> Reply {
        self.send(cmd);
        self.reply()
    }

    /// Runs a listing command over a passive connection (EPSV or PASV) and returns the data.
    fn data(&mut self, cmd: &Command, use_epsv: bool) -> String {
        let addr: SocketAddr = if use_epsv {
            let r = self.cmd(&Command::Epsv(EpsvArg::Any));
            assert_eq!(r.code, 229, "{r:?}");
            SocketAddr::new([127, 0, 0, 1].into(), parse_epsv(&r.text()).unwrap())
        } else {
            let r = self.cmd(&Command::Pasv);
            assert_eq!(r.code, 227, "{r:?}");
            parse_pasv(&r.text()).unwrap().into()
        };
        let mut data = TcpStream::connect(addr).unwrap();
        data.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let r = self.cmd(cmd);
        assert!(r.is_preliminary(), "{r:?}");
        let mut out = Vec::new();
        data.read_to_end(&mut out).unwrap();
        drop(data);
        let done = self.reply();
        assert_eq!(done.code, 226, "{done:?}");
        String::from_utf8(out).unwrap()
    }
}

fn set_mtime(p: &Path, secs: u64) {
    let f = fs::File::open(p).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

fn info_of(path: &Path, name: &str) -> FileInfo {
    let m = fs::symlink_metadata(path).unwrap();
    let ft = m.file_type();
    let kind = if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    };
    FileInfo {
        name: name.to_owned(),
        kind,
        size: m.len(),
        mtime: m.mtime(),
        mode: m.mode() & 0o7777,
        nlink: m.nlink(),
        owner: m.uid().to_string(),
        group: m.gid().to_string(),
        uid: Some(m.uid()),
        gid: Some(m.gid()),
        link_target: ft
            .is_symlink()
            .then(|| fs::read_link(path).unwrap().to_string_lossy().into_owned()),
        perm: None,
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn vsftpd_interop() {
    if !Path::new(VSFTPD).exists() {
        eprintln!("SKIP: {VSFTPD} is not installed");
        return;
    }
    let root = TempDir::new("root");
    let conf = TempDir::new("conf");
    let r = &root.0;
    let day_ago = (now() as u64 - 86_400) / 60 * 60;
    let files: [(&str, usize, u32, u64); 5] = [
        ("plain.txt", 1234, 0o644, day_ago),
        ("name with  spaces.txt", 5, 0o644, day_ago - 3600),
        ("Grüße 日本.txt", 0, 0o600, day_ago),
        ("old.bin", 99_999, 0o4755, 1_606_089_600), // 2020-11-23 00:00 UTC
        ("year2000", 1, 0o1644, 946_684_800),
    ];
    for (name, size, mode, mtime) in files {
        let p = r.join(name);
        fs::write(&p, vec![b'x'; size]).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        set_mtime(&p, mtime);
    }
    fs::create_dir(r.join("sub dir")).unwrap();
    fs::set_permissions(r.join("sub dir"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(r.join("sub dir/inner"), b"inner").unwrap();
    fs::set_permissions(r.join("sub dir/inner"), fs::Permissions::from_mode(0o644)).unwrap();
    set_mtime(&r.join("sub dir"), day_ago);
    std::os::unix::fs::symlink("plain.txt", r.join("link")).unwrap();

    let mut s = Session::start(r, &conf.0);
    let hello = s.reply();
    assert_eq!(hello.code, 220, "{hello:?}");
    assert_eq!(hello.text(), "ringftp-proto interop");

    assert_eq!(s.cmd(&Command::User("anonymous".into())).code, 230);
    // Already logged in: vsftpd answers 230 to PASS as well.
    assert!(s
        .cmd(&Command::Pass(Password::new("guest@".into())))
        .is_success());

    // A multi-line reply.
    let feat = s.cmd(&Command::Feat);
    assert_eq!(feat.code, 211);
    assert!(feat.lines.len() > 3, "{feat:?}");
    for f in [" EPSV", " PASV", " MDTM", " SIZE", " REST STREAM"] {
        assert!(feat.lines.iter().any(|l| l == f), "{f} missing in {feat:?}");
    }

    assert_eq!(s.cmd(&Command::Type(TransferType::Image)).code, 200);
    assert_eq!(
        parse_257(&s.cmd(&Command::Pwd).text()).as_deref(),
        Some("/")
    );

    let plain = info_of(&r.join("plain.txt"), "plain.txt");
    let mdtm = s.cmd(&Command::Mdtm("plain.txt".into()));
    assert_eq!(mdtm.code, 213);
    assert_eq!(mdtm.text(), format_time_val(plain.mtime));
    let size = s.cmd(&Command::Size("name with  spaces.txt".into()));
    assert_eq!((size.code, size.text().as_str()), (213, "5"));
    let size = s.cmd(&Command::Size("Grüße 日本.txt".into()));
    assert_eq!((size.code, size.text().as_str()), (213, "0"));

    // LIST over EPSV: every line parses back to the file's metadata, and our formatter prints
    // exactly vsftpd's line.
    let listing = s.data(&Command::List(None), true);
    let now = now();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 7, "{listing}");
    for line in &lines {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let parsed = parse_list_line_at(line, now).unwrap_or_else(|| panic!("unparsed: {line:?}"));
        let expected = info_of(&r.join(&parsed.name), &parsed.name);
        let mut want = expected.clone();
        // LIST shows minutes for recent entries and only the day for old ones.
        let unit = if (now - 182 * 86_400..=now).contains(&want.mtime) {
            60
        } else {
            86_400
        };
        want.mtime -= want.mtime.rem_euclid(unit);
        assert_eq!(parsed, want, "{line}");
        assert_eq!(
            format_list_line(&expected, now),
            line,
            "our format differs from vsftpd"
        );
    }

    // The same over PASV, with `ls` options that clients send, in a directory with a space.
    let cwd = s.cmd(&Command::Cwd("sub dir".into()));
    assert_eq!(cwd.code, 250, "{cwd:?}");
    assert_eq!(
        parse_257(&s.cmd(&Command::Pwd).text()).as_deref(),
        Some("/sub dir")
    );
    let sub = s.data(&Command::List(Some("-la".into())), false);
    let names: Vec<String> = sub
        .lines()
        .filter_map(|l| parse_list_line_at(l, now))
        .map(|i| i.name)
        .collect();
    assert!(names.contains(&"inner".to_owned()), "{sub}");
    let nlst = s.data(&Command::Nlst(None), false);
    assert_eq!(nlst.trim_end(), "inner");
    assert_eq!(s.cmd(&Command::Cdup).code, 250);
    assert_eq!(
        parse_257(&s.cmd(&Command::Pwd).text()).as_deref(),
        Some("/")
    );

    // Errors come back as replies we can read.
    let missing = s.cmd(&Command::Size("nope".into()));
    assert_eq!(missing.class(), 5);
    let bad = s.cmd(&Command::Mode('B'));
    assert_eq!(bad.class(), 5);

    let bye = s.cmd(&Command::Quit);
    assert_eq!(bye.code, 221);
}
