"""Block mode (MODE B, RFC 959 3.4.2) on raw sockets: the data connection
stays open between transfers (250, then 125 on the next one), every transfer
is framed in blocks that end with an EOF block, and each rule of
docs/edge-cases.md, "Server: block mode (MODE B)", as a client sees it.

The blocks are parsed here (`read_blocks`), independently of proto/src/block.rs,
and each one is checked: at most 65535 bytes, only the EOF block carries the
EOF bit, nothing after it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import select
import socket
import ssl
import struct

import pytest
from ringftptest import PASSWORDS, Raw, needs_moto, rst_close, tls_client_context

MIB = 1024 * 1024
EOF_BIT = 0x40
KEPT = "250 Transfer complete; data connection kept open."
STARTING = "125 Data connection already open; transfer starting."
DEAD = "425 Data connection closed; open a new one with PASV or EPSV."
CUT = "426 Data connection closed before the end-of-file block; upload discarded."


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def frame(data: bytes, eof: bool = True) -> bytes:
    """Blocks of at most 65535 bytes; the last has the EOF bit."""
    out = bytearray()
    chunks = [data[i : i + 65535] for i in range(0, len(data), 65535)] or [b""]
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        out += struct.pack(">BH", EOF_BIT if last and eof else 0, len(chunk))
        out += chunk
    return bytes(out)


def recv_exact(sock, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"data connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_blocks(sock) -> tuple[bytes, int]:
    """One file's blocks, up to and including its EOF block: the data and
    the number of blocks."""
    data = bytearray()
    blocks = 0
    while True:
        desc, count = struct.unpack(">BH", recv_exact(sock, 3))
        blocks += 1
        assert desc & ~EOF_BIT == 0, f"unexpected descriptor {desc:#x}"
        data += recv_exact(sock, count)
        if desc & EOF_BIT:
            return bytes(data), blocks


def nothing_waiting(sock) -> bool:
    """The connection is open and has no byte waiting (a kept connection)."""
    readable, _, _ = select.select([sock], [], [], 0.2)
    return not readable


def closed_by_server(sock, timeout: float = 15.0) -> bool:
    """The server closed (or reset) the connection; any data is drained."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        return False
    return True


