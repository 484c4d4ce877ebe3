"""Parallel transfers (client/src/parallel.rs), seen from outside: the real
ringftp binary against a private ringftpd (and vsftpd where root and vsftpd
are there), files compared byte for byte.

- one file in segments over N connections, get and put, at sizes around
  the segment edges (0 bytes, fewer bytes than segments, not divisible);
- a segmented put replaces the old file only when complete: the old file
  keeps its content and mode when the client is killed or the transfer is
  cut, and the client deletes its temporary file when it can;
- Ctrl-C during a segmented get leaves a true prefix and a usable session;
- a server without REST (a proxy strips it from FEAT, or refuses it) gets
  one stream;
- ``get -r``/``put -r`` and globs with several files in flight;
- ``--parallel 1`` turns it off.

Segments need ``--parallel-min`` lowered: the default (64 MiB) keeps test
files small. The number of logins in the server's log tells how many
connections the client used.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pexpect
import pytest
from clientharness import Client, _running, ringftp_bin, start_ringftpd

MIB = 1 << 20


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


LOGIN_OK = re.compile(r"\blogin\b.*result=\"?ok\b")


def logins(client: Client) -> int:
    """Successful logins in ringftpd's log (server/src/log.rs: `login ... result=ok`)."""
    return sum(1 for line in client.server.log().splitlines() if LOGIN_OK.search(line))


def batch(client: Client, *lines: str, args=(), timeout: float = 120):
    proc = client.run(
        *args, "-b", "-", client.dest, stdin=("\n".join(lines) + "\n").encode(),
        timeout=timeout,
    )
    return proc


def temp_files(d: Path) -> list[str]:
    return [p.name for p in d.iterdir() if p.name.endswith(".part")]


SEG = ("--parallel", "4", "--parallel-min", "1")


