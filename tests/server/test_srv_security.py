"""Read-only users, confinement to the root (and to a home), symlinks that
point out, and the data channel's bounce/theft protections (RFC 2577)."""

from __future__ import annotations

import ftplib
import io
import os
import re
import socket
import threading

import pytest
from ringftptest import Raw, can_bind_127_0_0_2


def retr(ftp: ftplib.FTP, name: str) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write)
    return buf.getvalue()


def listing(ftp: ftplib.FTP, arg: str = "") -> list[str]:
    lines: list[str] = []
    ftp.retrlines(f"LIST {arg}".strip(), lines.append)
    return lines


# ------------------------------------------------------------------ read-only


@pytest.fixture
def bob(server, workdir):
    (workdir / "existing.txt").write_bytes(b"existing")
    (workdir / "adir").mkdir()
    ftp = server.ftp("bob")
    ftp.cwd("/" + workdir.name)
    yield ftp
    ftp.close()


def snapshot(path):
    return sorted(
        (str(p.relative_to(path)), p.stat().st_mode, p.stat().st_mtime_ns)
        for p in path.rglob("*")
    )


@pytest.mark.parametrize(
    "line",
    [
        "MKD newdir",
        "XMKD newdir",
        "RMD adir",
        "XRMD adir",
        "DELE existing.txt",
        "RNFR existing.txt",
        "SITE CHMOD 777 existing.txt",
        "SITE SYMLINK existing.txt link",
        "MFMT 20000101000000 existing.txt",
    ],
)
def test_read_only_user_cannot_write(bob, workdir, line):
    before = snapshot(workdir)
    with pytest.raises(ftplib.error_perm, match="^550"):
        bob.sendcmd(line)
    assert snapshot(workdir) == before


def test_read_only_rnto(bob, workdir):
    with pytest.raises(ftplib.error_perm, match="^5"):
        bob.sendcmd("RNFR existing.txt")
    with pytest.raises(ftplib.error_perm, match="^5"):
        bob.sendcmd("RNTO renamed.txt")
    assert (workdir / "existing.txt").exists()
    assert not (workdir / "renamed.txt").exists()


@pytest.mark.parametrize(
    "verb", ["STOR existing.txt", "STOR new.txt", "APPE existing.txt", "STOU"]
)
def test_read_only_user_cannot_upload(bob, workdir, verb):
    before = snapshot(workdir)
    with pytest.raises(ftplib.error_perm, match="^550"):
        bob.storbinary(verb, io.BytesIO(b"evil"))
    assert snapshot(workdir) == before
    assert (workdir / "existing.txt").read_bytes() == b"existing"


def test_read_only_user_can_read(bob):
    assert retr(bob, "existing.txt") == b"existing"
    assert "existing.txt" in bob.nlst()
    assert bob.size("existing.txt") == 8


# ------------------------------------------------------------------ traversal

SYSTEM_NAMES = {"etc", "usr", "bin", "proc", "root", "var"}


def test_cwd_above_root_is_clamped(server):
    ftp = server.ftp("alice")
    try:
        ftp.sendcmd("CWD ../../..")
    except ftplib.error_perm as e:
        assert str(e).startswith("550")
    assert ftp.pwd() == "/"
    names = set(ftp.nlst())
    assert "hello.txt" in names
    assert not (names & SYSTEM_NAMES), names
    ftp.cwd("/dir")
    try:
        ftp.sendcmd("CWD ../../../../etc")
    except ftplib.error_perm:
        pass
    assert ftp.pwd() in ("/dir", "/"), ftp.pwd()
    ftp.quit()


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "../../../../../../../../etc/passwd",
        "/../../etc/passwd",
        "dir/../../../etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "/proc/self/environ",
    ],
)
def test_retr_outside_root_refused(server, path):
    ftp = server.ftp("alice")
    with pytest.raises(ftplib.error_perm, match="^550"):
        data = retr(ftp, path)
        assert b"root:" not in data
    ftp.quit()


