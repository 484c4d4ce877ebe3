//! The start of `ringftpd` where io_uring cannot be used: a seccomp filter (what a
//! container runtime's default profile does) makes `io_uring_setup` fail with
//! EPERM, and the server must exit at once with one line naming the cause and
//! the fix, status 2, instead of starting workers that cannot run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

/// Installs, in the calling (child) process, a seccomp filter under which
/// `io_uring_setup` fails with EPERM and every other system call is allowed.
/// Only async-signal-safe calls (two prctl) run here, as `pre_exec` requires.
fn deny_io_uring_setup() -> std::io::Result<()> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    // struct seccomp_data: `nr` at offset 0, `arch` at offset 4.
    let mut prog = [
        stmt(load, 4),
        jeq(AUDIT_ARCH, 0, 3), // another ABI: allow
        stmt(load, 0),
        jeq(libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: plain prctl calls; `fprog` points at `prog`, both alive for the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &fprog as *const libc::sock_fprog,
            ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[test]
fn blocked_io_uring_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringftpd"));
    cmd.env_remove("RINGFTPD_USERS")
        .env_remove("RINGFTPD_LOG")
        .args(["serve", "--listen", "127.0.0.1:0", "--root"])
        .arg(&root)
        .arg("--users")
        .arg(dir.path().join("users.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure only makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(deny_io_uring_setup);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(
        err.starts_with("ringftpd: cannot use io_uring: "),
        "{err:?}"
    );
    // The cause and the fix are both named.
    assert!(err.contains("seccomp"), "{err:?}");
    assert!(err.contains("io_uring_setup"), "{err:?}");
    // It stopped before anything else: no user was created, nothing listened.
    assert!(!dir.path().join("users.toml").exists());
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}