@pytest.mark.parametrize(
    "size",
    [0, 1, MIB - 1, MIB, 3 * MIB + 1, 4 * MIB, 5 * MIB + 17],
    ids=lambda s: f"{s}B",
)
def test_segmented_get_is_byte_identical(client, fixture_trees, size):
    remote = fixture_trees.remote / "seg.bin"
    remote.write_bytes(os.urandom(size))
    before = logins(client)
    proc = batch(client, "get seg.bin", args=SEG)
    assert proc.returncode == 0, proc.stderr
    local = fixture_trees.local / "seg.bin"
    assert local.stat().st_size == size
    assert sha(local) == sha(remote)
    # Parts are equal multiples of 1 MiB (the last takes the rest), at most
    # 4: one connection per part.
    each = -(-(-(-size // 4)) // MIB) * MIB
    parts = max(1, -(-size // each)) if size else 1
    assert logins(client) - before == parts


@pytest.mark.parametrize(
    "size", [1, MIB - 1, 3 * MIB + 1, 5 * MIB + 17], ids=lambda s: f"{s}B"
)
def test_segmented_put_is_byte_identical(client, fixture_trees, size):
    local = fixture_trees.local / "up.bin"
    local.write_bytes(os.urandom(size))
    proc = batch(client, "put up.bin", args=SEG)
    assert proc.returncode == 0, proc.stderr
    remote = fixture_trees.remote / "up.bin"
    assert sha(remote) == sha(local)
    assert temp_files(fixture_trees.remote) == []


def test_segmented_put_replaces_and_keeps_mode(client, fixture_trees):
    remote = fixture_trees.remote / "keep.bin"
    remote.write_bytes(b"old content")
    remote.chmod(0o600)
    local = fixture_trees.local / "keep.bin"
    local.write_bytes(os.urandom(6 * MIB + 5))
    before = logins(client)
    proc = batch(client, "put keep.bin", args=SEG)
    assert proc.returncode == 0, proc.stderr
    assert logins(client) - before == 4
    assert sha(remote) == sha(local)
    assert remote.stat().st_mode & 0o777 == 0o600
    assert temp_files(fixture_trees.remote) == []


def test_parallel_one_is_one_stream(client, fixture_trees):
    (fixture_trees.remote / "one.bin").write_bytes(os.urandom(3 * MIB))
    (fixture_trees.local / "one-up.bin").write_bytes(os.urandom(3 * MIB))
    before = logins(client)
    proc = batch(
        client,
        "get one.bin",
        "put one-up.bin",
        args=("--parallel", "1", "--parallel-min", "1"),
    )
    assert proc.returncode == 0, proc.stderr
    assert logins(client) - before == 1
    assert sha(fixture_trees.local / "one.bin") == sha(fixture_trees.remote / "one.bin")
    assert sha(fixture_trees.remote / "one-up.bin") == sha(
        fixture_trees.local / "one-up.bin"
    )


def test_resume_stays_one_stream(client, fixture_trees):
    data = os.urandom(3 * MIB + 3)
    (fixture_trees.remote / "re.bin").write_bytes(data)
    (fixture_trees.local / "re.bin").write_bytes(data[:MIB])
    before = logins(client)
    proc = batch(client, "reget re.bin", args=SEG)
    assert proc.returncode == 0, proc.stderr
    assert logins(client) - before == 1
    assert (fixture_trees.local / "re.bin").read_bytes() == data


def _wait_for(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.001)
    return False


def _spawn_put(client: Client, name: str, extra=()):
    import subprocess

    return subprocess.Popen(
        client.args(*SEG, *extra, "-b", "-", client.dest),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=client.fx.local,
        env=client.env(),
    )


BIG = 256 * MIB


def _big_local(fx, name: str) -> Path:
    path = fx.local / name
    with open(path, "wb") as f:
        for _ in range(BIG // (16 * MIB)):
            f.write(os.urandom(16 * MIB))
    return path


def test_killed_segmented_put_keeps_old_file(client, fixture_trees):
    remote = fixture_trees.remote / "victim.bin"
    remote.write_bytes(b"the complete old file\n")
    old = sha(remote)
    _big_local(fixture_trees, "victim.bin")
    proc = _spawn_put(client, "victim.bin")
    proc.stdin.write(b"put victim.bin\n")
    proc.stdin.flush()
    started = _wait_for(lambda: temp_files(fixture_trees.remote), 60)
    proc.kill()
    proc.wait(timeout=30)
    assert started, "the upload never created its temporary file"
    # The server sees its data connections end; the old file is untouched.
    time.sleep(0.5)
    assert sha(remote) == old


def test_cut_segmented_put_keeps_old_file_and_deletes_temp(fixture_trees):
    # The server drops stalled data connections after 1 s; the client is
    # stopped for longer mid-upload, so every part is cut.
    srv = start_ringftpd(fixture_trees, ["--data-timeout", "1"])
    try:
        client = Client(ringftp_bin(), srv, fixture_trees)
        remote = fixture_trees.remote / "cut.bin"
        remote.write_bytes(b"the complete old file\n")
        remote.chmod(0o640)
        old = sha(remote)
        _big_local(fixture_trees, "cut.bin")
        proc = _spawn_put(client, "cut.bin")
        proc.stdin.write(b"put cut.bin\n")
        proc.stdin.flush()
        started = _wait_for(lambda: temp_files(fixture_trees.remote), 60)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            time.sleep(3)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=120)
        assert started, "the upload never created its temporary file"
        assert proc.returncode == 1, (out, err)
        assert b'"/cut.bin"' in err, err
        assert sha(remote) == old
        assert remote.stat().st_mode & 0o777 == 0o640
        assert temp_files(fixture_trees.remote) == []
    finally:
        srv.stop()
        _running.remove(srv)


class NoRestProxy:
    """Relays one FTP control connection at a time to the real server,
    hiding `REST STREAM` from FEAT (``hide``) and/or answering every REST
    with 502 (``refuse``), refusing AUTH TLS (it must read the commands).
    Data connections go straight to the server (the
    client connects to the control peer's address, the same host)."""

    def __init__(self, port: int, hide: bool, refuse: bool):
        self.target = port
        self.hide, self.refuse = hide, refuse
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.rests = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._up, args=(c, s), daemon=True).start()
            threading.Thread(target=self._down, args=(s, c), daemon=True).start()

    def _up(self, c, s):
        f = c.makefile("rb")
        for line in f:
            if line[:4].upper() == b"AUTH":
                # A proxy that edits the conversation cannot relay TLS: the
                # client goes on in the clear (and says so once).
                c.sendall(b"502 AUTH not supported by this proxy.\r\n")
                continue
            if line[:4].upper() == b"REST" and self.refuse:
                self.rests += 1
                c.sendall(b"502 REST not implemented.\r\n")
                continue
            s.sendall(line)
        s.close()

    def _down(self, s, c):
        f = s.makefile("rb")
        for line in f:
            if self.hide and line.strip().upper().startswith(b"REST"):
                continue
            c.sendall(line)
        c.close()

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("mode", ["hidden", "refused"])
def test_server_without_rest_gets_one_stream(client, fixture_trees, mode):
    proxy = NoRestProxy(client.server.port, hide=mode == "hidden", refuse=True)
    try:
        data = os.urandom(5 * MIB + 3)
        (fixture_trees.remote / "nr.bin").write_bytes(data)
        (fixture_trees.local / "nr-up.bin").write_bytes(data[::-1])
        proc = client.run(
            *SEG, "-b", "-", client.dest, port=proxy.port,
            stdin=b"get nr.bin\nput nr-up.bin\n", timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert (fixture_trees.local / "nr.bin").read_bytes() == data
        assert (fixture_trees.remote / "nr-up.bin").read_bytes() == data[::-1]
        assert temp_files(fixture_trees.remote) == []
        # Hidden: never tried. Refused: the second part's REST, once per file.
        assert proxy.rests == (0 if mode == "hidden" else 2)
    finally:
        proxy.close()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _make_tree(base: Path, n: int) -> None:
    (base / "d1" / "d2").mkdir(parents=True)
    (base / "d3").mkdir()
    for i in range(n):
        sub = ["", "d1", "d1/d2", "d3"][i % 4]
        (base / sub / f"f{i:03}").write_bytes(os.urandom(i * 13))
    (base / "d3").chmod(0o750)


def test_get_r_and_put_r_in_parallel(client, fixture_trees):
    _make_tree(fixture_trees.remote / "ptree", 120)
    before = logins(client)
    proc = batch(client, "get -r ptree", "put -r ptree ptree-back", args=SEG)
    assert proc.returncode == 0, proc.stderr
    assert logins(client) - before == 4
    src = _tree(fixture_trees.remote / "ptree")
    assert _tree(fixture_trees.local / "ptree") == src
    assert _tree(fixture_trees.remote / "ptree-back") == src
    assert (fixture_trees.local / "ptree" / "d3").stat().st_mode & 0o777 == 0o750
    assert (fixture_trees.remote / "ptree-back" / "d3").stat().st_mode & 0o777 == 0o750
    # sftp's lines, in walk order.
    out = proc.stdout.decode()
    assert "Retrieving /ptree\n" in out and "Entering ptree/d3\n" in out


def test_glob_get_announces_in_order(client, fixture_trees):
    for i in range(12):
        (fixture_trees.remote / f"g{i:02}.txt").write_bytes(os.urandom(1000 + i))
    proc = batch(client, "get g*.txt", args=("-N", *SEG))
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in proc.stdout.decode().splitlines() if l.startswith("Fetching")]
    assert lines == [f"Fetching /g{i:02}.txt to g{i:02}.txt" for i in range(12)]
    for i in range(12):
        n = f"g{i:02}.txt"
        assert (fixture_trees.local / n).read_bytes() == (
            fixture_trees.remote / n
        ).read_bytes()


def test_fewer_connections_than_asked(fixture_trees):
    # The server allows two sessions per address: one extra connection.
    srv = start_ringftpd(fixture_trees, ["--max-per-ip", "2"])
    try:
        client = Client(ringftp_bin(), srv, fixture_trees)
        data = os.urandom(4 * MIB + 1)
        (fixture_trees.remote / "few.bin").write_bytes(data)
        (fixture_trees.local / "few-up.bin").write_bytes(data[::-1])
        # Four parts are planned, the extra connections log in while part 0
        # moves, two of them are refused: their parts go over the other two.
        proc = batch(client, "get few.bin", "put few-up.bin", args=SEG)
        assert proc.returncode == 0, proc.stderr
        assert (fixture_trees.local / "few.bin").read_bytes() == data
        assert (fixture_trees.remote / "few-up.bin").read_bytes() == data[::-1]
        assert temp_files(fixture_trees.remote) == []
        assert logins(client) == 2
    finally:
        srv.stop()
        _running.remove(srv)


def test_tree_with_fewer_connections_than_asked(fixture_trees):
    # The extra connections of get -r/put -r are opened by their workers
    # while the first one already moves files; the two the server refuses
    # (two sessions per address) leave their share to the others.
    srv = start_ringftpd(fixture_trees, ["--max-per-ip", "2"])
    try:
        client = Client(ringftp_bin(), srv, fixture_trees)
        _make_tree(fixture_trees.remote / "ftree", 60)
        proc = batch(client, "get -r ftree", "put -r ftree ftree-back", args=SEG)
        assert proc.returncode == 0, proc.stderr
        assert logins(client) == 2
        src = _tree(fixture_trees.remote / "ftree")
        assert _tree(fixture_trees.local / "ftree") == src
        assert _tree(fixture_trees.remote / "ftree-back") == src
    finally:
        srv.stop()
        _running.remove(srv)


def test_segmented_against_vsftpd(vs_client, fixture_trees):
    data = os.urandom(5 * MIB + 7)
    (fixture_trees.remote / "vs.bin").write_bytes(data)
    os.chown(fixture_trees.remote / "vs.bin", *_owner(fixture_trees.remote))
    (fixture_trees.local / "vs-up.bin").write_bytes(data[::-1])
    (fixture_trees.remote / "vs-up.bin").write_bytes(b"old")
    os.chown(fixture_trees.remote / "vs-up.bin", *_owner(fixture_trees.remote))
    proc = batch(vs_client, "get vs.bin", "put vs-up.bin", args=SEG)
    assert proc.returncode == 0, proc.stderr
    assert (fixture_trees.local / "vs.bin").read_bytes() == data
    assert (fixture_trees.remote / "vs-up.bin").read_bytes() == data[::-1]
    assert temp_files(fixture_trees.remote) == []
    log = vs_client.server.log()
    assert log.count("REST") >= 6, log[-2000:]


def _owner(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_uid, st.st_gid


def test_ctrl_c_during_segmented_get_keeps_a_true_prefix(client, fixture_trees):
    # Typed on a terminal: Ctrl-C stops every part, the session stays usable,
    # and the local file is cut back to bytes that really arrived (never a
    # preallocated hole that reget would take for data).
    remote = _big_local(fixture_trees, "intr.bin").rename(
        fixture_trees.remote / "intr.bin"
    )
    child = client.spawn(*SEG, client.dest, timeout=120)
    child.expect_exact("sftp> ")
    child.sendline("get intr.bin")
    child.expect(r"intr\.bin +\d+%")  # the meter has started
    child.sendcontrol("c")
    child.expect_exact("sftp> ")
    child.sendline("pwd")
    child.expect_exact("Remote working directory: /")
    child.expect_exact("sftp> ")
    child.sendline("bye")
    child.expect(pexpect.EOF)
    local = fixture_trees.local / "intr.bin"
    size = local.stat().st_size
    if size == BIG:
        pytest.skip("the download finished before Ctrl-C arrived")
    with open(remote, "rb") as r, open(local, "rb") as l:
        assert l.read() == r.read(size)


def test_remote_file_shrinking_mid_get_fails_that_file_only(client, fixture_trees):
    # The server's file is cut short while the parts run: the parts that
    # find an early end fail the download (exit 1 in batch mode, not 255:
    # the control connections are fine), the next command still runs, and
    # the local file holds only bytes that arrived.
    remote = _big_local(fixture_trees, "shrink.bin").rename(
        fixture_trees.remote / "shrink.bin"
    )
    data_head = remote.open("rb").read(MIB)
    child = client.spawn(*SEG, client.dest, timeout=120)
    child.expect_exact("sftp> ")
    child.sendline("get shrink.bin")
    child.expect(r"shrink\.bin +\d+%")
    os.truncate(remote, MIB)
    child.expect_exact("sftp> ")
    before = child.before
    child.sendline("pwd")
    child.expect_exact("Remote working directory: /")
    child.expect_exact("sftp> ")
    child.sendline("bye")
    child.expect(pexpect.EOF)
    local = fixture_trees.local / "shrink.bin"
    size = local.stat().st_size
    if size == BIG:
        pytest.skip("the download finished before the file was cut")
    assert "Connection closed" not in before, before
    with open(local, "rb") as l:
        got = l.read()
    assert got[:MIB] == data_head[: len(got[:MIB])]


def test_get_into_a_device_is_one_stream(client, fixture_trees):
    # Parts write at offsets: a local target that is not a regular file
    # (here /dev/null) is fetched over one stream, as before segments.
    (fixture_trees.remote / "dev.bin").write_bytes(os.urandom(3 * MIB + 11))
    before = logins(client)
    proc = batch(client, "get dev.bin /dev/null", args=SEG)
    assert proc.returncode == 0, proc.stderr
    assert logins(client) - before == 1