@pytest.mark.parametrize("path", ["../outside-written.txt", "/../outside-written.txt"])
def test_stor_outside_root_stays_inside(server, path):
    ftp = server.ftp("alice")
    outside = server.root.parent / "outside-written.txt"
    try:
        ftp.storbinary(f"STOR {path}", io.BytesIO(b"escape"))
    except ftplib.error_perm:
        pass
    assert not outside.exists(), "wrote outside the root"
    # If accepted it was clamped to the root.
    (server.root / "outside-written.txt").unlink(missing_ok=True)
    ftp.quit()


@pytest.fixture
def escapes(server, workdir):
    """Symlinks inside the root that point out of it."""
    outside = server.root.parent / "outside-dir"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_bytes(b"outside secret")
    os.symlink("/etc", workdir / "etclink")
    os.symlink(str(outside), workdir / "abslink")
    os.symlink(os.path.relpath(outside, workdir), workdir / "rellink")
    os.symlink(os.path.relpath(outside / "secret.txt", workdir), workdir / "filelink")
    return outside


@pytest.mark.parametrize("link", ["etclink", "abslink", "rellink"])
def test_symlink_out_of_root_refused(server, workdir, escapes, link):
    ftp = server.ftp("alice")
    ftp.cwd("/" + workdir.name)
    inner = "passwd" if link == "etclink" else "secret.txt"
    with pytest.raises(ftplib.error_perm, match="^550"):
        retr(ftp, f"{link}/{inner}")
    with pytest.raises(ftplib.error_perm, match="^550"):
        listing(ftp, link)
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.cwd(link)
    assert ftp.pwd() == "/" + workdir.name
    with pytest.raises(ftplib.error_perm, match="^550"):
        list(ftp.mlsd(link))
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd(f"SIZE {link}/{inner}")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.storbinary(f"STOR {link}/planted.txt", io.BytesIO(b"x"))
    assert not (escapes / "planted.txt").exists()
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd(f"MKD {link}/newdir")
    assert not (escapes / "newdir").exists()
    # The link itself may be listed, its target's contents never.
    names = ftp.nlst()
    assert "passwd" not in names and "secret.txt" not in names
    ftp.quit()


def test_file_symlink_out_of_root_refused(server, workdir, escapes):
    ftp = server.ftp("alice")
    ftp.cwd("/" + workdir.name)
    with pytest.raises(ftplib.error_perm, match="^550"):
        retr(ftp, "filelink")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.storbinary("STOR filelink", io.BytesIO(b"overwrite"))
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.storbinary("APPE filelink", io.BytesIO(b"append"))
    assert (escapes / "secret.txt").read_bytes() == b"outside secret"
    ftp.quit()


def test_site_symlink_out_cannot_be_followed(server, workdir):
    ftp = server.ftp("alice")
    ftp.cwd("/" + workdir.name)
    try:
        ftp.sendcmd("SITE SYMLINK /etc/passwd pw")
    except ftplib.error_perm:
        pass  # refusing to create it is fine too
    with pytest.raises(ftplib.error_perm, match="^550"):
        data = retr(ftp, "pw")
        assert b"root:" not in data
    ftp.quit()


def test_rename_out_of_root_refused(server, workdir):
    (workdir / "mv.txt").write_bytes(b"mv")
    ftp = server.ftp("alice")
    ftp.cwd("/" + workdir.name)
    try:
        ftp.sendcmd("RNFR mv.txt")
        ftp.sendcmd("RNTO ../../../../moved-out.txt")
    except ftplib.error_perm:
        pass
    assert not (server.root.parent / "moved-out.txt").exists()
    for p in (server.root / "moved-out.txt",):
        if p.exists():
            p.unlink()
    ftp.quit()


# ------------------------------------------------------------------ home confinement


