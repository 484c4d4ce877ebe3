"""FTPS, RFC 4217 explicit TLS: AUTH TLS on the control connection, PBSZ and
PROT P for the data connections.

ringftpd offers TLS by default with a self-signed ECDSA certificate it makes
on its first start (like an ssh host key); these tests check that pair (files,
modes, fingerprint against an independent computation, reuse, corrupt files),
real clients against it (ftplib.FTP_TLS, curl --ssl-reqd, lftp ssl-force),
--tls off|optional|required and the --tls-required alias, the data-connection
session-reuse rule of required mode, and an operator's own certificate
(--tls-cert/--tls-key, made by the openssl CLI)."""

from __future__ import annotations

import base64
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
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from ringftptest import (
    PASSWORDS,
    ReusingFTP_TLS,
    add_user,
    ensure_built,
    start_server,
    tls_client_context,
)

MIB = 1024 * 1024

needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the openssl CLI makes the certificate"
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ssh_fingerprint(cert_pem: bytes) -> str:
    """ssh's SHA256: text of the certificate's SubjectPublicKeyInfo, computed
    with the cryptography package (not ringftpd's code)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(spki).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def ringftpd(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ensure_built()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    """An operator's self-signed RSA certificate and key (PEM), two days."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI makes the certificate")
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
def tls_server(tmp_path_factory):
    """The default: TLS optional, with the certificate ringftpd made itself."""
    srv = start_server(tmp_path_factory.mktemp("tlssrv"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """tls = "required" from the TOML file, self-made certificate."""
    srv = start_server(
        tmp_path_factory.mktemp("tlsstrict"), config={"tls": "required"}
    )
    yield srv
    srv.stop()


def client_context() -> ssl.SSLContext:
    return tls_client_context()


def ftps(srv, user: str | None = "alice", prot_p: bool = True, cls=ftplib.FTP_TLS,
         context: ssl.SSLContext | None = None) -> ftplib.FTP_TLS:
    """An FTP_TLS session: AUTH TLS, then login (and PBSZ 0 + PROT P)."""
    ftp = cls(context=context or client_context(), timeout=15, encoding="utf-8")
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


def refused_transfer(ftp: ftplib.FTP_TLS, cmd: str, send: bytes = b"") -> str:
    """Runs a transfer the server refuses after its 150 (the TLS handshake
    comes after it); returns the final reply. The client side of the data
    connection just sees it closed, mid-handshake or after."""
    conn = None
    try:
        conn = ftp.transfercmd(cmd)
        if send:
            conn.sendall(send)
        while conn.recv(65536):
            pass
    except OSError:
        pass
    finally:
        if conn is not None:
            conn.close()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.voidresp()
    return str(e.value)


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


def lftp(srv, script: str, cwd: Path) -> str:
    """Runs an lftp script with TLS forced on control and data."""
    full = (
        "set ssl:verify-certificate no; set ftp:ssl-force true; "
        "set ftp:ssl-protect-data true; set ftp:ssl-allow true; "
        "set net:max-retries 1; set net:timeout 15; set cmd:fail-exit yes; "
        f"open -u alice,{PASSWORDS['alice']} -p {srv.port} 127.0.0.1; " + script
    )
    proc = subprocess.run(
        ["lftp", "-c", full], cwd=cwd, capture_output=True, timeout=60, check=False
    )
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, f"{out}\n{proc.stderr.decode(errors='replace')}"
    return out


# --- the self-made certificate ---------------------------------------------


def test_first_start_makes_cert_and_key_and_prints_fingerprint(tmp_path):
    srv = start_server(tmp_path / "first")
    try:
        cert, key = srv.cert, srv.users.parent / "tls-key.pem"
        assert cert.parent == srv.users.parent
        assert key.stat().st_mode & 0o777 == 0o600
        assert cert.stat().st_mode & 0o077 in (0o044, 0o004, 0o040, 0)  # no write for others
        pem = cert.read_bytes()
        assert b"-----BEGIN CERTIFICATE-----" in pem
        assert b"PRIVATE KEY" in key.read_bytes()
        want = ssh_fingerprint(pem)
        parsed = x509.load_pem_x509_certificate(pem)
        assert parsed.public_key().curve.name == "secp256r1"  # ECDSA P-256
        sans = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in sans.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
        assert "127.0.0.1" in ips and "::1" in ips, ips
        assert parsed.not_valid_after_utc.year >= 9999
        log = srv.log()
        assert f"TLS certificate created: {cert}" in log, log
        assert f"ECDSA key fingerprint is {want}" in log, log
        assert "BEGIN" not in log, "no key material in the output"
        # `ringftpd fingerprint` shows the same, ssh-keygen -l style.
        proc = ringftpd("fingerprint", "--users", str(srv.users))
        assert proc.returncode == 0, proc
        assert proc.stdout == f"256 {want} {cert} (ECDSA)\n"
        # And it is the certificate a client gets in the TLS handshake.
        ftp = ftps(srv, prot_p=False)
        try:
            der = ftp.sock.getpeercert(binary_form=True)
            assert ssh_fingerprint(ssl.DER_cert_to_PEM_cert(der).encode()) == want
        finally:
            ftp.quit()
    finally:
        srv.stop()
    # A second start reuses the pair: same files, same fingerprint, no "created".
    key_bytes = key.read_bytes()
    again = start_server(tmp_path / "first2", users=srv.users)
    try:
        assert cert.read_bytes() == pem and key.read_bytes() == key_bytes
        log = again.log()
        assert "created" not in log, log
        assert f"TLS: ECDSA key fingerprint is {want}" in log, log
    finally:
        again.stop()


def test_fingerprint_without_certificate_exits_1(tmp_path):
    proc = ringftpd("fingerprint", "--users", str(tmp_path / "users.toml"))
    assert proc.returncode == 1, proc
    assert "no TLS certificate" in proc.stderr and str(tmp_path) in proc.stderr
    assert proc.stdout == ""


def damage(how: str, cert: Path, key: Path) -> None:
    if how == "garbage":
        cert.write_text("garbage\n")
    elif how == "truncated":
        cert.write_bytes(cert.read_bytes()[:200])
    elif how == "no key":
        key.unlink()
    elif how == "bad key":
        key.write_text("not a key\n")
    elif how == "unreadable":
        cert.chmod(0)


@pytest.mark.parametrize(
    "how, needle",
    [
        ("garbage", "no PEM CERTIFICATE found"),
        ("truncated", "TLS certificate"),
        ("no key", "cannot read TLS key"),
        ("bad key", "no PEM private key found"),
        ("unreadable", "cannot read TLS certificate"),
    ],
)
def test_damaged_pair_is_an_error_never_replaced(tmp_path, how, needle):
    if how == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads a mode 000 file")
    srv = start_server(tmp_path / "a")
    srv.stop()
    cert, key = srv.cert, srv.users.parent / "tls-key.pem"
    damage(how, cert, key)
    before = cert.read_bytes() if os.access(cert, os.R_OK) else None
    proc = ringftpd(
        "serve", "--listen", "127.0.0.1:0", "--root", str(srv.root),
        "--users", str(srv.users),
    )
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert str(cert.parent) in lines[0], "names the file"
    assert "created" not in proc.stdout
    if before is not None:
        assert cert.read_bytes() == before, "never silently regenerated"
    if how != "no key":
        assert key.exists()


def test_tls_off_answers_502(make_server):
    srv = make_server(extra_args=["--tls", "off"])
    ftp = srv.ftp(user=None)
    try:
        feat = ftp.sendcmd("FEAT")
        assert "AUTH TLS" not in feat and "PROT" not in feat
        assert send_code(ftp, "AUTH TLS") == "502"
        assert send_code(ftp, "PBSZ 0") == "503"
        ftp.login("alice", PASSWORDS["alice"])  # still plain and usable
    finally:
        ftp.quit()
    assert not srv.cert.exists(), "off makes no certificate"
    assert "TLS off" in srv.log()


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


def test_prefers_aes_128_gcm(tls_server):
    ftp = ftps(tls_server, prot_p=False)
    try:
        name, version, _ = ftp.sock.cipher()
        assert version == "TLSv1.3" and name == "TLS_AES_128_GCM_SHA256", (name, version)
    finally:
        ftp.quit()
    ctx = client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ftp = ftps(tls_server, prot_p=False, context=ctx)
    try:
        name, version, _ = ftp.sock.cipher()
        assert version == "TLSv1.2" and "AES128-GCM" in name, (name, version)
    finally:
        ftp.quit()


# --- clients against the self-made certificate ------------------------------


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


def test_tls_required_refuses_plain_login_and_clear_data(strict_server):
    plain = ftplib.FTP(timeout=10)
    plain.connect(strict_server.host, strict_server.port)
    try:
        assert send_code(plain, "USER alice") == "530"
    finally:
        plain.close()

    ftp = ftps(strict_server, prot_p=False, cls=ReusingFTP_TLS)
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


@pytest.mark.parametrize("tls12", [False, True], ids=["tls13", "tls12"])
def test_required_data_connections_must_resume_this_session(strict_server, tls12):
    ctx = client_context()
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    data = os.urandom(MIB + 3)
    # With reuse (as curl and lftp do): every transfer works, many times over.
    ftp = ftps(strict_server, cls=ReusingFTP_TLS, context=ctx)
    other = ftps(strict_server, cls=ReusingFTP_TLS, context=ctx)
    try:
        name = f"reuse-{int(tls12)}.bin"
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))
        for _ in range(3):
            got = io.BytesIO()
            ftp.retrbinary(f"RETR {name}", got.write)
            assert sha(got.getvalue()) == sha(data)
        assert name in ftp.nlst()
        # Another control connection's TLS session (same client, same IP,
        # same SSLContext) is not this one's: refused.
        ftp.data_session = other.sock.session
        ftp.voidcmd("TYPE I")
        reply = refused_transfer(ftp, f"RETR {name}")
        assert reply.startswith("522") and "reuse" in reply, reply
        # Refused before a byte was taken: the file is as it was.
        reply = refused_transfer(ftp, f"STOR {name}", send=b"theft" * 1000)
        assert reply.startswith("522"), reply
        ftp.data_session = None
        assert send_code(ftp, "NOOP") == "200"
        assert sha((strict_server.root / name).read_bytes()) == sha(data)
        got = io.BytesIO()
        ftp.retrbinary(f"RETR {name}", got.write)  # usable again
        assert sha(got.getvalue()) == sha(data)
    finally:
        ftp.quit()
        other.quit()
    # Plain ftplib starts a fresh TLS session on the data connection: refused.
    ftp = ftps(strict_server, context=ctx)
    try:
        ftp.voidcmd("TYPE I")
        reply = refused_transfer(ftp, "RETR hello.txt")
        assert reply.startswith("522"), reply
        assert send_code(ftp, "NOOP") == "200"
    finally:
        ftp.quit()


