"""Transfers with ftplib, curl and lftp: byte-identical files, TYPE A
conversion, REST resume, the upload rule (an interrupted replace keeps the
old file, an interrupted new upload keeps its partial data), ABOR."""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from ringftptest import PASSWORDS, rst_close, wait_for

MIB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MIB):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """20 MiB of random bytes in a local file."""
    path = tmp_path_factory.mktemp("big") / "big20.bin"
    path.write_bytes(os.urandom(20 * MIB))
    return path


def retr(ftp: ftplib.FTP, name: str, rest: int | None = None) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write, rest=rest)
    return buf.getvalue()


def curl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["curl", "-sS", "--max-time", str(int(timeout)), *args],
        capture_output=True,
        timeout=timeout + 10,
        check=False,
    )
    assert proc.returncode == 0, (
        f"curl {args} failed ({proc.returncode}): {proc.stderr!r}"
    )
    return proc


def lftp(
    server, script: str, cwd: Path, user: str = "alice", timeout: float = 90
) -> str:
    prelude = (
        "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 15; "
        "set net:reconnect-interval-base 1; set cmd:fail-exit yes; set xfer:clobber yes; "
        f"open -u {user},{PASSWORDS[user]} -p {server.port} 127.0.0.1; "
    )
    proc = subprocess.run(
        ["lftp", "-c", prelude + script],
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, (
        f"lftp {script!r} failed ({proc.returncode}):\n{out}\n{proc.stderr.decode(errors='replace')}"
    )
    return out


# ------------------------------------------------------------------ ftplib


def test_ftplib_20mib_up_and_down(ftp, workdir, big):
    data = big.read_bytes()
    with open(big, "rb") as f:
        resp = ftp.storbinary("STOR big.bin", f, blocksize=256 * 1024)
    assert resp.startswith("226"), resp
    assert file_sha(workdir / "big.bin") == sha(data)
    assert ftp.size("big.bin") == len(data)
    assert sha(retr(ftp, "big.bin")) == sha(data)


def test_active_mode_transfers(ftp, workdir):
    ftp.set_pasv(False)
    payload = os.urandom(300_000)
    ftp.storbinary("STOR active.bin", io.BytesIO(payload))
    assert (workdir / "active.bin").read_bytes() == payload
    assert retr(ftp, "active.bin") == payload
    assert ftp.nlst() == ["active.bin"]


def test_eprt_to_peer_works(ftp, workdir):
    (workdir / "e.txt").write_bytes(b"via eprt")
    ftp.af = socket.AF_INET
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        port = lsock.getsockname()[1]
        assert ftp.sendcmd(f"EPRT |1|127.0.0.1|{port}|").startswith("200")
        ftp.putcmd("RETR e.txt")
        resp = ftp.getresp()
        assert resp.startswith(("125", "150")), resp
        lsock.settimeout(10)
        conn, _ = lsock.accept()
        with conn:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
    assert ftp.voidresp().startswith("226")
    assert data == b"via eprt"


# ------------------------------------------------------------------ TYPE A


def test_type_a_retr_converts_lf_to_crlf(ftp, workdir):
    (workdir / "text.txt").write_bytes(b"one\ntwo\r\nthree\n\nend")
    ftp.voidcmd("TYPE A")
    conn = ftp.transfercmd("RETR text.txt")
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    conn.close()
    assert ftp.voidresp().startswith("226")
    assert data == b"one\r\ntwo\r\nthree\r\n\r\nend"


def test_type_a_stor_converts_crlf_to_lf(ftp, workdir):
    ftp.voidcmd("TYPE A")
    conn = ftp.transfercmd("STOR up.txt")
    conn.sendall(b"alpha\r\nbeta\r\n\r\ngamma\r")
    conn.close()
    assert ftp.voidresp().startswith("226")
    on_disk = (workdir / "up.txt").read_bytes()
    assert on_disk in (b"alpha\nbeta\n\ngamma\r", b"alpha\nbeta\n\ngamma"), on_disk
    # Binary again: bytes untouched.
    ftp.voidcmd("TYPE I")
    assert retr(ftp, "up.txt") == on_disk


def test_type_a_large_crlf_split_across_reads(ftp, workdir):
    text = b"".join(b"line %d\n" % i for i in range(200_000))
    (workdir / "many.txt").write_bytes(text)
    ftp.voidcmd("TYPE A")
    conn = ftp.transfercmd("RETR many.txt")
    got = bytearray()
    while chunk := conn.recv(7919):
        got += chunk
    conn.close()
    assert ftp.voidresp().startswith("226")
    assert bytes(got) == text.replace(b"\n", b"\r\n")
    conn = ftp.transfercmd("STOR back.txt")
    wire = text.replace(b"\n", b"\r\n")
    for i in range(0, len(wire), 4093):  # odd chunks split some CRLF pairs
        conn.sendall(wire[i : i + 4093])
    conn.close()
    assert ftp.voidresp().startswith("226")
    assert (workdir / "back.txt").read_bytes() == text


# ------------------------------------------------------------------ REST


def test_rest_retr_gives_tail(ftp, workdir):
    data = os.urandom(1_000_000)
    (workdir / "r.bin").write_bytes(data)
    for n in (0, 1, 4096, 999_999, 1_000_000):
        assert retr(ftp, "r.bin", rest=n) == data[n:], n


def test_rest_beyond_end_refused(ftp, workdir):
    (workdir / "short.bin").write_bytes(b"12345")
    with pytest.raises(ftplib.error_perm, match="^5"):
        retr(ftp, "short.bin", rest=100)
    assert ftp.voidcmd("NOOP").startswith("200")


def test_rest_stor_resumes_upload(ftp, workdir):
    data = os.urandom(2 * MIB + 17)
    half = 777_777
    (workdir / "resume.bin").write_bytes(data[:half])
    resp = ftp.storbinary("STOR resume.bin", io.BytesIO(data[half:]), rest=half)
    assert resp.startswith("226"), resp
    assert file_sha(workdir / "resume.bin") == sha(data)


def test_rest_stor_truncates_stale_tail(ftp, workdir):
    (workdir / "stale.bin").write_bytes(b"AAAAAAAAAAzzzzzzzzzz")
    ftp.storbinary("STOR stale.bin", io.BytesIO(b"BB"), rest=10)
    assert (workdir / "stale.bin").read_bytes() == b"AAAAAAAAAABB"


def test_appe_resumes_upload(ftp, workdir):
    data = os.urandom(MIB)
    (workdir / "appe.bin").write_bytes(data[:1000])
    ftp.storbinary("APPE appe.bin", io.BytesIO(data[1000:]))
    assert (workdir / "appe.bin").read_bytes() == data


def test_rest_applies_to_next_transfer_only(ftp, workdir):
    (workdir / "once.bin").write_bytes(b"0123456789")
    assert retr(ftp, "once.bin", rest=5) == b"56789"
    assert retr(ftp, "once.bin") == b"0123456789"


# Up to this much of a clear binary transfer goes through a buffer instead of
# a pipe (server/src/transfer.rs SMALL_FILE); the sizes around it, both ways.
SMALL = 64 * 1024


@pytest.mark.parametrize(
    "size", [0, 1, 4096, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL + 5], ids=lambda s: f"{s}B"
)
def test_small_file_sizes_both_ways(ftp, workdir, size):
    data = os.urandom(size)
    name = f"s{size}.bin"
    assert ftp.storbinary(f"STOR {name}", io.BytesIO(data)).startswith("226")
    assert (workdir / name).read_bytes() == data
    # Again over the complete file: the replace path (temporary file, rename).
    data = os.urandom(size)
    assert ftp.storbinary(f"STOR {name}", io.BytesIO(data)).startswith("226")
    assert (workdir / name).read_bytes() == data
    assert not [p.name for p in workdir.iterdir() if p.name.endswith(".part")]
    assert retr(ftp, name) == data
    for n in {1, size // 2, size}:
        if n <= size:
            assert retr(ftp, name, rest=n) == data[n:], n
    # Sent in small pieces, the upload still arrives whole.
    assert ftp.storbinary("STOR pieces.bin", io.BytesIO(data), blocksize=1000).startswith("226")
    assert (workdir / "pieces.bin").read_bytes() == data


def test_small_file_not_in_page_cache(ftp, workdir):
    # The buffered start of a RETR reads from the page cache only
    # (RWF_NOWAIT); a file whose pages are not there goes the splice way.
    data = os.urandom(40_000)
    path = workdir / "cold.bin"
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    for _ in range(3):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        assert retr(ftp, "cold.bin") == data
        assert retr(ftp, "cold.bin", rest=12_345) == data[12_345:]


def test_passive_ports_from_the_ephemeral_range(ftp, workdir):
    # Without --passive-ports the server picks the port itself, at random in
    # net.ipv4.ip_local_port_range (server/src/data.rs bind_anywhere).
    lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = []
    for _ in range(20):
        resp = ftp.sendcmd("EPSV")
        assert resp.startswith("229"), resp
        ports.append(int(resp.split("|||")[1].split("|")[0]))
    assert all(lo <= p <= hi for p in ports), (lo, hi, ports)
    assert len(set(ports)) > 10, ports
    # Each new EPSV replaced the last listener; transfers still work.
    (workdir / "p.bin").write_bytes(b"ports")
    assert retr(ftp, "p.bin") == b"ports"


# ------------------------------------------------------------------ curl


def test_curl_upload_download_20mib(server, workdir, big, tmp_path):
    url = server.url("alice", f"{workdir.name}/curl big.bin")
    curl("-T", str(big), url)
    assert file_sha(workdir / "curl big.bin") == file_sha(big)
    out = tmp_path / "out.bin"
    curl("-o", str(out), url)
    assert file_sha(out) == file_sha(big)


def test_curl_resume_download(server, workdir, tmp_path):
    data = os.urandom(3 * MIB)
    (workdir / "dl.bin").write_bytes(data)
    out = tmp_path / "dl.bin"
    out.write_bytes(data[:1_234_567])
    curl("-C", "-", "-o", str(out), server.url("alice", f"{workdir.name}/dl.bin"))
    assert out.read_bytes() == data


def test_curl_resume_upload(server, workdir, tmp_path):
    data = os.urandom(3 * MIB)
    local = tmp_path / "ul.bin"
    local.write_bytes(data)
    (workdir / "ul.bin").write_bytes(data[:2_000_001])
    curl("-C", "-", "-T", str(local), server.url("alice", f"{workdir.name}/ul.bin"))
    assert file_sha(workdir / "ul.bin") == sha(data)


def test_curl_listings(server, workdir):
    (workdir / "a file.txt").write_bytes(b"abc")
    (workdir / "ünï.txt").write_bytes(b"d")
    (workdir / "sub").mkdir()
    url = server.url("alice", workdir.name) + "/"
    names = curl("--list-only", url).stdout.decode().splitlines()
    assert sorted(names) == sorted(["a file.txt", "ünï.txt", "sub"]), names
    full = curl(url).stdout.decode().splitlines()
    assert len(full) == 3, full
    by_name = {ln.split(maxsplit=8)[-1]: ln for ln in full}
    assert set(by_name) == {"a file.txt", "ünï.txt", "sub"}, full
    assert by_name["sub"].startswith("d")
    assert by_name["a file.txt"].startswith("-")
    assert by_name["a file.txt"].split()[4] == "3"


def test_curl_quote_commands(server, workdir):
    (workdir / "q.txt").write_bytes(b"q")
    url = server.url("alice", workdir.name) + "/"
    curl("-Q", f"RNFR /{workdir.name}/q.txt", "-Q", f"RNTO /{workdir.name}/r.txt", url)
    assert (workdir / "r.txt").read_bytes() == b"q"


# ------------------------------------------------------------------ lftp


def test_lftp_put_get(server, workdir, big, tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    shutil.copy(big, local / "lftp big.bin")
    lftp(server, f'cd "/{workdir.name}"; put "lftp big.bin"', cwd=local)
    assert file_sha(workdir / "lftp big.bin") == file_sha(big)
    (local / "lftp big.bin").unlink()
    lftp(server, f'cd "/{workdir.name}"; get "lftp big.bin"', cwd=local)
    assert file_sha(local / "lftp big.bin") == file_sha(big)


def test_lftp_ls_and_cls(server, workdir, tmp_path):
    (workdir / "x y.txt").write_bytes(b"12")
    (workdir / "Grüße.txt").write_bytes(b"1")
    (workdir / "d").mkdir()
    out = lftp(server, f'cd "/{workdir.name}"; ls', cwd=tmp_path)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert {ln.split(maxsplit=8)[-1] for ln in lines} == {
        "x y.txt",
        "Grüße.txt",
        "d",
    }, out
    out = lftp(server, f'cd "/{workdir.name}"; cls -1', cwd=tmp_path)
    assert {ln.rstrip("/") for ln in out.split()} >= {"Grüße.txt", "d"}, out
    assert "x y.txt" in out
    # cls needs the listing to be parsed: -l shows sizes.
    out = lftp(server, f'cd "/{workdir.name}"; cls -l "x y.txt"', cwd=tmp_path)
    assert " 2 " in out, out


def test_list_options_tolerated(ftp, workdir):
    (workdir / "f.txt").write_bytes(b"x")
    (workdir / ".hidden").write_bytes(b"y")
    for cmd in ("LIST -a", "LIST -la", "LIST -l", "NLST -a"):
        lines: list[str] = []
        ftp.retrlines(cmd, lines.append)
        assert any(ln.endswith("f.txt") for ln in lines), (cmd, lines)
    lines = []
    ftp.retrlines("LIST -la", lines.append)
    assert any(ln.endswith(".hidden") for ln in lines), lines


def make_tree(base: Path) -> dict[str, bytes]:
    files = {
        "top.txt": b"top\n",
        "a dir/inner file.bin": os.urandom(100_000),
        "a dir/deeper/ü.txt": "ü\n".encode(),
        "empty dir/.keep": b"",
        "b/c/d/e.bin": os.urandom(5000),
    }
    for rel, content in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    return files


def read_tree(base: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(base)): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def test_lftp_mirror_both_ways(server, workdir, tmp_path):
    src = tmp_path / "src"
    files = make_tree(src)
    lftp(server, f'mirror -R "{src}" "/{workdir.name}/up"', cwd=tmp_path)
    assert read_tree(workdir / "up") == files
    lftp(server, f'mirror "/{workdir.name}/up" "{tmp_path / "down"}"', cwd=tmp_path)
    assert read_tree(tmp_path / "down") == files


# ------------------------------------------------------------------ the upload rule


def start_stor(ftp: ftplib.FTP, cmd: str) -> socket.socket:
    ftp.voidcmd("TYPE I")
    return ftp.transfercmd(cmd)


def test_interrupted_replace_keeps_old_file(ftp, workdir):
    old = os.urandom(MIB)
    (workdir / "keep.bin").write_bytes(old)
    conn = start_stor(ftp, "STOR keep.bin")
    new = os.urandom(4 * MIB)
    conn.sendall(new[: 2 * MIB])
    # Let the server write some of it before the connection breaks.
    wait_for(
        lambda: any(
            p.stat().st_size > 0 for p in workdir.iterdir() if p.name != "keep.bin"
        )
    )
    time.sleep(0.2)
    rst_close(conn)
    with pytest.raises((ftplib.error_temp, ftplib.error_perm)):
        ftp.voidresp()
    assert file_sha(workdir / "keep.bin") == sha(old), (
        "old file damaged by a failed replace"
    )
    # The temporary file is cleaned up.
    assert wait_for(lambda: [p.name for p in workdir.iterdir()] == ["keep.bin"]), list(
        workdir.iterdir()
    )
    assert ftp.voidcmd("NOOP").startswith("200")


def test_aborted_replace_keeps_old_file(ftp, workdir):
    old = os.urandom(MIB)
    (workdir / "keep2.bin").write_bytes(old)
    conn = start_stor(ftp, "STOR keep2.bin")
    conn.sendall(os.urandom(MIB))
    time.sleep(0.2)
    ftp.sock.sendall(b"ABOR\r\n")
    first = ftp.getline()
    codes = [first[:3]]
    if first.startswith(("426", "451")):
        codes.append(ftp.getline()[:3])
    conn.close()
    assert codes[-1] in ("226", "225"), codes
    assert file_sha(workdir / "keep2.bin") == sha(old)
    assert ftp.voidcmd("NOOP").startswith("200")
    assert wait_for(lambda: [p.name for p in workdir.iterdir()] == ["keep2.bin"]), list(
        workdir.iterdir()
    )


@pytest.mark.parametrize("resume_verb", ["REST+STOR", "APPE"])
def test_interrupted_new_upload_keeps_partial_and_resumes(ftp, workdir, resume_verb):
    data = os.urandom(6 * MIB)
    conn = start_stor(ftp, "STOR partial.bin")
    conn.sendall(data[: 3 * MIB])
    target = workdir / "partial.bin"
    assert wait_for(lambda: target.exists() and target.stat().st_size > 0), (
        "nothing written"
    )
    time.sleep(0.2)
    rst_close(conn)
    with pytest.raises((ftplib.error_temp, ftplib.error_perm)):
        ftp.voidresp()
    assert target.exists(), "partial upload of a new file was removed"
    size = target.stat().st_size
    assert 0 < size <= 3 * MIB
    assert target.read_bytes() == data[:size], (
        "partial file is not a prefix of what was sent"
    )
    assert ftp.size("partial.bin") == size
    if resume_verb == "APPE":
        ftp.storbinary("APPE partial.bin", io.BytesIO(data[size:]))
    else:
        ftp.storbinary("STOR partial.bin", io.BytesIO(data[size:]), rest=size)
    assert file_sha(target) == sha(data)


# ------------------------------------------------------------------ ABOR


def test_abor_during_download(ftp, workdir, big):
    shutil.copy(big, workdir / "big.bin")
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR big.bin")
    got = conn.recv(65536)
    assert got
    ftp.sock.sendall(b"ABOR\r\n")
    first = ftp.getline()
    codes = [first[:3]]
    if first.startswith("426"):
        codes.append(ftp.getline()[:3])
    conn.close()
    assert codes in (["426", "226"], ["226"]), codes
    assert ftp.voidcmd("NOOP").startswith("200")
    assert ftp.pwd() == "/" + workdir.name
    # And the next transfer works.
    assert retr(ftp, "big.bin", rest=20 * MIB - 10) == big.read_bytes()[-10:]


def test_abor_with_telnet_sync(ftp, workdir, big):
    """ftplib's abort(): IAC IP, IAC DM as urgent data, then ABOR."""
    shutil.copy(big, workdir / "big.bin")
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR big.bin")
    assert conn.recv(65536)
    resp = ftp.abort()
    assert resp[:3] in ("426", "225", "226"), resp
    if resp.startswith("426"):
        assert ftp.voidresp().startswith("226")
    conn.close()
    assert ftp.voidcmd("NOOP").startswith("200")


def test_aborted_new_upload_keeps_partial(ftp, workdir):
    data = os.urandom(4 * MIB)
    conn = start_stor(ftp, "STOR abor-new.bin")
    conn.sendall(data[:MIB])
    target = workdir / "abor-new.bin"
    assert wait_for(lambda: target.exists() and target.stat().st_size > 0)
    ftp.sock.sendall(b"ABOR\r\n")
    first = ftp.getline()
    codes = [first[:3]]
    if first.startswith(("426", "451")):
        codes.append(ftp.getline()[:3])
    conn.close()
    assert codes[-1] in ("225", "226"), codes
    size = target.stat().st_size
    assert 0 < size <= MIB
    assert target.read_bytes() == data[:size]
    ftp.storbinary("STOR abor-new.bin", io.BytesIO(data[size:]), rest=size)
    assert file_sha(target) == sha(data)
