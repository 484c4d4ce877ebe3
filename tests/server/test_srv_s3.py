"""ringftpd with an S3 root (`--root s3://BUCKET[/prefix]`), against moto's
S3 server on loopback: what FTP clients (ftplib, curl, lftp, ringftp) see,
and what lands in the bucket (read back with boto3). One test per rule of
the S3 backend (docs/edge-cases.md, "Object storage (S3)").

Every test gets a fresh bucket laid out as `populate_root` does
(`s3_server`, tests/server/conftest.py), served with 5 MiB multipart parts
so that the sizes below straddle a part boundary."""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import io
import os
import re
import socket
import struct
import subprocess
import threading
import time
from datetime import timezone
from pathlib import Path

import pytest
from ringftptest import (
    PASSWORDS,
    S3_ENV,
    Raw,
    needs_moto,
    ringftpd_binary,
    rst_close,
    start_server,
    wait_for,
)

pytestmark = needs_moto

MIB = 1024 * 1024
PART = 5 * MIB


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def login(srv, user: str = "alice", timeout: float = 30.0):
    ftp = srv.ftp(user, timeout=timeout)
    try:
        yield ftp
    finally:
        try:
            ftp.quit()
        except (ftplib.Error, OSError, EOFError):
            ftp.close()


def retr(ftp: ftplib.FTP, name: str, rest: int | None = None) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write, rest=rest)
    return buf.getvalue()


def stor(ftp: ftplib.FTP, name: str, data: bytes) -> str:
    return ftp.storbinary(f"STOR {name}", io.BytesIO(data), blocksize=256 * 1024)


def code_of(exc: ftplib.Error) -> int:
    return int(str(exc)[:3])


def refused(ftp: ftplib.FTP, cmd: str) -> str:
    """Sends `cmd`, which must fail with a 4xx/5xx reply; returns it."""
    with pytest.raises(ftplib.Error) as info:
        ftp.sendcmd(cmd)
    return str(info.value)


def mlsd(ftp: ftplib.FTP, path: str = "") -> dict[str, dict[str, str]]:
    return {name: facts for name, facts in ftp.mlsd(path)}


def listing(ftp: ftplib.FTP, path: str = "") -> list[str]:
    lines: list[str] = []
    ftp.retrlines(f"LIST {path}".rstrip(), lines.append)
    return lines


def s3_mtime(bucket, path: str) -> str:
    head = bucket.client.head_object(Bucket=bucket.name, Key=bucket.key(path))
    return head["LastModified"].astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")


# ------------------------------------------------------ start


def test_start_logs_the_storage_and_serves(s3_server):
    bucket = s3_server.s3
    assert re.search(
        rf"storage: s3://{re.escape(bucket.name)}\S* at {re.escape(bucket.endpoint)}", s3_server.log()
    ), s3_server.log()[-2000:]
    for secret in (S3_ENV["AWS_SECRET_ACCESS_KEY"], PASSWORDS["alice"]):
        assert secret not in s3_server.log()
    with login(s3_server) as ftp:
        assert retr(ftp, "hello.txt") == b"hello world\n"


def test_config_file_root_and_s3_table_with_a_prefix(moto, shared_users, tmp_path):
    """`root = "s3://BUCKET/prefix"` and `[s3]` in ringftpd.toml; only keys
    beneath the prefix are seen, and uploads land there."""
    bucket = moto.new_bucket(prefix="tenant/one")
    bucket.put("inside.txt", b"in")
    bucket.client.put_object(Bucket=bucket.name, Key="tenant/other.txt", Body=b"sibling")
    bucket.client.put_object(Bucket=bucket.name, Key="outside.txt", Body=b"top")
    srv = start_server(
        tmp_path,
        s3=bucket,
        users=shared_users,
        config={
            "root": bucket.url,
            "s3": {"endpoint": bucket.endpoint, "region": "us-east-1", "path_style": True, "part_size": "5M"},
        },
    )
    assert "--root" not in srv.args
    with login(srv) as ftp:
        assert sorted(ftp.nlst()) == ["inside.txt"]
        for name in ("../other.txt", "/../outside.txt", "../../outside.txt"):
            with pytest.raises(ftplib.error_perm):
                retr(ftp, name)
        stor(ftp, "new.txt", b"new")
    assert bucket.get("new.txt") == b"new"
    assert bucket.client.get_object(Bucket=bucket.name, Key="tenant/one/new.txt")["Body"].read() == b"new"
    srv.stop()