def test_home_confined_user(server):
    ftp = server.ftp("carol")
    assert ftp.pwd() == "/"
    assert ftp.nlst() == ["mine.txt"]
    assert retr(ftp, "mine.txt") == b"carol's home file\n"
    for path in ["../shared/secret.txt", "/shared/secret.txt", "/../shared/secret.txt"]:
        with pytest.raises(ftplib.error_perm, match="^550"):
            retr(ftp, path)
    for path in ["../shared", "/shared", "../../shared"]:
        try:
            ftp.cwd(path)
        except ftplib.error_perm:
            pass
        assert "secret.txt" not in ftp.nlst()
        ftp.cwd("/")
    with pytest.raises(ftplib.error_perm, match="^550"):
        retr(ftp, "../hello.txt")
    try:
        ftp.storbinary("STOR ../shared/planted.txt", io.BytesIO(b"x"))
    except ftplib.error_perm:
        pass
    assert not (server.root / "shared" / "planted.txt").exists()
    # Writes land in the home.
    ftp.storbinary("STOR carol-upload.txt", io.BytesIO(b"c"))
    assert (server.root / "alice" / "carol-upload.txt").read_bytes() == b"c"
    ftp.delete("carol-upload.txt")
    ftp.quit()


# ------------------------------------------------------------------ data channel


def peer_port_args(port: int) -> str:
    return f"{port >> 8},{port & 0xFF}"


@pytest.mark.parametrize(
    "line",
    [
        "PORT 10,1,2,3,200,10",
        "PORT 127,0,0,2,200,10",
        "PORT 8,8,8,8,0,80",
        "EPRT |1|10.1.2.3|51210|",
        "EPRT |1|127.0.0.2|51210|",
        "EPRT |2|::1|51210|",
    ],
)
def test_port_to_foreign_address_refused(ftp, line):
    with pytest.raises(ftplib.error_perm, match="^5"):
        ftp.sendcmd(line)
    # No transfer can use it: the server has no data address.
    ftp.putcmd("RETR /hello.txt")
    resp = ftp.getmultiline()
    assert resp.startswith(("425", "503")), resp
    assert ftp.voidcmd("NOOP").startswith("200")


@pytest.mark.parametrize(
    "line", ["PORT 127,0,0,1,0,21", "PORT 127,0,0,1,3,255", "EPRT |1|127.0.0.1|22|"]
)
def test_port_below_1024_refused(ftp, line):
    with pytest.raises(ftplib.error_perm, match="^5"):
        ftp.sendcmd(line)


@pytest.mark.parametrize(
    "line",
    [
        "PORT 127,0,0,1,300,1",
        "PORT 127,0,0,1",
        "PORT a,b,c,d,e,f",
        "EPRT |9|127.0.0.1|5000|",
        "EPRT garbage",
        "PORT",
    ],
)
def test_port_malformed_is_501(ftp, line):
    with pytest.raises(ftplib.error_perm, match="^50[1-4]|^522"):
        ftp.sendcmd(line)


def test_no_data_connection_setup_is_425(ftp, workdir):
    (workdir / "f").write_bytes(b"x")
    ftp.putcmd("RETR f")
    resp = ftp.getmultiline()
    assert resp.startswith(("425", "503")), resp


@pytest.mark.skipif(not can_bind_127_0_0_2(), reason="cannot bind 127.0.0.2")
def test_pasv_refuses_other_ip_and_waits_for_peer(server, workdir):
    (workdir / "p.txt").write_bytes(b"for the real client")
    r = Raw(server.host, server.port)
    r.login()
    r.cmd(f"CWD /{workdir.name}")
    code, text = r.cmd("PASV")
    assert code == 227, text
    nums = [
        int(x) for x in re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", text).groups()
    ]
    port = nums[4] * 256 + nums[5]
    thief = socket.socket()
    thief.settimeout(10)
    thief.bind(("127.0.0.2", 0))
    thief.connect(("127.0.0.1", port))
    r.send("RETR p.txt")
    stolen = b""
    # The server must drop the thief and keep waiting for the real client.
    try:
        while chunk := thief.recv(65536):
            stolen += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail("server kept the thief's connection open for 10 s")
    thief.close()
    assert stolen == b""
    real = socket.create_connection(("127.0.0.1", port), timeout=10)
    code, text = r.reply()
    assert code in (125, 150), text
    data = b""
    while chunk := real.recv(65536):
        data += chunk
    real.close()
    assert r.reply()[0] == 226
    assert data == b"for the real client"
    r.close()