class Block:
    """A logged-in control connection in MODE B with its data connection."""

    def __init__(self, server, workdir=None, user: str = "alice"):
        self.server = server
        self.ctl = Raw(server.host, server.port, timeout=30)
        self.ctl.login(user)
        if workdir is not None:
            self.ok(f"CWD /{workdir.name}", 250)
        self.ok("TYPE I", 200)
        assert self.ctl.cmd("MODE B") == (200, "200 Mode set to B.")
        self.data = None

    def ok(self, line: str, code: int) -> str:
        got, text = self.ctl.cmd(line)
        assert got == code, (line, text)
        return text

    def epsv(self):
        text = self.ok("EPSV", 229)
        port = int(re.search(r"\(\|\|\|(\d+)\|\)", text).group(1))
        self.data = socket.create_connection((self.server.host, port), timeout=30)
        return self.data

    def pasv(self):
        text = self.ok("PASV", 227)
        nums = [int(n) for n in re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", text).groups()]
        self.data = socket.create_connection(
            (".".join(map(str, nums[:4])), nums[4] * 256 + nums[5]), timeout=30
        )
        return self.data

    def start(self, line: str) -> tuple[int, str]:
        code, text = self.ctl.cmd(line)
        assert code in (125, 150), (line, text)
        return code, text

    def retr(self, name: str) -> tuple[bytes, int, str]:
        """RETR on the current data connection: data, first code, final reply."""
        code, _ = self.start(f"RETR {name}")
        data, _ = read_blocks(self.data)
        final = self.ctl.reply()[1]
        return data, code, final

    def stor(self, name: str, data: bytes, verb: str = "STOR") -> tuple[int, str, str]:
        code, first = self.start(f"{verb} {name}".strip())
        self.data.sendall(frame(data))
        return code, first, self.ctl.reply()[1]

    def close(self) -> None:
        if self.data is not None:
            with contextlib.suppress(OSError):
                self.data.close()
        with contextlib.suppress(OSError, EOFError):
            self.ctl.cmd("QUIT")
        self.ctl.close()


@pytest.fixture
def blk(server, workdir):
    b = Block(server, workdir)
    yield b
    b.close()


SIZES = [0, 1, 65535, 65536, 200_000, 3 * MIB]


def test_several_retr_on_one_connection(blk, workdir):
    files = {f"f{n}.bin": os.urandom(n) for n in SIZES}
    for name, data in files.items():
        (workdir / name).write_bytes(data)
    conn = blk.epsv()
    for i, (name, data) in enumerate(files.items()):
        got, code, final = blk.retr(name)
        assert code == (150 if i == 0 else 125), (name, code)
        assert sha(got) == sha(data), name
        assert final == KEPT, (name, final)
        assert nothing_waiting(conn), f"bytes after the EOF block of {name}"
    assert blk.data is conn
    # A small file is one block and its EOF in a single send: at most two
    # blocks (the EOF bit on the data block, or an empty EOF block).
    (workdir / "small.bin").write_bytes(b"x" * 4096)
    blk.start("RETR small.bin")
    got, blocks = read_blocks(conn)
    assert blk.ctl.reply()[1] == KEPT
    assert got == b"x" * 4096 and blocks == 1, blocks


def test_stor_commits_at_the_eof_block(blk, workdir):
    (workdir / "f65536.bin").write_bytes(b"old contents")
    blk.epsv()
    files = {f"f{n}.bin": os.urandom(n) for n in SIZES}
    for i, (name, data) in enumerate(files.items()):
        code, _, final = blk.stor(name, data)
        assert code == (150 if i == 0 else 125), (name, code)
        assert final == KEPT, (name, final)
        assert sha((workdir / name).read_bytes()) == sha(data), name
    # And back down the same connection.
    got, code, final = blk.retr("f200000.bin")
    assert (code, final) == (125, KEPT)
    assert got == files["f200000.bin"]
    assert sorted(p.name for p in workdir.iterdir()) == sorted(files), "temporary files left"


@pytest.mark.parametrize("how", ["close", "rst"])
def test_cut_upload_keeps_the_old_file(blk, workdir, how):
    old = os.urandom(300_000)
    (workdir / "keep.bin").write_bytes(old)
    conn = blk.epsv()
    blk.start("STOR keep.bin")
    # Whole blocks, but no EOF block: the upload is not complete.
    conn.sendall(frame(os.urandom(200_000), eof=False))
    if how == "rst":
        rst_close(conn)
    else:
        conn.close()
    assert blk.ctl.reply() == (426, CUT)
    assert sha((workdir / "keep.bin").read_bytes()) == sha(old)
    assert [p.name for p in workdir.iterdir()] == ["keep.bin"], "temporary file left"
    # The session is usable: a new data connection, a new transfer.
    assert blk.ctl.cmd("NOOP")[0] == 200
    assert blk.ctl.cmd("RETR keep.bin")[0] == 425  # nothing kept
    blk.epsv()
    got, code, final = blk.retr("keep.bin")
    assert (code, final) == (150, KEPT)
    assert got == old


def test_cut_inside_a_block_header(blk, workdir):
    (workdir / "keep.bin").write_bytes(b"old")
    conn = blk.epsv()
    blk.start("STOR keep.bin")
    conn.sendall(frame(b"new data", eof=False) + b"\x40\x00")
    conn.close()
    assert blk.ctl.reply() == (426, CUT)
    assert (workdir / "keep.bin").read_bytes() == b"old"


def test_bytes_after_the_eof_block_commit_but_close(blk, workdir):
    conn = blk.epsv()
    data = os.urandom(5000)
    blk.start("STOR ahead.bin")
    conn.sendall(frame(data) + frame(b"the next file"))
    code, text = blk.ctl.reply()
    assert code == 250 and "closed" in text, text
    assert (workdir / "ahead.bin").read_bytes() == data
    assert closed_by_server(conn)
    assert blk.ctl.cmd("RETR ahead.bin")[0] == 425


def test_listings_are_framed(blk, workdir):
    (workdir / "a.txt").write_bytes(b"a")
    (workdir / "b.txt").write_bytes(b"bb")
    conn = blk.epsv()
    codes = []
    for line in ("LIST", "NLST", "MLSD"):
        code, _ = blk.start(line)
        codes.append(code)
        text, _ = read_blocks(conn)
        assert blk.ctl.reply()[1] == KEPT
        lines = text.decode().split("\r\n")
        assert lines[-1] == "", text
        if line == "NLST":
            assert sorted(lines[:-1]) == ["a.txt", "b.txt"]
        else:
            assert len(lines) - 1 >= 2 and all(
                ln.endswith(("a.txt", "b.txt")) for ln in lines[:-1] if ln and "type=" not in ln
            ), text
            assert any(ln.endswith(" a.txt") or ln.endswith(";a.txt") for ln in lines), text
    assert codes == [150, 125, 125]
    # An empty directory: the EOF block alone.
    blk.ok("MKD empty", 257)
    blk.start("NLST empty")
    assert read_blocks(conn) == (b"", 1)
    assert blk.ctl.reply()[1] == KEPT


def test_type_a_is_converted_then_framed(blk, workdir):
    (workdir / "lines.txt").write_bytes(b"one\ntwo\nthree\n")
    blk.ok("TYPE A", 200)
    blk.epsv()
    got, _, final = blk.retr("lines.txt")
    assert (got, final) == (b"one\r\ntwo\r\nthree\r\n", KEPT)
    code, _, final = blk.stor("up.txt", b"x\r\ny\r\nlone\rcr\r\n")
    assert (code, final) == (125, KEPT)
    assert (workdir / "up.txt").read_bytes() == b"x\ny\nlone\rcr\n"


def test_rest_is_refused_in_block_mode(blk, workdir):
    assert blk.ctl.cmd("REST 10") == (504, "504 REST is only supported in MODE S.")
    (workdir / "r.bin").write_bytes(b"0123456789abc")
    blk.epsv()
    got, code, _ = blk.retr("r.bin")
    assert got == b"0123456789abc", "the refused REST moved the start"
    # A REST given in stream mode does not survive MODE B.
    blk.ok("MODE S", 200)
    blk.ok("REST 5", 350)
    blk.ok("MODE B", 200)
    blk.epsv()
    got, _, _ = blk.retr("r.bin")
    assert got == b"0123456789abc"


def test_active_mode_connection_is_kept_too(blk, workdir):
    (workdir / "h.txt").write_bytes(b"hello")
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        port = lst.getsockname()[1]
        blk.ok(f"PORT 127,0,0,1,{port >> 8},{port & 255}", 200)
        blk.ctl.send("RETR h.txt")
        blk.data, _ = lst.accept()
    assert blk.ctl.reply()[0] == 150
    assert read_blocks(blk.data) == (b"hello", 1)
    assert blk.ctl.reply()[1] == KEPT
    assert blk.retr("h.txt") == (b"hello", 125, KEPT)
    # EPSV ALL sets up nothing: the kept connection stays.
    blk.ok("EPSV ALL", 200)
    assert blk.retr("h.txt") == (b"hello", 125, KEPT)


def test_other_modes_are_504(blk):
    for mode in ("C", "X"):
        assert blk.ctl.cmd(f"MODE {mode}")[0] == 504


def test_stat_and_help_tell_the_mode(blk, workdir):
    (workdir / "h.txt").write_bytes(b"hello")
    text = blk.ctl.cmd("STAT")[1]
    assert "MODE: Block" in text and "Data connection: none" in text, text
    blk.epsv()
    blk.retr("h.txt")
    text = blk.ctl.cmd("STAT")[1]
    assert "Data connection: kept open (block mode)" in text, text
    code, text = blk.ctl.cmd("HELP MODE")
    assert code == 214 and "MODE B" in text, text
    blk.ok("MODE S", 200)
    assert "MODE: Stream" in blk.ctl.cmd("STAT")[1]


@pytest.mark.parametrize("verb", ["EPSV", "PASV"])
def test_a_new_passive_setup_closes_the_kept_connection(blk, workdir, verb):
    (workdir / "h.txt").write_bytes(b"hello")
    old = blk.epsv()
    assert blk.retr("h.txt")[1:] == (150, KEPT)
    new = blk.epsv() if verb == "EPSV" else blk.pasv()
    assert closed_by_server(old), "the kept connection is still open"
    got, code, final = blk.retr("h.txt")
    assert (got, code, final) == (b"hello", 150, KEPT)
    assert blk.data is new


def test_mode_s_closes_the_kept_connection(blk, workdir):
    (workdir / "h.txt").write_bytes(b"hello")
    old = blk.epsv()
    blk.retr("h.txt")
    assert blk.ctl.cmd("MODE S") == (200, "200 Mode set to S.")
    assert closed_by_server(old)
    assert blk.ctl.cmd("RETR h.txt")[0] == 425
    # Stream mode again: the data as it is, the end is the close, 226.
    conn = blk.epsv()
    assert blk.ctl.cmd("RETR h.txt")[0] == 150
    assert recv_exact(conn, 5) == b"hello"
    assert closed_by_server(conn)
    assert blk.ctl.reply()[0] == 226


@pytest.mark.parametrize("how", ["close", "rst", "stray"])
def test_a_kept_connection_the_client_closed_is_425(blk, workdir, how):
    (workdir / "h.txt").write_bytes(b"hello")
    conn = blk.epsv()
    blk.retr("h.txt")
    if how == "close":
        conn.close()
    elif how == "rst":
        rst_close(conn)
    else:
        conn.sendall(b"stray bytes")
    # The FIN, RST or bytes are on loopback before the command is.
    assert blk.ctl.cmd("RETR h.txt") == (425, DEAD)
    assert blk.ctl.cmd("NOOP")[0] == 200
    # Dropped for good: the next command has no connection either.
    assert blk.ctl.cmd("RETR h.txt")[0] == 425
    blk.epsv()
    assert blk.retr("h.txt") == (b"hello", 150, KEPT)


def test_abor_mid_transfer_closes_the_connection(blk, workdir):
    (workdir / "big.bin").write_bytes(os.urandom(64 * MIB))
    conn = blk.epsv()
    blk.start("RETR big.bin")
    assert conn.recv(65536)
    blk.ctl.send("ABOR")
    codes = [blk.ctl.reply()[0]]
    if codes[0] == 426:
        codes.append(blk.ctl.reply()[0])
    assert codes == [426, 226], codes
    assert closed_by_server(conn)
    assert blk.ctl.cmd("RETR big.bin")[0] == 425
    (workdir / "h.txt").write_bytes(b"hello")
    blk.epsv()
    assert blk.retr("h.txt") == (b"hello", 150, KEPT)


def test_abor_while_idle_closes_the_kept_connection(blk, workdir):
    (workdir / "h.txt").write_bytes(b"hello")
    conn = blk.epsv()
    blk.retr("h.txt")
    assert blk.ctl.cmd("ABOR")[0] == 226
    assert closed_by_server(conn)
    assert blk.ctl.cmd("ABOR")[0] == 225


def test_a_failure_before_any_data_keeps_the_connection(blk, workdir):
    (workdir / "h.txt").write_bytes(b"hello")
    conn = blk.epsv()
    blk.retr("h.txt")
    assert blk.ctl.cmd("RETR nosuch.bin")[0] == 550
    assert blk.ctl.cmd("LIST nosuch")[0] == 550
    assert blk.ctl.cmd("STOR nodir/x.bin")[0] == 550
    assert nothing_waiting(conn)
    assert blk.retr("h.txt") == (b"hello", 125, KEPT)


def test_appe_and_stou_on_the_kept_connection(blk, workdir):
    (workdir / "log.txt").write_bytes(b"first\n")
    blk.epsv()
    code, _, final = blk.stor("log.txt", b"second\n", verb="APPE")
    assert (code, final) == (150, KEPT)
    code, _, final = blk.stor("log.txt", b"third\n", verb="APPE")
    assert (code, final) == (125, KEPT)
    assert (workdir / "log.txt").read_bytes() == b"first\nsecond\nthird\n"
    code, first, final = blk.stor("", b"unique", verb="STOU")
    assert code == 125 and first.startswith("125 FILE: "), first
    name = first.removeprefix("125 FILE: ")
    assert final.startswith("250 ") and name in final and "kept open" in final, final
    assert (workdir / name).read_bytes() == b"unique"
    assert blk.retr(name) == (b"unique", 125, KEPT)


def test_rein_and_user_return_to_stream_mode(blk, server, workdir):
    (workdir / "h.txt").write_bytes(b"hello")
    old = blk.epsv()
    blk.retr("h.txt")
    assert blk.ctl.cmd("REIN")[0] == 220
    assert closed_by_server(old)
    blk.ctl.login("alice")
    blk.ok(f"CWD /{workdir.name}", 250)
    conn = blk.epsv()
    assert blk.ctl.cmd("RETR h.txt")[0] == 150
    assert recv_exact(conn, 5) == b"hello", "REIN left block mode on"
    assert closed_by_server(conn)
    assert blk.ctl.reply()[0] == 226
    blk.ok("MODE B", 200)
    old = blk.epsv()
    blk.retr("h.txt")
    assert blk.ctl.cmd("USER alice")[0] == 331
    assert closed_by_server(old)
    assert blk.ctl.cmd(f"PASS {PASSWORDS['alice']}")[0] in (230, 503)


# ------------------------------------------------------------------ PROT P


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    from ringftptest import start_server

    srv = start_server(tmp_path_factory.mktemp("modeb-tls"))
    yield srv
    srv.stop()


def test_prot_p_keeps_one_tls_session_across_files(tls_server):
    ctx = tls_client_context()
    raw = ftps_raw(tls_server, ctx)
    files = {f"tls{n}.bin": os.urandom(n) for n in (0, 1, 70_000, 2 * MIB)}
    code, text = raw.cmd("EPSV")
    port = int(re.search(r"\(\|\|\|(\d+)\|\)", text).group(1))
    plain = socket.create_connection((tls_server.host, port), timeout=30)
    # No Nagle: the close_notify below must not wait for an ACK.
    plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = None
    try:
        for i, (name, body) in enumerate(files.items()):
            code, _ = raw.cmd(f"STOR {name}")
            assert code == (150 if i == 0 else 125), (name, code)
            if data is None:
                # One handshake, resuming the control connection's session.
                data = ctx.wrap_socket(
                    plain, server_hostname=tls_server.host, session=raw.sock.session
                )
            data.sendall(frame(body))
            assert raw.reply()[1] == KEPT, name
            assert sha((tls_server.root / name).read_bytes()) == sha(body)
        for name, body in files.items():
            code, _ = raw.cmd(f"RETR {name}")
            assert code == 125
            got, _ = read_blocks(data)
            assert sha(got) == sha(body), name
            assert raw.reply()[1] == KEPT
        # A client that ends TLS after its upload (close_notify) is done
        # with the connection: committed, 250, and the connection is closed
        # (at once when the close_notify came with the EOF block, else by
        # the check before the next use: 425).
        code, _ = raw.cmd("STOR tls-last.bin")
        assert code == 125
        data.sendall(frame(b"last"))
        data.setblocking(False)
        with contextlib.suppress(ssl.SSLWantReadError):
            data.unwrap()
        code, text = raw.reply()
        assert code == 250, text
        assert (tls_server.root / "tls-last.bin").read_bytes() == b"last"
        assert raw.cmd("RETR tls1.bin")[0] == 425
        data.setblocking(True)
        assert closed_by_server(data)
        data = tls_data(raw, tls_server, ctx)
        assert raw.cmd("RETR tls1.bin")[0] == 150
        assert read_blocks(data.wrapped())[0] == files["tls1.bin"]
        assert raw.reply()[1] == KEPT
        data = data.wrapped()
        # CCC (refused) closes the kept connection.
        assert raw.cmd("CCC")[0] == 502
        assert closed_by_server(data)
        assert raw.cmd("RETR tls1.bin") == (425, "425 Use PORT, PASV, EPRT or EPSV first.")
        # So does PROT.
        data = tls_data(raw, tls_server, ctx)
        assert raw.cmd("RETR tls1.bin")[0] == 150
        assert read_blocks(data.wrapped())[0] == files["tls1.bin"]
        assert raw.reply()[1] == KEPT
        assert raw.cmd("PROT P")[0] == 200
        assert closed_by_server(data.wrapped())
        assert raw.cmd("RETR tls1.bin")[0] == 425
    finally:
        with contextlib.suppress(OSError):
            (data or plain).close()
        with contextlib.suppress(OSError, EOFError):
            raw.cmd("QUIT")
        raw.close()


class tls_data:
    """A passive data connection (EPSV) wrapped in TLS on first use, after
    the transfer's 150, resuming the control connection's session unless
    `resume` is false."""

    def __init__(self, raw, srv, ctx, resume: bool = True):
        text = raw.cmd("EPSV")[1]
        port = int(re.search(r"\(\|\|\|(\d+)\|\)", text).group(1))
        self.plain = socket.create_connection((srv.host, port), timeout=30)
        self.raw, self.srv, self.ctx, self.resume = raw, srv, ctx, resume
        self.tls = None

    def wrapped(self):
        if self.tls is None:
            session = self.raw.sock.session if self.resume else None
            self.tls = self.ctx.wrap_socket(
                self.plain, server_hostname=self.srv.host, session=session
            )
        return self.tls

    def close(self):
        (self.tls or self.plain).close()


def ftps_raw(srv, ctx) -> Raw:
    """A control connection after AUTH TLS, login, PBSZ 0, PROT P, TYPE I, MODE B."""
    ctl = socket.create_connection((srv.host, srv.port), timeout=30)
    raw = Raw.__new__(Raw)
    raw.sock, raw.buf = ctl, b""
    assert raw.reply()[0] == 220
    assert raw.cmd("AUTH TLS")[0] == 234
    raw.sock = ctx.wrap_socket(ctl, server_hostname=srv.host)
    raw.login("alice")
    for line, code in (("PBSZ 0", 200), ("PROT P", 200), ("TYPE I", 200), ("MODE B", 200)):
        assert raw.cmd(line)[0] == code, line
    return raw


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    from ringftptest import start_server

    srv = start_server(tmp_path_factory.mktemp("modeb-strict"), config={"tls": "required"})
    yield srv
    srv.stop()


@pytest.mark.parametrize("tls12", [False, True], ids=["tls13", "tls12"])
def test_tls_required_checks_the_one_handshake(strict_server, tls12):
    ctx = tls_client_context()
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    (strict_server.root / "strict.bin").write_bytes(b"s" * 5000)
    raw = ftps_raw(strict_server, ctx)
    data = None
    try:
        data = tls_data(raw, strict_server, ctx)
        for i in range(3):
            code, _ = raw.cmd("RETR strict.bin")
            assert code == (150 if i == 0 else 125)
            assert read_blocks(data.wrapped())[0] == b"s" * 5000
            assert raw.reply()[1] == KEPT
        data.close()
        # A data connection that does not resume the session: refused, and
        # not kept; the session goes on.
        data = tls_data(raw, strict_server, ctx, resume=False)
        assert raw.cmd("RETR strict.bin")[0] == 150
        with contextlib.suppress(OSError, ssl.SSLError):
            data.wrapped()
        code, text = raw.reply()
        assert code == 522, text
        assert raw.cmd("RETR strict.bin")[0] == 425
        data.close()
        data = tls_data(raw, strict_server, ctx)
        assert raw.cmd("RETR strict.bin")[0] == 150
        assert read_blocks(data.wrapped())[0] == b"s" * 5000
        assert raw.reply()[1] == KEPT
    finally:
        with contextlib.suppress(OSError):
            if data is not None:
                data.close()
        with contextlib.suppress(OSError, EOFError):
            raw.cmd("QUIT")
        raw.close()


# ------------------------------------------------------------------ S3


@needs_moto
def test_s3_get_and_put_in_block_mode(s3_server):
    blk = Block(s3_server)
    try:
        blk.epsv()
        files = {f"s3-{n}.bin": os.urandom(n) for n in (0, 1, 300_000, 6 * MIB)}
        for i, (name, body) in enumerate(files.items()):
            code, _, final = blk.stor(name, body)
            assert code == (150 if i == 0 else 125) and final == KEPT, (name, final)
            assert sha(s3_server.s3.get(name)) == sha(body), name
        for name, body in files.items():
            got, code, final = blk.retr(name)
            assert (code, final) == (125, KEPT)
            assert sha(got) == sha(body), name
        # A cut-off upload leaves the object as it was, and no parts behind.
        blk.start("STOR s3-300000.bin")
        blk.data.sendall(frame(os.urandom(200_000), eof=False))
        blk.data.close()
        blk.data = None
        assert blk.ctl.reply() == (426, CUT)
        assert sha(s3_server.s3.get("s3-300000.bin")) == sha(files["s3-300000.bin"])
        assert s3_server.s3.uploads() == []
    finally:
        blk.close()