def test_unreachable_endpoint_exits_nonzero_with_a_clear_message(shared_users, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    endpoint = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    proc = subprocess.run(
        [str(ringftpd_binary()), "serve", "--listen", "127.0.0.1:0", "--users", str(shared_users),
         "--root", "s3://no-such-place", "--s3-endpoint", endpoint],
        capture_output=True, text=True, timeout=120, env={**os.environ, **S3_ENV}, stdin=subprocess.DEVNULL,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "listening on" not in out
    assert "no-such-place" in out and endpoint in out, out
    assert time.monotonic() - start < 60, "gave up only after a minute"


def test_missing_bucket_exits_nonzero(moto, shared_users, tmp_path):
    proc = subprocess.run(
        [str(ringftpd_binary()), "serve", "--listen", "127.0.0.1:0", "--users", str(shared_users),
         "--root", "s3://ringftp-never-created", "--s3-endpoint", moto.endpoint],
        capture_output=True, text=True, timeout=120, env={**os.environ, **S3_ENV}, stdin=subprocess.DEVNULL,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "ringftp-never-created" in out, out


# ------------------------------------------------------ transfers


@pytest.mark.parametrize(
    "size", [0, 1, PART - 1, PART + 1, 40 * MIB + 3], ids=["0B", "1B", "5MiB-1", "5MiB+1", "40MiB"]
)
def test_ftplib_put_get_byte_identical(s3_server, size):
    bucket = s3_server.s3
    data = os.urandom(size)
    with login(s3_server) as ftp:
        assert stor(ftp, "f.bin", data).startswith("226")
        assert sha(bucket.get("f.bin")) == sha(data)
        assert ftp.size("f.bin") == size
        assert sha(retr(ftp, "f.bin")) == sha(data)
        # Over the existing object, once more (a replace).
        again = os.urandom(size)
        stor(ftp, "f.bin", again)
        assert sha(retr(ftp, "f.bin")) == sha(again)
    etag = bucket.client.head_object(Bucket=bucket.name, Key="f.bin")["ETag"].strip('"')
    if size > 2 * PART:
        # Streamed as a multipart upload (its ETag is "md5-of-md5s-PARTS").
        assert re.fullmatch(r"[0-9a-f]{32}-\d+", etag) and int(etag.split("-")[1]) >= 2, etag
    assert bucket.uploads() == []


def test_rest_retr_ranges(s3_server):
    bucket = s3_server.s3
    data = os.urandom(12 * MIB + 5)
    bucket.put("r.bin", data)
    with login(s3_server) as ftp:
        for off in (0, 1, PART - 1, PART, PART + 1, len(data) - 1, len(data)):
            got = retr(ftp, "r.bin", rest=off)
            assert sha(got) == sha(data[off:]), (off, len(got))
        assert ftp.sendcmd(f"REST {len(data) + 1}").startswith("350")
        with pytest.raises(ftplib.error_perm) as info:
            retr(ftp, "r.bin")
        assert code_of(info.value) == 554, info.value
        assert ftp.voidcmd("NOOP").startswith("200")
    # curl's range: REST, RETR, and it closes the data connection after the range.
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "-r", f"{PART - 10}-{PART + 9}", s3_server.url("alice", "r.bin")],
        capture_output=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == data[PART - 10 : PART + 10]


def test_type_a_converts_as_locally(s3_server):
    bucket = s3_server.s3
    with login(s3_server) as ftp:
        lines: list[str] = []
        ftp.retrlines("RETR lines.txt", lines.append)
        assert lines == ["one", "two", "three"]
        ftp.voidcmd("TYPE A")
        conn = ftp.transfercmd("RETR lines.txt")
        raw = b""
        while chunk := conn.recv(65536):
            raw += chunk
        conn.close()
        ftp.voidresp()
        assert raw == b"one\r\ntwo\r\nthree\r\n"
        ftp.storlines("STOR up.txt", io.BytesIO(b"a\r\nb\r\n"))
    assert bucket.get("up.txt") == b"a\nb\n"


def test_curl_over_tls_put_get(s3_server, tmp_path):
    """curl with PROT P (FTPS): the encrypted data path on an S3 root."""
    data = os.urandom(PART + 12345)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    out = tmp_path / "out.bin"
    url = s3_server.url("alice", "sub/curl.bin")
    base = ["curl", "-sS", "--max-time", "60", "--ssl-reqd", "-k"]
    up = subprocess.run([*base, "--ftp-create-dirs", "-T", str(src), url], capture_output=True, timeout=90)
    assert up.returncode == 0, up.stderr
    assert s3_server.s3.get("sub/curl.bin") == data
    down = subprocess.run([*base, "-o", str(out), url], capture_output=True, timeout=90)
    assert down.returncode == 0, down.stderr
    assert out.read_bytes() == data


def test_lftp_put_get_mirror(s3_server, tmp_path):
    bucket = s3_server.s3
    local = tmp_path / "local"
    (local / "tree" / "deep").mkdir(parents=True)
    files = {"tree/a.bin": os.urandom(300_000), "tree/deep/b.bin": os.urandom(PART + 3), "tree/c.txt": b"c\n"}
    for name, data in files.items():
        (local / name).write_bytes(data)
    script = (
        "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; "
        f"open -u alice,{PASSWORDS['alice']} -p {s3_server.port} 127.0.0.1; "
        "mirror -R tree up; mirror up back; cls -1 up/deep"
    )
    proc = subprocess.run(["lftp", "-c", script], cwd=local, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name, data in files.items():
        rel = name.removeprefix("tree/")
        assert bucket.get(f"up/{rel}") == data, rel
        assert (local / "back" / rel).read_bytes() == data, rel
    assert b"b.bin" in proc.stdout


def ringftp_bin() -> Path:
    return Path(os.environ.get("RINGFTP", Path(__file__).resolve().parents[2] / "target" / "debug" / "ringftp"))


def run_ringftp(srv, tmp_path: Path, batch: str, extra: list[str] | None = None) -> subprocess.CompletedProcess:
    """The sftp-like client in batch mode, over FTPS, knowing the server's
    certificate (its fingerprint in a private known_hosts)."""
    fp = subprocess.run(
        [str(ringftpd_binary()), "fingerprint", "--users", str(srv.users)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()[1]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{srv.port} ECDSA {fp}\n")
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login alice password {PASSWORDS['alice']}\n")
    netrc.chmod(0o600)
    batch_file = tmp_path / "batch"
    batch_file.write_text(batch)
    return subprocess.run(
        [str(ringftp_bin()), "-P", str(srv.port), "--netrc-file", str(netrc), "-b", str(batch_file),
         "-o", f"UserKnownHostsFile={known_hosts}", *(extra or []), "alice@127.0.0.1"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path), "LC_ALL": "C", "TZ": "UTC"},
    )


@pytest.mark.skipif(not ringftp_bin().exists(), reason="ringftp is not built (cargo build --workspace --bins)")
def test_ringftp_client_put_get_ls_rename_rm(s3_server, tmp_path):
    bucket = s3_server.s3
    data = os.urandom(2 * PART + 77)
    (tmp_path / "src.bin").write_bytes(data)
    proc = run_ringftp(
        s3_server,
        tmp_path,
        "mkdir /box\nput src.bin /box/one.bin\nget /box/one.bin back.bin\nls -l /box\n"
        "rename /box/one.bin /box/two.bin\nls /box\nget /box/two.bin again.bin\nrm /box/two.bin\nrmdir /box\n",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "back.bin").read_bytes() == data
    assert (tmp_path / "again.bin").read_bytes() == data
    assert re.search(rf"-\S+\s+.*\s{len(data)}\s.*one\.bin", proc.stdout), proc.stdout
    assert "two.bin" in proc.stdout
    assert bucket.keys("box") == []


@pytest.mark.skipif(not ringftp_bin().exists(), reason="ringftp is not built (cargo build --workspace --bins)")
def test_ringftp_segmented_get_and_put(s3_server, tmp_path):
    """ringftp cuts big files into 4 segments (here from 1 MiB on): a get is
    four REST + RETR, ranged GETs on S3; a put is REST + STOR at offsets of
    one temporary name, which an S3 object cannot take: whatever the server
    answers, the client ends with the whole file and leaves nothing behind."""
    bucket = s3_server.s3
    data = os.urandom(12 * MIB + 3)
    bucket.put("seg.bin", data)
    (tmp_path / "up.bin").write_bytes(data[::-1])
    proc = run_ringftp(
        s3_server, tmp_path, "get /seg.bin got.bin\nput up.bin /up.bin\n", extra=["--parallel", "4", "--parallel-min", "1M"]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sha((tmp_path / "got.bin").read_bytes()) == sha(data)
    assert sha(bucket.get("up.bin")) == sha(data[::-1])
    assert [k for k in bucket.keys() if "up.bin" in k] == ["up.bin"], bucket.keys()
    assert bucket.uploads() == []


# ------------------------------------------------------ the upload rule


def start_stor(ftp: ftplib.FTP, cmd: str) -> socket.socket:
    ftp.voidcmd("TYPE I")
    return ftp.transfercmd(cmd)


@pytest.mark.parametrize("old", [True, False], ids=["replace", "new"])
@pytest.mark.parametrize("how", ["rst", "abor", "control-lost"])
def test_cut_off_stor_leaves_no_trace(s3_server, tmp_path, how, old):
    """A STOR that does not end cleanly (data connection reset, ABOR, the
    client gone with its data connection left hanging) aborts its multipart
    upload: an old object is byte-identical afterwards, a new name does not
    appear, and ListMultipartUploads is empty."""
    bucket = s3_server.s3
    srv = s3_server
    if how == "control-lost":
        # A long data timeout: only the control connection's end can stop
        # the upload within the test's wait.
        srv = start_server(tmp_path / "dt", s3=bucket, users=s3_server.users,
                           config={"data_timeout": 120, "s3": {"part_size": "5M"}})
    before = os.urandom(6 * MIB) if old else None
    if before is not None:
        bucket.put("keep.bin", before)
    ftp = srv.ftp(timeout=30)
    conn = start_stor(ftp, "STOR keep.bin")
    # More than two parts: the multipart upload has begun on S3.
    conn.sendall(os.urandom(3 * PART))
    assert wait_for(lambda: bucket.uploads() == ["keep.bin"]), bucket.uploads()
    if how == "rst":
        rst_close(conn)
        with pytest.raises((ftplib.error_temp, ftplib.error_perm)):
            ftp.voidresp()
    elif how == "abor":
        ftp.sock.sendall(b"ABOR\r\n")
        first = ftp.getline()
        codes = [first[:3]]
        if first.startswith(("426", "451")):
            codes.append(ftp.getline()[:3])
        conn.close()
        assert codes[-1] in ("226", "225"), codes
    else:
        # The client is gone while its data connection stays open (closing
        # it would be a clean end of the upload): the control connection's
        # end aborts the upload. shutdown() sends the FIN: ftplib's
        # makefile() keeps the descriptor open past sock.close().
        ftp.sock.shutdown(socket.SHUT_RDWR)
        ftp.sock.close()
        assert wait_for(lambda: bucket.uploads() == [], timeout=20), bucket.uploads()
        conn.close()
    assert wait_for(lambda: bucket.uploads() == []), bucket.uploads()
    if before is not None:
        assert sha(bucket.get("keep.bin")) == sha(before)
    else:
        assert not bucket.exists("keep.bin")
    if how != "control-lost":
        assert ftp.voidcmd("NOOP").startswith("200")
        ftp.close()
    # The server goes on: the name can be stored whole.
    with login(srv) as again:
        data = os.urandom(PART + 1)
        stor(again, "keep.bin", data)
        assert retr(again, "keep.bin") == data
    assert bucket.uploads() == []
    if srv is not s3_server:
        assert "transfer" in srv.log() and 'result="ok"' in srv.log()
        srv.stop()


def test_appe_and_rest_stor_on_immutable_objects(s3_server):
    """Objects cannot be appended to or written at an offset: APPE onto an
    existing object and REST n + STOR are refused before any byte moves,
    and the object is untouched; APPE of a new name is a STOR, REST 0 +
    STOR too."""
    bucket = s3_server.s3
    with login(s3_server) as ftp:
        ftp.voidcmd("TYPE I")
        for cmd, rest in (("APPE hello.txt", None), ("STOR hello.txt", 5)):
            with pytest.raises(ftplib.error_perm) as info:
                ftp.storbinary(cmd, io.BytesIO(b"more"), rest=rest)
            assert code_of(info.value) == 550 and "object storage" in str(info.value), info.value
            assert ftp.voidcmd("NOOP").startswith("200")
        assert bucket.get("hello.txt") == b"hello world\n"
        ftp.storbinary("APPE fresh.txt", io.BytesIO(b"appended"))
        ftp.storbinary("STOR zero.txt", io.BytesIO(b"from zero"), rest=0)
    assert bucket.get("fresh.txt") == b"appended"
    assert bucket.get("zero.txt") == b"from zero"
    assert bucket.uploads() == []


def test_stou_picks_a_free_name(s3_server):
    bucket = s3_server.s3
    with login(s3_server) as ftp:
        ftp.voidcmd("TYPE I")
        conn, _ = ftp.ntransfercmd("STOU hello.txt")
        conn.sendall(b"unique")
        conn.close()
        resp = ftp.voidresp()
        assert resp.startswith("226"), resp
    assert bucket.get("hello.txt") == b"hello world\n"
    new = [k for k in bucket.keys() if k.startswith("hello.txt") and k != "hello.txt"]
    assert len(new) == 1 and bucket.get(new[0]) == b"unique", bucket.keys()


# ------------------------------------------------------ listings


def test_list_mlsd_nlst_of_nested_prefixes(s3_server):
    bucket = s3_server.s3
    bucket.put("top/a.txt", b"aaa")
    bucket.put("top/sub/b.txt", b"bb")
    bucket.put("top/sub/deeper/c.txt", b"c")
    bucket.put("top/empty/")  # a marker only: an empty directory
    with login(s3_server) as ftp:
        top = mlsd(ftp, "top")
        assert set(top) == {"a.txt", "sub", "empty"}, top
        assert top["a.txt"]["type"] == "file" and top["a.txt"]["size"] == "3"
        assert top["a.txt"]["modify"] == s3_mtime(bucket, "top/a.txt")
        assert top["sub"]["type"] == top["empty"]["type"] == "dir"
        assert mlsd(ftp, "top/empty") == {}
        assert set(mlsd(ftp, "top/sub")) == {"b.txt", "deeper"}
        assert sorted(ftp.nlst("top")) == ["top/a.txt", "top/empty", "top/sub"]
        lines = listing(ftp, "top")
        assert len(lines) == 3, lines
        by_name = {line.split()[-1]: line for line in lines}
        assert by_name["a.txt"].startswith("-") and " 3 " in by_name["a.txt"]
        assert by_name["sub"].startswith("d") and by_name["empty"].startswith("d")
        # The root: markers (dir/, alice/) are directories, never files with an empty name.
        root = mlsd(ftp, "/")
        assert set(root) == {
            "hello.txt", "name with spaces.txt", "Grüße ünïcødé.txt", "lines.txt", "big.bin",
            "dir", "alice", "shared", "top",
        }, root
        assert all(root[d]["type"] == "dir" for d in ("dir", "alice", "shared", "top"))
        assert "" not in root and all(n for n in ftp.nlst())
        # MLST and STAT of one object, LIST of a file.
        text = ftp.sendcmd("MLST top/sub/b.txt")
        assert "type=file" in text and "size=2" in text and "/top/sub/b.txt" in text, text
        assert "type=dir" in ftp.sendcmd("MLST top/empty")
        assert "b.txt" in ftp.sendcmd("STAT top/sub/b.txt")
        assert "b.txt" in listing(ftp, "top/sub/b.txt")[0]
        with pytest.raises(ftplib.error_perm):
            mlsd(ftp, "no/such")


def test_listing_pages_through_thousands_of_objects(s3_server):
    """1,600 objects and 1,100 sub-prefixes in one directory: more than one
    page of ListObjectsV2 (1,000 per page) each; every one is listed once."""
    bucket = s3_server.s3
    files = {f"many/f{i:05d}.bin": b"x" * (i % 7) for i in range(1600)}
    dirs = {f"many/d{i:05d}/inner": b"" for i in range(1100)}
    bucket.put_many({**files, **dirs})
    want_files = {p.split("/")[1] for p in files}
    want_dirs = {p.split("/")[1] for p in dirs}
    with login(s3_server, timeout=60) as ftp:
        entries = mlsd(ftp, "many")
        assert {n for n, f in entries.items() if f["type"] == "file"} == want_files
        assert {n for n, f in entries.items() if f["type"] == "dir"} == want_dirs
        assert len(entries) == 2700
        assert entries["f00006.bin"]["size"] == "6"
        names = ftp.nlst("many")
        assert len(names) == len(set(names)) == 2700
        assert len(listing(ftp, "many")) == 2700
    proc = subprocess.run(
        ["curl", "-sS", "--max-time", "60", "--list-only", s3_server.url("alice", "many/")],
        capture_output=True, timeout=90, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) == 2700


# ------------------------------------------------------ directories


def test_cwd_into_existing_and_missing_prefixes(s3_server):
    with login(s3_server) as ftp:
        ftp.cwd("dir")  # has a marker
        assert ftp.pwd() == "/dir"
        assert ftp.nlst() == ["inner.txt"]
        ftp.cwd("/shared")  # no marker, only a key beneath
        assert ftp.pwd() == "/shared"
        assert ftp.sendcmd("CDUP").startswith("2")
        assert ftp.pwd() == "/"
        for missing in ("nope", "/dir/nope", "hello.txt"):
            with pytest.raises(ftplib.error_perm) as info:
                ftp.cwd(missing)
            assert code_of(info.value) == 550, info.value
        assert ftp.pwd() == "/"
        ftp.cwd("dir")
        ftp.cwd("..")
        ftp.cwd("../../..")
        assert ftp.pwd() == "/"


def test_mkd_rmd(s3_server):
    bucket = s3_server.s3
    with login(s3_server) as ftp:
        assert ftp.mkd("made") == "/made"
        assert bucket.get("made/") == b""
        assert mlsd(ftp, "/")["made"]["type"] == "dir"
        ftp.cwd("made")
        assert ftp.nlst() == []
        assert ftp.mkd("inner") == "/made/inner"
        ftp.cwd("/")
        for exists in ("made", "dir", "shared", "hello.txt"):
            assert refused(ftp, f"MKD {exists}").startswith("550"), exists
        text = refused(ftp, "RMD made")
        assert text.startswith("550") and "not empty" in text.lower(), text
        assert refused(ftp, "RMD shared").startswith("550")  # a key beneath, no marker
        assert bucket.exists("shared/secret.txt")
        ftp.rmd("made/inner")
        assert not bucket.exists("made/inner/")
        ftp.rmd("made")
        assert bucket.keys("made") == []
        assert refused(ftp, "RMD made").startswith("550")
        assert refused(ftp, "RMD hello.txt").startswith("550")
        # MKD of a nested path whose parent does not exist: as locally, 550.
        assert refused(ftp, "MKD no/parent").startswith("550")


def test_dele(s3_server):
    bucket = s3_server.s3
    with login(s3_server) as ftp:
        ftp.delete("hello.txt")
        assert not bucket.exists("hello.txt")
        assert refused(ftp, "DELE hello.txt").startswith("550")
        assert refused(ftp, "DELE dir").startswith("550")
        assert bucket.exists("dir/inner.txt") and bucket.exists("dir/")
        ftp.delete("dir/inner.txt")
        # dir/ still has its marker: still a directory, now empty.
        assert mlsd(ftp, "dir") == {}
    with login(s3_server, "bob") as ro:
        assert refused(ro, "DELE lines.txt").startswith("550")
    assert bucket.exists("lines.txt")


def test_rnfr_rnto_copies_and_removes_the_source(s3_server):
    bucket = s3_server.s3
    big = bucket.get("big.bin")
    with login(s3_server) as ftp:
        ftp.rename("big.bin", "dir/moved.bin")
        assert not bucket.exists("big.bin")
        assert sha(bucket.get("dir/moved.bin")) == sha(big)
        assert sha(retr(ftp, "dir/moved.bin")) == sha(big)
        # Onto an existing object: replaced.
        ftp.rename("hello.txt", "lines.txt")
        assert bucket.get("lines.txt") == b"hello world\n" and not bucket.exists("hello.txt")
        assert refused(ftp, "RNFR nope").startswith("550")
        # Directories are prefixes of many keys: not renamed (documented).
        assert ftp.sendcmd("RNFR dir").startswith("350")
        text = refused(ftp, "RNTO dir2")
        assert text.startswith("550") and "object storage" in text, text
        assert bucket.exists("dir/inner.txt") and bucket.keys("dir2") == []
        # The session is fine after a refused pair.
        assert ftp.voidcmd("NOOP").startswith("200")


def test_size_and_mdtm(s3_server):
    bucket = s3_server.s3
    with login(s3_server) as ftp:
        ftp.voidcmd("TYPE I")
        assert ftp.size("big.bin") == 2 * MIB
        assert ftp.size("name with spaces.txt") == len(b"spaces in the name\n")
        assert ftp.sendcmd("MDTM hello.txt") == f"213 {s3_mtime(bucket, 'hello.txt')}"
        for bad in ("SIZE nope", "MDTM nope", "SIZE dir", "MDTM dir"):
            assert refused(ftp, bad).startswith("550"), bad


def test_unsupported_verbs_say_so_and_feat_lists_what_works(s3_server):
    bucket = s3_server.s3
    with login(s3_server) as ftp:
        feat = ftp.sendcmd("FEAT")
        for works in ("EPSV", "MDTM", "MLST", "PASV", "REST STREAM", "SIZE", "UTF8"):
            assert f" {works}" in feat, (works, feat)
        for cmd in ("MFMT 20200101000000 hello.txt", "SITE CHMOD 600 hello.txt", "SITE SYMLINK hello.txt link", "AVBL"):
            text = refused(ftp, cmd)
            assert text[:3] in ("502", "550", "504"), (cmd, text)
            assert len(text) > 4, text
            verb = cmd.split()[0]
            if verb in ("MFMT", "AVBL"):
                assert f" {verb}" not in feat, f"FEAT lists {verb}, which is refused"
        assert ftp.sendcmd("HELP").startswith("214")
        assert ftp.voidcmd("NOOP").startswith("200")
    assert not bucket.exists("link")


@pytest.mark.parametrize(
    "name",
    ["with space.txt", "Grüße ünïcødé 日本.txt", "100%.txt", "%41%2F.txt", "a#b.txt", "q?.txt", "a+b=c&d.txt", "semi;colon.txt"],
)
def test_names_round_trip(s3_server, name):
    bucket = s3_server.s3
    data = name.encode() * 3
    with login(s3_server) as ftp:
        stor(ftp, name, data)
        assert bucket.get(name) == data, bucket.keys()
        assert retr(ftp, name) == data
        assert name in ftp.nlst()
        assert mlsd(ftp)[name]["size"] == str(len(data))
        ftp.mkd(f"d {name}")
        assert bucket.exists(f"d {name}/")
        ftp.rename(name, f"d {name}/{name}")
        assert bucket.get(f"d {name}/{name}") == data
        # An object put by another tool is served under its key.
        bucket.put(f"other {name}", b"from boto3")
        assert retr(ftp, f"other {name}") == b"from boto3"


def test_home_is_confined_to_its_sub_prefix(s3_server):
    bucket = s3_server.s3
    with login(s3_server, "carol") as ftp:
        assert ftp.pwd() == "/"
        assert ftp.nlst() == ["mine.txt"]
        assert retr(ftp, "mine.txt") == b"carol's home file\n"
        for escape in ("../shared/secret.txt", "/../shared/secret.txt", "/shared/secret.txt", "../../shared/secret.txt"):
            with pytest.raises(ftplib.error_perm):
                retr(ftp, escape)
        ftp.cwd("..")
        assert ftp.pwd() == "/" and ftp.nlst() == ["mine.txt"]
        with pytest.raises(ftplib.error_perm):
            ftp.cwd("/shared")
        stor(ftp, "../../up.txt", b"carol")
        ftp.rename("mine.txt", "../renamed.txt")
    assert bucket.get("alice/up.txt") == b"carol"
    assert bucket.get("alice/renamed.txt") == b"carol's home file\n"
    assert not bucket.exists("up.txt") and not bucket.exists("renamed.txt")
    assert bucket.get("shared/secret.txt") == b"not for carol\n"


def test_home_that_does_not_exist_refuses_the_login(s3_bucket, shared_users, tmp_path):
    """As with a local root: a home is a directory that must exist (its
    marker or a key beneath); without one the login is refused, not
    served from an empty prefix that would spring into being on upload."""
    s3_bucket.put("hello.txt", b"hi")  # no alice/ prefix in this bucket
    srv = start_server(tmp_path, s3=s3_bucket, users=shared_users)
    with pytest.raises(ftplib.error_perm) as info:
        srv.ftp("carol")
    assert code_of(info.value) == 530, info.value
    s3_bucket.put("alice/")  # MKD's marker: now it exists
    with login(srv, "carol") as ftp:
        assert ftp.nlst() == []
    srv.stop()


def test_read_only_user_cannot_write(s3_server):
    bucket = s3_server.s3
    before = bucket.keys()
    with login(s3_server, "bob") as ftp:
        assert retr(ftp, "hello.txt") == b"hello world\n"
        for cmd in ("MKD x", "RMD dir", "RNFR hello.txt"):
            assert refused(ftp, cmd).startswith("550"), cmd
        with pytest.raises(ftplib.error_perm):
            stor(ftp, "x.bin", b"x")
    assert bucket.keys() == before


# ------------------------------------------------------ S3 going away


def stor_reply(ftp: ftplib.FTP, name: str, data: bytes) -> str:
    """The final reply to a STOR the server may refuse before its 150 or
    cut off while the bytes arrive (closing the data connection under the
    client's feet)."""
    ftp.voidcmd("TYPE I")
    try:
        conn = ftp.transfercmd(f"STOR {name}")
    except ftplib.Error as e:
        return str(e)
    try:
        conn.sendall(data)
    except OSError:
        pass
    conn.close()
    try:
        return ftp.voidresp()
    except ftplib.Error as e:
        return str(e)


class Cutter:
    """A TCP relay between ringftpd and moto that can cut S3 off: `cut()`
    resets every relayed connection and stops listening (connection refused
    from then on), as when the storage goes away; pooled keep-alive
    connections die with it."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.dead = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.dead:
                    client.close()
                    upstream.close()
                    return
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self) -> None:
        with self.lock:
            self.dead = True
            self.listener.close()
            for s in self.conns:
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


def test_s3_going_away_mid_session_is_451_and_the_session_lives(moto, s3_bucket, shared_users, tmp_path):
    s3_bucket.put("here.txt", b"here")
    s3_bucket.put("big.bin", os.urandom(3 * PART))
    cutter = Cutter(moto.port)
    srv = start_server(tmp_path, s3=s3_bucket.with_endpoint(cutter.endpoint), users=shared_users,
                       config={"s3": {"part_size": "5M", "timeout": 10}})
    ftp = srv.ftp(timeout=120)
    assert retr(ftp, "here.txt") == b"here"
    # A download under way when S3 goes: cut short, never a hang.
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR big.bin")
    assert conn.recv(1)
    cutter.cut()
    start = time.monotonic()
    conn.settimeout(120)
    with contextlib.suppress(OSError):
        while conn.recv(1 << 20):
            pass
    conn.close()
    with contextlib.suppress(ftplib.error_temp, ftplib.error_perm):
        ftp.voidresp()  # 226 if the body was already buffered, else 426/451
    # Every command that needs S3 is answered 451 (not a crash, not a hang)...
    for cmd in ("SIZE here.txt", "MDTM here.txt", "DELE here.txt", "MKD x", "CWD dir"):
        text = refused(ftp, cmd)
        assert text.startswith("451"), (cmd, text)
    with pytest.raises(ftplib.error_temp) as info:
        retr(ftp, "here.txt")
    assert str(info.value).startswith("451"), info.value
    with pytest.raises(ftplib.error_temp) as info:
        mlsd(ftp)
    assert str(info.value).startswith("451"), info.value
    assert stor_reply(ftp, "new.bin", os.urandom(2 * PART)).startswith("451")
    elapsed = time.monotonic() - start
    assert elapsed < 90, f"S3 errors took {elapsed:.0f} s"
    # ...and the session still answers.
    assert ftp.voidcmd("NOOP").startswith("200")
    assert ftp.pwd() == "/"
    # So does the server: a new session logs in and is told the same.
    with login(srv) as other:
        assert other.voidcmd("NOOP").startswith("200")
        assert refused(other, "SIZE here.txt").startswith("451")
    ftp.quit()
    assert srv.stop() == 0
    assert s3_bucket.get("here.txt") == b"here"
    assert not s3_bucket.exists("new.bin")


# ------------------------------------------------------ raw protocol


def test_many_sessions_share_the_bucket(s3_server):
    """Ten sessions at once, each storing and reading back its own file."""
    bucket = s3_server.s3
    errors: list[str] = []
    payloads = [os.urandom(200_000 + i) for i in range(10)]

    def one(i: int) -> None:
        try:
            with login(s3_server) as ftp:
                stor(ftp, f"par{i}.bin", payloads[i])
                if retr(ftp, f"par{i}.bin") != payloads[i]:
                    errors.append(f"{i}: differs")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{i}: {e!r}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for i, data in enumerate(payloads):
        assert bucket.get(f"par{i}.bin") == data


def test_pipelined_commands_after_a_transfer(s3_server):
    r = Raw("127.0.0.1", s3_server.port)
    r.login()
    r.send("TYPE I\r\nSIZE hello.txt\r\nMLST dir\r\nNOOP")
    assert r.reply()[0] == 200
    assert r.reply() == (213, "213 12")
    code, text = r.reply()
    assert code == 250 and "type=dir" in text, text
    assert r.reply()[0] == 200
    r.close()
