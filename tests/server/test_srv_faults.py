"""Faults: the server killed mid-upload, a full disk, a corrupt users file on
SIGHUP, SIGTERM during transfers. Each checks what a user would see: the old
file's bytes, the replies, the exit code, the log."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from ringftptest import Raw

TEMP_RE = re.compile(r"^\..+\.ringftp-[0-9a-f]{16}\.part$")


def temp_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if TEMP_RE.match(n))


def wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def data_socket(r: Raw, host: str) -> socket.socket:
    code, text = r.cmd("EPSV")
    assert code == 229, text
    port = int(re.search(r"\(\|\|\|(\d+)\|\)", text).group(1))
    return socket.create_connection((host, port), timeout=30)


def start_upload(srv, name: str) -> tuple[Raw, socket.socket]:
    """A logged-in STOR of `name` whose data connection is open (150 read)."""
    r = Raw(srv.host, srv.port, timeout=30)
    r.login()
    assert r.cmd("TYPE I")[0] == 200
    d = data_socket(r, srv.host)
    code, text = r.cmd(f"STOR {name}")
    assert code == 150, text
    return r, d


def sweep_line(srv) -> str:
    m = re.search(r"stale upload sweep done.*", srv.log())
    return m.group(0) if m else ""


def test_kill9_mid_stor_keeps_old_file_and_restart_sweeps_temp(make_server):
    srv = make_server()
    old = os.urandom(3 * 1024 * 1024)
    (srv.root / "dir" / "old.bin").write_bytes(old)
    r, d = start_upload(srv, "/dir/old.bin")
    d.sendall(os.urandom(2 * 1024 * 1024))
    # The new bytes are on their way into the temporary file.
    temps = wait_for(
        lambda: [
            t
            for t in temp_files(srv.root / "dir")
            if (srv.root / "dir" / t).stat().st_size > 0
        ],
        20,
        "the upload's temporary file",
    )
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    d.close()
    r.close()
    assert (srv.root / "dir" / "old.bin").read_bytes() == old
    assert temp_files(srv.root / "dir") == temps, "kill -9 leaves the temp file"

    again = make_server(root=srv.root, users=srv.users)
    line = wait_for(lambda: sweep_line(again), 20, "the start-up sweep")
    assert "removed=1 " in line, line
    assert temp_files(srv.root / "dir") == []
    assert (srv.root / "dir" / "old.bin").read_bytes() == old
    # And the server works: the same upload, completed this time, replaces it.
    ftp = again.ftp()
    import io

    ftp.storbinary("STOR /dir/old.bin", io.BytesIO(b"new"))
    assert (srv.root / "dir" / "old.bin").read_bytes() == b"new"
    ftp.quit()


def test_control_connection_lost_mid_stor_aborts_at_once(make_server):
    """The client's control connection ends (FIN) while its data connection
    stays open and silent: nobody is left to report to, so the upload is
    aborted then, not at the data timeout (120 s here); the old file keeps
    its bytes and no temporary file is left."""
    srv = make_server(config={"data_timeout": 120})
    old = os.urandom(1024 * 1024)
    (srv.root / "dir" / "old.bin").write_bytes(old)
    r, d = start_upload(srv, "/dir/old.bin")
    d.sendall(os.urandom(2 * 1024 * 1024))
    wait_for(
        lambda: any((srv.root / "dir" / t).stat().st_size > 0 for t in temp_files(srv.root / "dir")),
        20,
        "the upload's temporary file",
    )
    r.sock.shutdown(socket.SHUT_RDWR)
    r.close()
    line = wait_for(
        lambda: re.search(r'transfer .*path="/dir/old.bin".*result="aborted"', srv.log()),
        20,
        "the aborted upload's log line",
    )
    assert "bytes=" in line.group(0)
    assert wait_for(lambda: temp_files(srv.root / "dir") == [] or None, 10, "the temp file to go")
    d.close()
    assert (srv.root / "dir" / "old.bin").read_bytes() == old
    # The server goes on.
    ftp = srv.ftp()
    assert ftp.voidcmd("NOOP").startswith("200")
    ftp.quit()


def test_start_never_sweeps_a_live_upload_of_another_instance(make_server):
    """Two servers on one tree: the second one's start-up sweep leaves the
    first one's running upload alone, and that upload then completes."""
    first = make_server()
    (first.root / "old.txt").write_bytes(b"old content\n")
    r, d = start_upload(first, "/old.txt")
    d.sendall(b"new content, ")
    wait_for(lambda: temp_files(first.root), 20, "the temporary file")
    second = make_server(root=first.root, users=first.users)
    line = wait_for(lambda: sweep_line(second), 20, "the start-up sweep")
    assert "removed=0 live=1 " in line, line
    assert len(temp_files(first.root)) == 1
    d.sendall(b"complete\n")
    d.close()
    code, text = r.reply()
    assert code == 226, text
    assert (first.root / "old.txt").read_bytes() == b"new content, complete\n"
    assert temp_files(first.root) == []
    r.close()


