//! ringftp against a private vsftpd on loopback (a standard server: LIST
//! instead of MLSD, PASV/EPSV): batch upload, listing, download and a batch
//! failure. Needs root (to create the FTP user) and vsftpd; otherwise it says
//! why and does nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "ringit";
const PASS: &str = "ringit-Pass-1";

struct Vsftpd(Child);

impl Drop for Vsftpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let have = Command::new("sh")
        .args(["-c", "command -v vsftpd && command -v useradd"])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !root || !have {
        eprintln!("it_vsftpd: skipped (needs root, vsftpd and useradd)");
    }
    root && have
}

fn start(dir: &std::path::Path, home: &std::path::Path) -> (Vsftpd, u16) {
    let exists = Command::new("id")
        .arg(USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let st = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", "-d"])
            .arg(home)
            .arg(USER)
            .status()
            .unwrap();
        assert!(st.success());
    } else {
        let st = Command::new("usermod")
            .arg("-d")
            .arg(home)
            .arg(USER)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let mut cp = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(cp.stdin.as_mut().unwrap(), "{USER}:{PASS}").unwrap();
    drop(cp.stdin.take());
    assert!(cp.wait().unwrap().success());
    let st = Command::new("chown").arg(USER).arg(home).status().unwrap();
    assert!(st.success());

    let port = free_port();
    let pmin = 30000 + (std::process::id() % 20000) as u16;
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let conf = format!(
        "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
         local_enable=YES\nwrite_enable=YES\nlocal_umask=022\nanonymous_enable=NO\n\
         pasv_enable=YES\npasv_min_port={pmin}\npasv_max_port={}\nseccomp_sandbox=NO\n\
         secure_chroot_dir={}\npam_service_name=vsftpd\ntext_userdb_names=YES\n\
         force_dot_files=YES\nxferlog_enable=NO\n",
        pmin + 50,
        dir.join("empty").display()
    );
    let cfg = dir.join("vsftpd.conf");
    std::fs::write(&cfg, conf).unwrap();
    let child = Command::new("vsftpd").arg(&cfg).spawn().unwrap();
    let guard = Vsftpd(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "vsftpd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, port)
}

fn ringftp(
    port: u16,
    netrc: &std::path::Path,
    cwd: &std::path::Path,
    batch: &str,
) -> std::process::Output {
    let bfile = cwd.join("batch.txt");
    std::fs::write(&bfile, batch).unwrap();
    Command::new(env!("CARGO_BIN_EXE_ringftp"))
        .arg("--netrc-file")
        .arg(netrc)
        .args(["-P", &port.to_string(), "-b"])
        .arg(&bfile)
        .arg("127.0.0.1")
        .current_dir(cwd)
        .env("HOME", cwd)
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

#[test]
fn batch_transfers_and_errors_against_vsftpd() {
    if !available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let local = tmp.path().join("local");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&local).unwrap();
    let (_srv, port) = start(tmp.path(), &home);
    let netrc = tmp.path().join("netrc");
    std::fs::write(
        &netrc,
        format!("machine 127.0.0.1 login {USER} password {PASS}\n"),
    )
    .unwrap();

    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(local.join("data.bin"), &data).unwrap();
    std::fs::write(local.join("two words.txt"), "hello\n").unwrap();

    let out = ringftp(
        port,
        &netrc,
        &local,
        "put data.bin\nput \"two words.txt\"\nls -1\nls -l data.bin\nget data.bin copy.bin\nrm *.txt\nls\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(std::fs::read(home.join("data.bin")).unwrap(), data);
    assert_eq!(std::fs::read(local.join("copy.bin")).unwrap(), data);
    assert!(
        stdout.contains("sftp> ls -1\ndata.bin\ntwo words.txt\n"),
        "{stdout}"
    );
    // vsftpd's LIST gives the link count; it is shown, as sftp shows a server's long name.
    let long = format!("-rw-r--r--    1 {USER:<8} {USER:<8}  3000000 ");
    assert!(stdout.contains(&long), "{stdout}");
    let home_s = home.display().to_string();
    // Batch mode is quiet: no "Removing"/"Fetching" lines, as sftp -b.
    assert!(
        !stdout.contains("Removing") && !stdout.contains("Fetching"),
        "{stdout}"
    );
    assert!(stderr.is_empty(), "{stderr}");
    assert!(!home.join("two words.txt").exists());
    assert!(stdout.ends_with("sftp> ls\ndata.bin  \n"), "{stdout}");

    // The first failing command stops a batch with exit status 1.
    let out = ringftp(port, &netrc, &local, "get nothere\npwd\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout, "sftp> get nothere\n");
    assert_eq!(stderr, format!("File \"{home_s}/nothere\" not found.\n"));
}