def test_optional_mode_accepts_data_without_reuse(tls_server):
    ftp = ftps(tls_server)  # plain FTP_TLS: no session= on the data connection
    try:
        got = io.BytesIO()
        ftp.retrbinary("RETR hello.txt", got.write)
        assert got.getvalue() == b"hello world\n"
    finally:
        ftp.quit()


def test_curl_and_lftp_in_required_mode(strict_server, tmp_path):
    """Both reuse the control session on their data connections."""
    (strict_server.root / "req").mkdir()
    data = os.urandom(MIB + 9)
    local = tmp_path / "up.bin"
    local.write_bytes(data)
    url = f"ftp://alice:{PASSWORDS['alice']}@127.0.0.1:{strict_server.port}/req/"
    curl("-T", str(local), url + "up.bin")
    out = tmp_path / "down.bin"
    curl("-o", str(out), url + "up.bin")
    assert sha(out.read_bytes()) == sha(data)
    assert b"up.bin" in curl(url).stdout
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "a.bin").write_bytes(data[::-1])
    listing = lftp(
        strict_server,
        "cd req; put a.bin; get up.bin -o got.bin; get a.bin -o a2.bin; cls -1",
        tmp_path / "l",
    )
    assert "a.bin" in listing.split() and "up.bin" in listing.split()
    assert sha((tmp_path / "l" / "got.bin").read_bytes()) == sha(data)
    assert sha((tmp_path / "l" / "a2.bin").read_bytes()) == sha(data[::-1])