@pytest.mark.skipif(not can_bind_127_0_0_2(), reason="cannot bind 127.0.0.2")
def test_epsv_refuses_other_ip(server, workdir):
    (workdir / "e.txt").write_bytes(b"epsv data")
    r = Raw(server.host, server.port)
    r.login()
    r.cmd(f"CWD /{workdir.name}")
    code, text = r.cmd("EPSV")
    assert code == 229, text
    port = int(re.search(r"\|\|\|(\d+)\|", text).group(1))
    result: dict = {}

    def steal():
        s = socket.socket()
        s.settimeout(10)
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", port))
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except (ConnectionResetError, TimeoutError) as e:
            result["err"] = repr(e)
        result["stolen"] = got
        s.close()

    t = threading.Thread(target=steal)
    t.start()
    t.join(0.5)
    r.send("RETR e.txt")
    t.join(12)
    assert result.get("stolen") == b"", result
    assert "TimeoutError" not in result.get("err", ""), result
    real = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert r.reply()[0] in (125, 150)
    data = b""
    while chunk := real.recv(65536):
        data += chunk
    real.close()
    assert r.reply()[0] == 226
    assert data == b"epsv data"
    r.close()


@pytest.mark.skipif(not can_bind_127_0_0_2(), reason="cannot bind 127.0.0.2")
def test_control_from_127_0_0_2_gets_its_own_address(server):
    """A session from 127.0.0.2 may PORT to 127.0.0.2 but not to 127.0.0.1."""
    r = Raw(server.host, server.port, src="127.0.0.2")
    r.login()
    assert r.cmd("TYPE I")[0] == 200
    code, text = r.cmd("PORT 127,0,0,1,200,10")
    assert 500 <= code < 600, text
    lsock = socket.create_server(("127.0.0.2", 0))
    lsock.settimeout(10)
    p = lsock.getsockname()[1]
    code, text = r.cmd(f"PORT 127,0,0,2,{peer_port_args(p)}")
    assert code == 200, text
    r.send("RETR /hello.txt")
    conn, _ = lsock.accept()
    assert r.reply()[0] in (125, 150)
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    conn.close()
    lsock.close()
    assert r.reply()[0] == 226
    assert data == b"hello world\n"
    r.close()


def test_metadata_changes_through_escaping_links_refused(server, workdir, escapes):
    secret = escapes / "secret.txt"
    os.chmod(secret, 0o640)
    before = secret.stat()
    ftp = server.ftp("alice")
    ftp.cwd("/" + workdir.name)
    for line in (
        "SITE CHMOD 777 filelink",
        "SITE CHMOD 777 rellink/secret.txt",
        "SITE CHMOD 777 abslink",
        "MFMT 20000101000000 filelink",
        "MFMT 20000101000000 rellink/secret.txt",
        "DELE rellink/secret.txt",
        "RNFR rellink/secret.txt",
    ):
        with pytest.raises(ftplib.error_perm, match="^550"):
            ftp.sendcmd(line)
    after = secret.stat()
    assert (after.st_mode, after.st_mtime_ns) == (before.st_mode, before.st_mtime_ns)
    assert secret.exists()
    ftp.quit()


def test_rename_into_escaping_link_refused(server, workdir, escapes):
    (workdir / "mine.txt").write_bytes(b"mine")
    ftp = server.ftp("alice")
    ftp.cwd("/" + workdir.name)
    try:
        ftp.sendcmd("RNFR mine.txt")
        ftp.sendcmd("RNTO rellink/moved.txt")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e
    assert not (escapes / "moved.txt").exists()
    assert (workdir / "mine.txt").exists()
    ftp.quit()
