"""Block mode (MODE B, docs/edge-cases.md "Client: block mode") seen from
outside: the real ringftp against ringftpd (FTPS by default, and in the
clear), vsftpd (no MODE B: stream mode, silently) and a small fake server
that accepts MODE B and then breaks the kept data connection.

Proof that block mode was used is the server's own debug log: ringftpd
logs every command verb (`command verb=EPSV`), so the data connections
opened are counted there. In block mode each worker opens one and keeps it
(plus one after each switch to stream mode for a file over 1 MiB); in
stream mode every file opens its own.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import threading
from pathlib import Path

import pytest
from clientharness import Client, _running, ringftp_bin, start_ringftpd

MIB = 1 << 20
# Sizes around the block and buffer edges, and past the 1 MiB threshold.
SIZES = [0, 1, 65535, 65536, MIB, MIB + 1, 5 * MIB]
SMALL = 40  # 4 KiB files beside them: what block mode is for
ARGS = ("--parallel", "2")


def verbs(srv, verb: str) -> int:
    return len(re.findall(rf"\bcommand\b.*\bverb=\"?{verb}\b", srv.log()))


def make_tree(base: Path) -> dict[str, bytes]:
    (base / "sub").mkdir(parents=True)
    files = {}
    for size in SIZES:
        files[f"s{size}"] = os.urandom(size)
    for i in range(SMALL):
        files[f"sub/f{i:02}"] = os.urandom(4096)
    for name, data in files.items():
        (base / name).write_bytes(data)
    return files


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def batch(client: Client, *lines: str, args=()):
    return client.run(
        *args, "-b", "-", client.dest, stdin=("\n".join(lines) + "\n").encode(), timeout=180
    )


@pytest.fixture
def debug_log(monkeypatch):
    monkeypatch.setenv("RINGFTPD_LOG", "debug")


def server(fx, **kw):
    srv = start_ringftpd(fx, **kw)
    return srv, Client(ringftp_bin(), srv, fx)


def stop(srv):
    srv.stop()
    if srv in _running:
        _running.remove(srv)


@pytest.mark.parametrize("tls", [True, False], ids=["ftps", "clear"])
def test_get_r_put_r_in_block_mode(debug_log, fixture_trees, tls):
    srv, client = server(fixture_trees, **({} if tls else {"tls": False}))
    try:
        files = make_tree(fixture_trees.remote / "bt")
        proc = batch(client, "get -r bt", "put -r bt bt-back", args=ARGS)
        assert proc.returncode == 0, proc.stderr
        assert tree(fixture_trees.local / "bt") == files
        assert tree(fixture_trees.remote / "bt-back") == files
        n = len(files)
        # Block mode was asked and used: far fewer data connections than
        # files (two listings, two workers, the switches around the two
        # files over 1 MiB, both ways), 125s on the kept ones.
        assert verbs(srv, "MODE") >= 2, srv.log()[-3000:]
        epsv = verbs(srv, "EPSV")
        assert epsv <= 20 < 2 * n, srv.log()[-3000:]
        if tls:
            assert "reuse required" not in srv.log()
    finally:
        stop(srv)


def test_no_block_mode_is_stream_mode(debug_log, fixture_trees):
    srv, client = server(fixture_trees)
    try:
        files = make_tree(fixture_trees.remote / "st")
        proc = batch(client, "get -r st", "put -r st st-back", args=("--no-block-mode", *ARGS))
        assert proc.returncode == 0, proc.stderr
        assert tree(fixture_trees.local / "st") == files
        assert tree(fixture_trees.remote / "st-back") == files
        assert verbs(srv, "MODE") == 0
        # One data connection per file each way (and the listings).
        assert verbs(srv, "EPSV") >= 2 * len(files)
    finally:
        stop(srv)


def test_help_does_not_show_the_option(client):
    proc = client.run("--help", netrc=False)
    assert b"block" not in proc.stdout + proc.stderr


def test_vsftpd_refusing_mode_b_gets_stream_mode(vs_client, fixture_trees):
    remote = fixture_trees.remote
    files = make_tree(remote / "vt")
    owner = remote.stat()
    for p in [remote / "vt", *(remote / "vt").rglob("*")]:
        os.chown(p, owner.st_uid, owner.st_gid)
    proc = batch(vs_client, "get -r vt", "put -r vt vt-back", args=ARGS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode().count("\n") == 0, proc.stderr
    assert tree(fixture_trees.local / "vt") == files
    assert tree(remote / "vt-back") == files


# --- a server that breaks the kept connection ---------------------------------

EOF_BIT = 0x40


def frame(data: bytes) -> bytes:
    out = bytearray()
    chunks = [data[i : i + 65535] for i in range(0, len(data), 65535)] or [b""]
    for i, c in enumerate(chunks):
        out += struct.pack(">BH", EOF_BIT if i == len(chunks) - 1 else 0, len(c)) + c
    return bytes(out)


def read_blocks(f) -> bytes | None:
    data = bytearray()
    while True:
        head = f.read(3)
        if len(head) < 3:
            return None
        desc, count = struct.unpack(">BH", head)
        body = f.read(count)
        if len(body) < count:
            return None
        data += body
        if desc & EOF_BIT:
            return bytes(data)


class BreakingServer:
    """A minimal FTP server (no TLS) that speaks MODE B and keeps the data
    connection, but breaks it on every `every`-th transfer, in one of four
    ways: `close` (closes it after the 250, as if it timed out), `refuse`
    (answers the next transfer on it with 425), `dead` (answers 125 on it,
    then finds it gone: closes it at once and answers 426) or `cut` (a
    download sends half of its file, closes before the EOF block and answers
    426, as a server whose disk read failed mid-file; the file names it cut
    are in `cut_names`)."""

    def __init__(self, files: dict[str, bytes], how: str, every: int = 5):
        self.files, self.how, self.every = files, how, every
        self.uploads: dict[str, bytes] = {}
        self.log: list[str] = []
        self.broken = 0
        self.cut_names: list[str] = []
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(c,), daemon=True).start()

    def close(self):
        self.stopped = True
        self.lsock.close()

    def _session(self, c):
        f = c.makefile("rwb", buffering=0)
        say = lambda line: f.write(line.encode() + b"\r\n")
        mode, data, listener = "S", None, None
        reused = 0  # transfers on a kept connection in this session
        say("220 fake")
        for raw in f:
            line = raw.decode().strip()
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            self.log.append(verb)
            if verb == "USER":
                say("331 pw")
            elif verb == "PASS":
                say("230 ok")
            elif verb == "FEAT":
                say("211-Features:\r\n MLSD\r\n SIZE\r\n EPSV\r\n211 End")
            elif verb in ("TYPE", "OPTS", "NOOP"):
                say("200 ok")
            elif verb == "PWD":
                say('257 "/" is the current directory')
            elif verb == "CWD":
                say("250 ok" if arg in ("/", "/d", "/d/up") else "550 no")
            elif verb == "MODE":
                mode = arg.upper()
                if data:
                    data.close()
                    data = None
                say(f"200 Mode set to {mode}.")
            elif verb == "EPSV":
                if data:
                    data.close()
                    data = None
                listener = socket.create_server(("127.0.0.1", 0))
                say(f"229 Entering Extended Passive Mode (|||{listener.getsockname()[1]}|)")
            elif verb == "ABOR":
                say("226 abort ok")
            elif verb == "MKD":
                say(f'257 "{arg}" created')
            elif verb == "QUIT":
                say("221 bye")
                break
            elif verb in ("MLSD", "RETR", "STOR"):
                fresh = data is None
                broken = False
                if fresh:
                    if listener is None:
                        say("425 no data connection")
                        continue
                    say("150 opening")
                    data, _ = listener.accept()
                    listener.close()
                    listener = None
                else:
                    reused += 1
                    broken = self.how != "close" and reused % self.every == 0
                    self.broken += broken
                    if broken and self.how == "refuse":
                        data.close()
                        data = None
                        say("425 Data connection closed; open a new one with PASV or EPSV.")
                        continue
                    say("125 already open")
                    if broken and self.how == "dead":
                        data.close()
                        data = None
                        say("426 connection lost")
                        continue
                if verb == "MLSD":
                    if arg.rstrip("/") == "/d":
                        payload = "".join(
                            f"type=file;size={len(v)}; {k[3:]}\r\n"
                            for k, v in sorted(self.files.items())
                        ).encode()
                    else:
                        payload = b"type=dir; d\r\n"
                elif verb == "RETR":
                    name = arg if arg.startswith("/") else "/" + arg
                    payload = self.files.get(name, b"")
                else:
                    payload = None
                if self.how == "cut" and broken and verb == "RETR" and mode == "B":
                    self.cut_names.append(name)
                    data.sendall(frame(payload)[: 3 + len(payload) // 2])
                    data.close()
                    data = None
                    say("426 Failure reading the file; transfer aborted.")
                    continue
                if mode == "B":
                    if payload is not None:
                        data.sendall(frame(payload))
                    else:
                        got = read_blocks(data.makefile("rb"))
                        if got is None:
                            data.close()
                            data = None
                            say("426 cut")
                            continue
                        self.uploads[arg] = got
                    say("250 Transfer complete; data connection kept open.")
                    if self.how == "close" and not fresh and reused % self.every == 0:
                        # As if it timed out: the client finds it closed.
                        self.broken += 1
                        data.close()
                        data = None
                else:
                    if payload is not None:
                        data.sendall(payload)
                    else:
                        got = bytearray()
                        while chunk := data.recv(65536):
                            got += chunk
                        self.uploads[arg] = bytes(got)
                    data.close()
                    data = None
                    say("226 done")
            else:
                say("502 no")
        c.close()


N_FAKE = 20


def fake_client(fixture_trees, fake: BreakingServer) -> Client:
    """The real ringftp, pointed at the fake (no TLS, no known hosts)."""
    (fixture_trees.base / "no_hosts").touch()
    ftp = type("S", (), {"host": "127.0.0.1", "port": fake.port, "user": "u", "password": "p", "fingerprint": None})
    return Client(ringftp_bin(), ftp, fixture_trees)


@pytest.mark.parametrize("how", ["close", "refuse", "dead"])
def test_a_broken_kept_connection_is_retried_on_a_new_one(fixture_trees, how):
    files = {f"/d/f{i:02}": os.urandom(4096 + i) for i in range(N_FAKE)}
    fake = BreakingServer(files, how)
    try:
        client = fake_client(fixture_trees, fake)
        up = fixture_trees.local / "up"
        up.mkdir()
        for i in range(N_FAKE):
            (up / f"u{i:02}").write_bytes(os.urandom(3000 + i))
        proc = batch(client, "get -r /d got", "put -r up /d", args=("--parallel", "2"))
        assert proc.returncode == 0, (proc.stdout, proc.stderr, fake.log)
        for name, data in files.items():
            assert (fixture_trees.local / "got" / name[3:]).read_bytes() == data, name
        for i in range(N_FAKE):
            assert fake.uploads[f"/d/up/u{i:02}"] == (up / f"u{i:02}").read_bytes()
        # Block mode, and new connections only where the old one broke
        # (stream mode: one per file, 2 * N_FAKE, and the listings).
        assert "MODE" in fake.log
        assert fake.broken >= 2, fake.log
        assert fake.log.count("EPSV") <= N_FAKE, " ".join(fake.log)
    finally:
        fake.close()


def test_a_download_cut_before_the_eof_block_fails_that_file_only(fixture_trees):
    """docs/edge-cases.md, "Block-mode download that closes before the EOF
    block": that file is an error (not retried: bytes had come) and keeps what
    came; the kept connection is dropped and the other files arrive whole."""
    files = {f"/d/f{i:02}": os.urandom(4096 + i) for i in range(N_FAKE)}
    fake = BreakingServer(files, "cut", every=7)
    try:
        client = fake_client(fixture_trees, fake)
        proc = batch(client, "get -r /d got", args=("--parallel", "2"))
        assert fake.cut_names, fake.log
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        got = fixture_trees.local / "got"
        for name, data in files.items():
            local = got / name[3:]
            if name in fake.cut_names:
                assert f"Download of file {name} to ".encode() in proc.stderr, proc.stderr
                assert len(local.read_bytes()) < len(data)
                assert data.startswith(local.read_bytes()), name
            else:
                assert local.read_bytes() == data, name
        # Each cut dropped its connection: the next file there opened a new one.
        assert fake.log.count("EPSV") >= 2 + len(fake.cut_names) - 1, fake.log
    finally:
        fake.close()