@pytest.fixture
def small_fs(tmp_path):
    """An 8 MiB tmpfs (root only), unmounted at teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    if shutil.which("mount") is None:
        pytest.skip("no mount(8)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_is_452_no_debris_old_file_intact(make_server, small_fs):
    old = os.urandom(1024 * 1024)
    (small_fs / "old.bin").write_bytes(old)
    srv = make_server(root=small_fs)
    r, d = start_upload(srv, "old.bin")

    def flood():
        # 16 MiB into an 8 MiB filesystem; the server stops reading at ENOSPC.
        chunk = os.urandom(256 * 1024)
        try:
            for _ in range(64):
                d.sendall(chunk)
        except OSError:
            pass
        finally:
            d.close()

    t = threading.Thread(target=flood)
    t.start()
    code, text = r.reply()
    t.join(timeout=30)
    assert code == 452, text
    assert temp_files(small_fs) == [], "the temporary file is removed"
    assert (small_fs / "old.bin").read_bytes() == old
    # The session goes on: NOOP, then an upload that fits.
    assert r.cmd("NOOP")[0] == 200
    d = data_socket(r, srv.host)
    code, text = r.cmd("STOR small.txt")
    assert code == 150, text
    d.sendall(b"fits\n")
    d.close()
    code, text = r.reply()
    assert code == 226, text
    assert (small_fs / "small.txt").read_bytes() == b"fits\n"
    assert r.cmd("QUIT")[0] == 221
    r.close()


def test_sighup_with_corrupt_users_file_keeps_old_users(make_server):
    srv = make_server()
    kept = srv.ftp("alice")
    srv.users.write_text('[[user]]\nname = "alice"\npassword = \n')  # not TOML
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "users file not reloaded" in srv.log(), 10, "the error line")
    log = srv.log()
    assert re.search(r"ERROR.*users file not reloaded", log), log[-2000:]
    assert srv.proc.poll() is None, "still serving"
    # The session that was open goes on, and the old users still log in.
    kept.voidcmd("NOOP")
    for user in ("alice", "bob"):
        ftp = srv.ftp(user)
        assert ftp.pwd() == "/"
        ftp.quit()
    kept.quit()


def download_slowly(srv, name: str, extra: list[str] | None = None):
    """A RETR whose client reads nothing yet: returns (raw, data socket)."""
    r = Raw(srv.host, srv.port, timeout=30)
    r.login()
    assert r.cmd("TYPE I")[0] == 200
    d = data_socket(r, srv.host)
    code, text = r.cmd(f"RETR {name}")
    assert code == 150, text
    return r, d


def drain(d: socket.socket) -> int:
    total = 0
    while True:
        try:
            b = d.recv(1 << 20)
        except OSError:
            break
        if not b:
            break
        total += len(b)
    return total


def test_sigterm_lets_a_transfer_finish_within_shutdown_timeout(make_server):
    srv = make_server(extra_args=["--shutdown-timeout", "30"])
    size = 48 * 1024 * 1024  # more than the socket buffers hold
    with open(srv.root / "dir" / "big48.bin", "wb") as f:
        f.truncate(size)
    idle = Raw(srv.host, srv.port, timeout=30)
    idle.login("bob")
    r, d = download_slowly(srv, "/dir/big48.bin")
    time.sleep(0.3)  # the server is now blocked on the full socket
    assert not select.select([r.sock], [], [], 0)[0], "still transferring"
    srv.proc.send_signal(signal.SIGTERM)
    # Idle sessions are told at once.
    code, text = idle.reply()
    assert code == 421, text
    # The running download goes on to its end, then 226 and 421.
    assert drain(d) == size
    d.close()
    code, text = r.reply()
    assert code == 226, text
    code, text = r.reply()
    assert code == 421, text
    assert srv.proc.wait(timeout=20) == 0


def test_sigterm_cuts_a_transfer_at_shutdown_timeout(make_server):
    srv = make_server(extra_args=["--shutdown-timeout", "2"])
    size = 64 * 1024 * 1024
    with open(srv.root / "dir" / "huge.bin", "wb") as f:
        f.truncate(size)
    r, d = download_slowly(srv, "/dir/huge.bin")
    time.sleep(0.3)
    assert not select.select([r.sock], [], [], 0)[0], "still transferring"
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    # The client reads nothing meanwhile: far too slow to fetch 64 MiB in 2 s.
    code, text = r.reply()
    elapsed = time.monotonic() - t0
    assert code == 426, text
    assert "shutting down" in text
    assert 1.5 < elapsed < 15, elapsed
    code, text = r.reply()
    assert code == 421, text
    # What was already in the socket buffers arrives, then the end: cut short.
    assert drain(d) < size
    d.close()
    assert srv.proc.wait(timeout=20) == 0
