"""FTPS, RFC 4217 explicit TLS: AUTH TLS on the control connection, PBSZ and
PROT P for the data connections, with real clients (ftplib.FTP_TLS, curl,
lftp), a self-signed certificate made by the openssl CLI, and the settings
--tls-cert/--tls-key/--tls-required (flags) and tls_cert/tls_key (TOML)."""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from ringftptest import PASSWORDS, ensure_built, start_server

MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the openssl CLI makes the certificate"
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate and its key (PEM), valid for two days."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-subj", "/CN=localhost", "-days", "2",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, cert):
    """TLS offered (flags), not required."""
    srv = start_server(
        tmp_path_factory.mktemp("tlssrv"),
        extra_args=["--tls-cert", str(cert[0]), "--tls-key", str(cert[1])],
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory, cert):
    """TLS required; certificate and key from the TOML file."""
    srv = start_server(
        tmp_path_factory.mktemp("tlsstrict"),
        config={"tls_cert": str(cert[0]), "tls_key": str(cert[1])},
        extra_args=["--tls-required"],
    )
    yield srv
    srv.stop()


def client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def ftps(srv, user: str | None = "alice", prot_p: bool = True) -> ftplib.FTP_TLS:
    """An FTP_TLS session: AUTH TLS, then login (and PBSZ 0 + PROT P)."""
    ftp = ftplib.FTP_TLS(context=client_context(), timeout=15, encoding="utf-8")
    ftp.connect(srv.host, srv.port)
    if user is not None:
        ftp.login(user, PASSWORDS[user])  # sends AUTH TLS first
        if prot_p:
            ftp.prot_p()
    return ftp


def code_of(exc: ftplib.Error) -> str:
    return str(exc)[:3]


def send_code(ftp: ftplib.FTP, line: str) -> str:
    try:
        return ftp.sendcmd(line)[:3]
    except ftplib.Error as e:
        return code_of(e)


def curl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["curl", "-sS", "--ssl-reqd", "-k", "--max-time", str(int(timeout)), *args],
        capture_output=True,
        timeout=timeout + 10,
        check=False,
    )
    assert proc.returncode == 0, (
        f"curl {args} failed ({proc.returncode}): {proc.stderr!r}"
    )
    return proc


def test_feat_and_auth_without_certificate(server):
    """The shared plain server: no AUTH TLS in FEAT, AUTH answers 502."""
    ftp = server.ftp(user=None)
    try:
        feat = ftp.sendcmd("FEAT")
        assert "AUTH TLS" not in feat and "PROT" not in feat
        assert send_code(ftp, "AUTH TLS") == "502"
        assert send_code(ftp, "PBSZ 0") == "503"
        ftp.login("alice", PASSWORDS["alice"])  # still plain and usable
    finally:
        ftp.quit()


def test_feat_lists_tls_and_verbs_before_auth(tls_server):
    ftp = ftplib.FTP(timeout=10)
    ftp.connect(tls_server.host, tls_server.port)
    try:
        feat = ftp.sendcmd("FEAT").splitlines()
        for word in (" AUTH TLS", " PBSZ", " PROT"):
            assert word in feat, feat
        assert send_code(ftp, "PBSZ 0") == "503"
        assert send_code(ftp, "PROT P") == "503"
        assert send_code(ftp, "AUTH KERBEROS_V4") == "504"
        assert send_code(ftp, "CCC") == "502"
        # TLS is offered, not required: plain login still works.
        ftp.login("alice", PASSWORDS["alice"])
        assert ftp.pwd() == "/"
    finally:
        ftp.quit()


def test_ftplib_tls_roundtrip_5mib_and_listing(tls_server):
    data = os.urandom(5 * MIB)
    ftp = ftps(tls_server)
    try:
        assert isinstance(ftp.sock, ssl.SSLSocket)
        ftp.mkd("ftplib")
        ftp.cwd("ftplib")
        ftp.storbinary("STOR five.bin", io.BytesIO(data))
        assert sha((tls_server.root / "ftplib" / "five.bin").read_bytes()) == sha(data)
        got = io.BytesIO()
        ftp.retrbinary("RETR five.bin", got.write)
        assert sha(got.getvalue()) == sha(data)
        lines: list[str] = []
        ftp.retrlines("LIST", lines.append)
        assert any(
            line.endswith(" five.bin") and " 5242880 " in line for line in lines
        ), lines
        assert ftp.nlst() == ["five.bin"]
        assert [name for name, _ in ftp.mlsd()] == ["five.bin"]
        # An empty file still gets a handshake and a clean close.
        ftp.storbinary("STOR empty.bin", io.BytesIO(b""))
        got = io.BytesIO()
        ftp.retrbinary("RETR empty.bin", got.write)
        assert got.getvalue() == b""
        # TYPE A still converts over TLS.
        ftp.storlines("STOR text.txt", io.BytesIO(b"one\r\ntwo\r\n"))
        assert (tls_server.root / "ftplib" / "text.txt").read_bytes() == b"one\ntwo\n"
        lines = []
        ftp.retrlines("RETR text.txt", lines.append)
        assert lines == ["one", "two"]
        # REST over TLS.
        got = io.BytesIO()
        ftp.retrbinary("RETR five.bin", got.write, rest=5 * MIB - 100)
        assert got.getvalue() == data[-100:]
        # PROT C in the same session goes back to clear (spliced) transfers.
        assert ftp.prot_c().startswith("200")
        got = io.BytesIO()
        ftp.retrbinary("RETR five.bin", got.write)
        assert sha(got.getvalue()) == sha(data)
        assert send_code(ftp, "AUTH TLS") == "503"
        assert send_code(ftp, "PROT S") == "536"
        assert send_code(ftp, "PROT Q") == "504"
    finally:
        ftp.quit()


