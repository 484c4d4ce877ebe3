//! ringftp against a private vsftpd on loopback (a standard server: LIST
//! instead of MLSD, PASV/EPSV): batch upload, listing, download and a batch
//! failure, in the clear (one warning line) and with `ssl_enable=YES` (AUTH
//! TLS, PROT P, vsftpd's default `require_ssl_reuse=YES`, so every data
//! connection must resume the control connection's TLS session). Needs root
//! (to create the FTP user), vsftpd and openssl; otherwise it says why and
//! does nothing. Run it under `flock /tmp/ringftp-vsftpd.lock`.

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
        .args([
            "-c",
            "command -v vsftpd && command -v useradd && command -v openssl",
        ])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !root || !have {
        eprintln!("it_vsftpd: skipped (needs root, vsftpd, useradd and openssl)");
    }
    root && have
}

/// A self-signed ECDSA certificate and key for vsftpd, made with openssl.
fn make_cert(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=localhost", "-days", "30", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    (cert, key)
}

fn start(
    dir: &std::path::Path,
    home: &std::path::Path,
    ssl: Option<&(std::path::PathBuf, std::path::PathBuf)>,
) -> (Vsftpd, u16) {
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
    let mut conf = format!(
        "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
         local_enable=YES\nwrite_enable=YES\nlocal_umask=022\nanonymous_enable=NO\n\
         pasv_enable=YES\npasv_min_port={pmin}\npasv_max_port={}\nseccomp_sandbox=NO\n\
         secure_chroot_dir={}\npam_service_name=vsftpd\ntext_userdb_names=YES\n\
         force_dot_files=YES\nxferlog_enable=NO\n",
        pmin + 50,
        dir.join("empty").display()
    );
    if let Some((cert, key)) = ssl {
        // vsftpd's defaults otherwise: TLS forced for logins and data,
        // require_ssl_reuse=YES. Its default cipher list (DES-CBC3-SHA) has
        // nothing for an ECDSA key under TLS 1.2.
        conf.push_str(&format!(
            "ssl_enable=YES\nrsa_cert_file={}\nrsa_private_key_file={}\nssl_ciphers=HIGH\n",
            cert.display(),
            key.display()
        ));
    }
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
    opts: &[String],
) -> std::process::Output {
    let bfile = cwd.join("batch.txt");
    std::fs::write(&bfile, batch).unwrap();
    Command::new(env!("CARGO_BIN_EXE_ringftp"))
        .args(opts)
        .arg("--netrc-file")
        .arg(netrc)
        .args(["-P", &port.to_string(), "-b"])
        .arg(&bfile)
        .arg("127.0.0.1")
        .current_dir(cwd)
        .env("HOME", cwd)
        .env_remove("XDG_CONFIG_HOME")
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

#[test]
fn batch_transfers_and_errors_against_vsftpd() {
    if !available() {
        return;
    }
    transfers_and_errors(false);
}

#[test]
fn batch_transfers_and_errors_against_vsftpd_with_ssl() {
    if !available() {
        return;
    }
    transfers_and_errors(true);
}

/// The same session in the clear or over TLS: byte-identical files both
/// ways, the same listing; stderr differs only in the host-check lines.
fn transfers_and_errors(ssl: bool) {
    // Both tests use the one FTP account, whose home each points elsewhere.
    static ACCOUNT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = ACCOUNT.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let local = tmp.path().join("local");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&local).unwrap();
    let cert = ssl.then(|| make_cert(tmp.path()));
    let (_srv, port) = start(tmp.path(), &home, cert.as_ref());
    let kh = tmp.path().join("known_hosts");
    let opts = vec![
        "-o".to_string(),
        format!("UserKnownHostsFile={}", kh.display()),
        "-o".to_string(),
        "StrictHostKeyChecking=accept-new".to_string(),
    ];
    let first_stderr = if ssl {
        format!(
            "Warning: Permanently added '[127.0.0.1]:{port}' (ECDSA) to the list of known hosts.\n"
        )
    } else {
        format!(
            "Warning: [127.0.0.1]:{port} does not offer TLS; the password will be sent in clear.\n"
        )
    };
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
        &opts,
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
    assert_eq!(stderr, first_stderr);
    if ssl {
        let text = std::fs::read_to_string(&kh).unwrap();
        assert!(
            text.starts_with(&format!("[127.0.0.1]:{port} ECDSA SHA256:")),
            "{text}"
        );
    } else {
        assert!(!kh.exists());
    }
    assert!(!home.join("two words.txt").exists());
    assert!(stdout.ends_with("sftp> ls\ndata.bin  \n"), "{stdout}");

    // The first failing command stops a batch with exit status 1.
    let out = ringftp(port, &netrc, &local, "get nothere\npwd\n", &opts);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout, "sftp> get nothere\n");
    // A known TLS host is silent; a clear one warns every time.
    let again = if ssl { String::new() } else { first_stderr };
    assert_eq!(
        stderr,
        format!("{again}File \"{home_s}/nothere\" not found.\n")
    );
}