def test_tls_required_alias(make_server):
    srv = make_server(extra_args=["--tls-required"])
    plain = ftplib.FTP(timeout=10)
    plain.connect(srv.host, srv.port)
    try:
        assert send_code(plain, "USER alice") == "530"
    finally:
        plain.close()
    ftp = ftps(srv, cls=ReusingFTP_TLS)
    try:
        got = io.BytesIO()
        ftp.retrbinary("RETR hello.txt", got.write)
        assert got.getvalue() == b"hello world\n"
    finally:
        ftp.quit()
    assert "mode=Required" in srv.log()


# --- an operator's certificate ---------------------------------------------


@needs_openssl
def test_given_certificate_is_used_and_fingerprinted(make_server, cert):
    srv = make_server(
        config={"tls_cert": str(cert[0]), "tls_key": str(cert[1])},
    )
    assert not srv.cert.exists(), "no self-signed pair when one is given"
    want = ssh_fingerprint(cert[0].read_bytes())
    proc = ringftpd("fingerprint", "--tls-cert", str(cert[0]))
    assert proc.stdout == f"2048 {want} {cert[0]} (RSA)\n", proc
    proc = ringftpd("fingerprint", "--config", str(srv.workdir / "ringftpd.toml"))
    assert proc.stdout == f"2048 {want} {cert[0]} (RSA)\n", proc
    assert f"TLS: RSA key fingerprint is {want}" in srv.log()
    ftp = ftps(srv)
    try:
        der = ftp.sock.getpeercert(binary_form=True)
        assert ssh_fingerprint(ssl.DER_cert_to_PEM_cert(der).encode()) == want
        data = os.urandom(MIB)
        ftp.storbinary("STOR given.bin", io.BytesIO(data))
        got = io.BytesIO()
        ftp.retrbinary("RETR given.bin", got.write)
        assert sha(got.getvalue()) == sha(data)
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
        (["--tls", "maybe"], "invalid value 'maybe'"),
    ],
)
def test_bad_tls_settings_exit_2_with_one_line(cert, tmp_path, args, needle):
    files = {"CERT": str(cert[0]), "KEY": str(cert[1])}
    args = [files.get(a, a) for a in args]
    (tmp_path / "root").mkdir()
    proc = ringftpd(
        "serve", "--listen", "127.0.0.1:0",
        "--root", str(tmp_path / "root"), "--users", str(tmp_path / "users.toml"),
        *args,
    )
    assert proc.returncode == 2, proc
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert needle in lines[0], proc.stderr
    if "--tls" not in args:
        assert len(lines) == 1, proc.stderr
    assert "PRIVATE KEY" not in proc.stderr