def test_curl_ssl_reqd_upload_and_download(tls_server, tmp_path):
    (tls_server.root / "curl").mkdir()
    local = tmp_path / "up.bin"
    data = os.urandom(3 * MIB + 17)
    local.write_bytes(data)
    url = f"ftp://alice:{PASSWORDS['alice']}@127.0.0.1:{tls_server.port}/curl/up.bin"
    curl("-T", str(local), url)
    assert sha((tls_server.root / "curl" / "up.bin").read_bytes()) == sha(data)
    out = tmp_path / "down.bin"
    curl("-o", str(out), url)
    assert sha(out.read_bytes()) == sha(data)
    listing = curl(url.removesuffix("up.bin"))
    assert b"up.bin" in listing.stdout


def test_lftp_ssl_force_get_put(tls_server, tmp_path):
    remote = tls_server.root / "lftp"
    remote.mkdir()
    data = os.urandom(2 * MIB + 5)
    (remote / "from_server.bin").write_bytes(data)
    (tmp_path / "to_server.bin").write_bytes(data[::-1])
    script = (
        "set ssl:verify-certificate no; set ftp:ssl-force true; "
        "set ftp:ssl-protect-data true; set ftp:ssl-allow true; "
        "set net:max-retries 1; set net:timeout 15; set cmd:fail-exit yes; "
        f"open -u alice,{PASSWORDS['alice']} -p {tls_server.port} 127.0.0.1; "
        "cd lftp; get from_server.bin; put to_server.bin; cls -1"
    )
    proc = subprocess.run(
        ["lftp", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, f"{out}\n{proc.stderr.decode(errors='replace')}"
    assert sha((tmp_path / "from_server.bin").read_bytes()) == sha(data)
    assert sha((remote / "to_server.bin").read_bytes()) == sha(data[::-1])
    assert "to_server.bin" in out.split()


def test_tls_required_refuses_plain_login_and_clear_data(strict_server):
    plain = ftplib.FTP(timeout=10)
    plain.connect(strict_server.host, strict_server.port)
    try:
        assert send_code(plain, "USER alice") == "530"
    finally:
        plain.close()

    ftp = ftps(strict_server, prot_p=False)
    try:
        # Logged in over TLS, but PROT is still the default, Clear.
        with pytest.raises(ftplib.error_perm) as e:
            ftp.retrbinary("RETR hello.txt", lambda _: None)
        assert code_of(e.value) == "521"
        with pytest.raises(ftplib.error_perm) as e:
            ftp.nlst()
        assert code_of(e.value) == "521"
        assert send_code(ftp, "PBSZ 0") == "200"
        assert send_code(ftp, "PROT C") == "534"
        ftp.prot_p()
        got = io.BytesIO()
        ftp.retrbinary("RETR hello.txt", got.write)
        assert got.getvalue() == b"hello world\n"
    finally:
        ftp.quit()


def test_abor_during_tls_download_keeps_session(tls_server):
    d = tls_server.root / "abor"
    d.mkdir()
    with open(d / "huge.bin", "wb") as f:
        f.truncate(64 * MIB)  # far more than the socket buffers hold
    ftp = ftps(tls_server)
    try:
        ftp.cwd("abor")
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("RETR huge.bin")  # TLS-wrapped data socket
        assert conn.recv(65536)
        ftp.sock.sendall(b"ABOR\r\n")
        codes = [ftp.getline()[:3]]
        if codes[0] == "426":
            codes.append(ftp.getline()[:3])
        conn.close()
        assert codes == ["426", "226"], codes
        assert ftp.voidcmd("NOOP").startswith("200")
        got = io.BytesIO()
        ftp.retrbinary("RETR huge.bin", got.write, rest=64 * MIB - 10)
        assert got.getvalue() == b"\0" * 10
    finally:
        ftp.quit()


def test_abor_during_tls_replace_keeps_old_file(tls_server):
    d = tls_server.root / "abor_up"
    d.mkdir()
    old = os.urandom(MIB)
    (d / "keep.bin").write_bytes(old)
    ftp = ftps(tls_server)
    try:
        ftp.cwd("abor_up")
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("STOR keep.bin")
        conn.sendall(os.urandom(MIB))
        time.sleep(0.2)
        ftp.sock.sendall(b"ABOR\r\n")
        codes = [ftp.getline()[:3]]
        if codes[0] in ("426", "451"):
            codes.append(ftp.getline()[:3])
        conn.close()
        assert codes[-1] == "226", codes
        assert sha((d / "keep.bin").read_bytes()) == sha(old)
        assert ftp.voidcmd("NOOP").startswith("200")
    finally:
        ftp.quit()


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "KEY"],
            "cannot read TLS certificate",
        ),
        (["--tls-cert", "CERT", "--tls-key", "CERT"], "no PEM private key found"),
        (["--tls-cert", "KEY", "--tls-key", "KEY"], "no PEM CERTIFICATE found"),
        (["--tls-cert", "CERT"], "needs tls_key"),
        (["--tls-required"], "invalid tls_required"),
    ],
)
def test_bad_tls_settings_exit_2_with_one_line(cert, tmp_path, args, needle):
    files = {"CERT": str(cert[0]), "KEY": str(cert[1])}
    args = [files.get(a, a) for a in args]
    (tmp_path / "root").mkdir()
    proc = subprocess.run(
        [
            str(ensure_built()), "serve", "--listen", "127.0.0.1:0",
            "--root", str(tmp_path / "root"), "--users", str(tmp_path / "users.toml"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "PRIVATE KEY" not in proc.stderr
