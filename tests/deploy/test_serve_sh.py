"""scripts/serve.sh: flags pass through and only --root replaces the default
root (~/ftp for a user); a missing toolchain is named with what would be
installed; offline it stops with a message and installs nothing.

A normal user is simulated with `setpriv --reuid nobody` and a home of its
own, so these tests need root (the CI machine is)."""

from __future__ import annotations

import ftplib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from ringftptest import REPO

SERVE = REPO / "scripts" / "serve.sh"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to act as another user",
)


@pytest.fixture
def base() -> Path:
    # Not under tmp_path: pytest's temp dirs are 0700, and nobody must reach these.
    b = Path(tempfile.mkdtemp(prefix="ringftp-serve-"))
    b.chmod(0o755)
    yield b
    shutil.rmtree(b, ignore_errors=True)


@pytest.fixture
def home(base) -> Path:
    h = base / "home"
    h.mkdir()
    shutil.chown(h, "nobody")
    return h


def as_nobody(home: Path, *args: str, path: str | None = None, **kw):
    env = {
        "HOME": str(home),
        "PATH": path or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
    }
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    cmd += ["env", "-i", *[f"{k}={v}" for k, v in env.items()], str(SERVE), *args]
    return cmd, env


def dry_run(home: Path, *args: str) -> str:
    cmd, _ = as_nobody(home, "--dry-run", *args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"would run: \./target/release/ringftpd ?(.*)$", proc.stderr, re.M)
    assert m, proc.stderr
    return m.group(1)


def test_flags_keep_the_default_root(home):
    ftp = f"--root {home}/ftp"
    assert dry_run(home) == ftp
    assert dry_run(home, "--listen", "127.0.0.1:2121") == f"--listen 127.0.0.1:2121 {ftp}"
    assert dry_run(home, "serve", "--max-clients", "5") == f"serve --max-clients 5 {ftp}"
    # Only the user's --root replaces it, in either spelling.
    assert dry_run(home, "--root", "/data", "--listen", "127.0.0.1:1") == (
        "--root /data --listen 127.0.0.1:1"
    )
    assert dry_run(home, "--root=/data") == "--root=/data"
    # A config that sets root counts as one; one that does not, does not.
    with_root = home / "with.toml"
    with_root.write_text('root = "/data"\n')
    without = home / "without.toml"
    without.write_text('banner = "hi"\n')
    assert dry_run(home, "--config", str(with_root)) == f"--config {with_root}"
    assert dry_run(home, f"--config={without}") == f"--config={without} {ftp}"
    # `user ...` takes no root.
    assert dry_run(home, "user", "list") == "user list"
    assert not (home / "ftp").exists(), "a dry run creates nothing"


def test_missing_toolchain_is_named_not_installed(home):
    """nobody has no cargo on its PATH: the script says what it would install."""
    cmd, _ = as_nobody(home, "--dry-run")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"needs Rust >= 1\.\d+ \(found: ", proc.stderr), proc.stderr
    assert re.search(r"will install (with apt-get|rustup)", proc.stderr), proc.stderr
    assert not (home / ".cargo").exists() and not (home / ".rustup").exists()


def test_no_terminal_no_yes_installs_nothing(home):
    cmd, _ = as_nobody(home)
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, cwd="/", stdin=subprocess.DEVNULL
    )
    assert proc.returncode != 0
    assert "rerun with --yes" in proc.stderr, proc.stderr
    assert not (home / ".cargo").exists()


def test_offline_stops_with_a_message(home, base):
    """No network (a fresh network namespace) and no Rust on PATH, with --yes:
    a clear message, a non-zero exit, nothing installed."""
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace")
    # A PATH with what the script needs but no rustc, cargo or apt: the
    # rustup route, whose first step is the network probe.
    bindir = base / "bin"
    bindir.mkdir()
    for tool in (
        "bash sh env sed awk sort head grep id curl mktemp cc printf cat uniq "
        "dirname uname rm"
    ).split():
        real = shutil.which(tool)
        if real:
            (bindir / tool).symlink_to(real)
    env = {"HOME": str(home), "PATH": str(bindir), "LANG": "C.UTF-8"}
    proc = subprocess.run(
        [
            "unshare",
            "-n",
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--",
            shutil.which("env"),
            "-i",
            *[f"{k}={v}" for k, v in env.items()],
            str(SERVE),
            "--yes",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert proc.returncode != 0, proc.stderr
    assert "looks offline" in proc.stderr, proc.stderr
    assert "sh.rustup.rs" in proc.stderr, proc.stderr
    assert not (home / ".cargo").exists() and not (home / ".rustup").exists()


def test_user_start_serves_home_ftp_not_the_checkout(home, base):
    """A real start as a normal user with --listen: the server must serve
    ~/ftp (the bug: any flag made it serve the repository checkout). The
    toolchain check and the build are satisfied by stand-ins, the binary is
    the one built for the tests."""
    binary = REPO / "target" / "release" / "ringftpd"
    if not binary.exists():
        pytest.skip("no release build (the quick bench builds it in scripts/test.sh)")
    shims = base / "shims"
    shims.mkdir()
    (shims / "rustc").write_text("#!/bin/sh\necho 'rustc 1.99.0 (stand-in)'\n")
    (shims / "cargo").write_text("#!/bin/sh\nexit 0\n")  # the build is already done
    for s in shims.iterdir():
        s.chmod(0o755)
    shims.chmod(0o755)
    path = f"{shims}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    cmd, _ = as_nobody(home, "--listen", "127.0.0.1:0", path=path)
    log_path = base / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd="/", start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        port = user = password = None
        while time.monotonic() < deadline and proc.poll() is None:
            text = log_path.read_text(errors="replace")
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
            u = re.search(r"created user '([^']+)' with password '([^']+)'", text)
            if m and u:
                port, (user, password) = int(m.group(1)), u.groups()
                break
            time.sleep(0.05)
        assert port, f"rc={proc.poll()}\n{log_path.read_text()}"
        (home / "ftp" / "marker.txt").write_text("in ~/ftp\n")
        ftp = ftplib.FTP(timeout=20)
        ftp.connect("127.0.0.1", port)
        ftp.login(user, password)
        names = ftp.nlst()
        ftp.quit()
        assert "marker.txt" in names, names
        assert "Cargo.toml" not in names and "README.md" not in names, names
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
