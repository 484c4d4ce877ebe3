"""FTPS and ssh-style host authenticity: every path of the first-contact
question on a pseudo-terminal (yes, no, empty, the pasted fingerprint, wrong
answers), a changed certificate, a downgrade to clear text, batch mode and
no terminal, StrictHostKeyChecking=yes|accept-new|no, a server without TLS,
a certificate valid under a CA, and that TLS really protects the data.

The expected texts are OpenSSH 9.2's (sshconnect.c), checked against a real
ssh on this machine; the servers are real ringftpd instances with their own
openssl-made certificates. The client never reads the real ~/.config.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pexpect
import pytest
from clientharness import (
    Client,
    _running,
    fingerprint_of,
    make_tls_cert,
    ringftpd_has_tls_mode,
    start_ringftpd,
)

PROMPT = "sftp> "
BLOCK_HEAD = (
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
    "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
    "Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n"
)


def name(client: Client, port: int | None = None) -> str:
    return f"[127.0.0.1]:{port or client.server.port}"


def question(client: Client, other: str = "") -> str:
    fp = client.server.fingerprint
    return (
        f"The authenticity of host '{name(client)} ({name(client)})' can't be established.\n"
        f"ECDSA key fingerprint is {fp}.\n"
        + (other or "This key is not known by any other names.\n")
        + "Are you sure you want to continue connecting (yes/no/[fingerprint])? "
    )


def added(client: Client) -> str:
    return f"Warning: Permanently added '{name(client)}' (ECDSA) to the list of known hosts.\n"


def tty(text: str) -> str:
    """Terminal output as plain lines: no CR, no escape sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")


def spawn(client: Client, kh: Path, *extra: str, netrc: bool = True):
    return client.spawn(
        "-o", f"UserKnownHostsFile={kh}", *extra, client.dest,
        hostcheck=False, netrc=netrc,
    )


def run(client: Client, kh: Path | None, *extra: str, stdin: bytes = b"", env=None):
    """ringftp with no controlling terminal at all (new session)."""
    argv = client.args(
        *(["-o", f"UserKnownHostsFile={kh}"] if kh else []), *extra, hostcheck=False
    )
    return subprocess.run(
        argv, input=stdin, capture_output=True, cwd=client.fx.local,
        env=env or client.env(), timeout=60, check=False, start_new_session=True,
    )


def logged_in(client: Client) -> bool:
    """Whether the server saw a login attempt (ringftpd's `login user=...`
    line, ok or failed): the host check must come before USER/PASS."""
    return re.search(r"\blogin\b.*\buser=", client.server.log()) is not None


def other_server(client: Client, **kw):
    srv = start_ringftpd(client.fx, **kw)
    return srv, Client(client.binary, srv, client.fx)


def stop(srv) -> None:
    srv.stop()
    if srv in _running:
        _running.remove(srv)


# --- the first-contact question ------------------------------------------


def test_yes_adds_the_host_before_the_password_is_asked(client, tmp_path):
    kh = tmp_path / "cfg" / "known_hosts"
    child = spawn(client, kh, netrc=False)
    child.expect_exact("(yes/no/[fingerprint])? ")
    assert tty(child.before + child.after) == question(client)
    assert not logged_in(client)
    child.sendline("yes")
    child.expect_exact(f"{client.dest}'s password: ")
    assert tty(child.before) == "yes\n" + added(client)
    child.sendline(client.server.password)
    child.expect_exact(PROMPT)
    child.sendline("bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert logged_in(client)  # the detector the other tests rely on works
    assert kh.read_text() == f"{name(client)} ECDSA {client.server.fingerprint}\n"
    assert kh.stat().st_mode & 0o777 == 0o600
    assert kh.parent.stat().st_mode & 0o777 == 0o700
    # Known now: no question, no warning.
    proc = run(client, kh, "-b", "-", client.dest, stdin=b"pwd\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    assert proc.stdout == b"sftp> pwd\nRemote working directory: /\n"


@pytest.mark.parametrize("answer", ["no", "NO", ""])
def test_no_or_empty_fails_like_ssh(client, tmp_path, answer):
    kh = tmp_path / "known_hosts"
    child = spawn(client, kh)
    child.expect_exact("(yes/no/[fingerprint])? ")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 255
    assert tty(child.before) == f"{answer}\nHost key verification failed.\nConnection closed.\n"
    assert not kh.exists()
    assert not logged_in(client)


def test_wrong_answers_ask_again_then_the_pasted_fingerprint_is_accepted(client, tmp_path):
    kh = tmp_path / "known_hosts"
    child = spawn(client, kh)
    child.expect_exact("(yes/no/[fingerprint])? ")
    again = "Please type 'yes', 'no' or the fingerprint: "
    child.sendline("maybe")
    child.expect_exact(again)
    # A wrong fingerprint is just another wrong answer, as in ssh.
    child.sendline("SHA256:AAAAwrongwrongwrongwrongwrongwrongwrongwrongA")
    child.expect_exact(again)
    child.sendline(client.server.fingerprint)
    child.expect_exact(PROMPT)
    assert tty(child.before) == (
        f"{client.server.fingerprint}\n" + added(client) + "Connected to 127.0.0.1.\n"
    )
    child.sendline("bye")
    child.expect(pexpect.EOF)
    assert kh.read_text() == f"{name(client)} ECDSA {client.server.fingerprint}\n"


def test_default_file_and_other_names(client):
    # No -o: $XDG_CONFIG_HOME/ringftp/known_hosts, shown as ssh shows paths.
    kh = client.fx.home / ".config" / "ringftp" / "known_hosts"
    kh.parent.mkdir(parents=True)
    kh.write_text(f"# comment\n[ftp.example]:2121 ECDSA {client.server.fingerprint}\n")
    child = client.spawn(client.dest, hostcheck=False)
    child.expect_exact("(yes/no/[fingerprint])? ")
    other = (
        "This host key is known by the following other names/addresses:\n"
        "    ~/.config/ringftp/known_hosts:2: [ftp.example]:2121\n"
    )
    assert tty(child.before + child.after) == question(client, other)
    child.sendline("yes")
    child.expect_exact(PROMPT)
    child.sendline("bye")
    child.expect(pexpect.EOF)
    assert kh.read_text().endswith(f"{name(client)} ECDSA {client.server.fingerprint}\n")


# --- changed certificate and downgrade -------------------------------------


def changed_block(kh: Path, fp: str, line: int) -> str:
    return BLOCK_HEAD + (
        "It is also possible that a host key has just been changed.\n"
        "The fingerprint for the ECDSA key sent by the remote host is\n"
        f"{fp}.\n"
        "Please contact your system administrator.\n"
        f"Add correct host key in {kh} to get rid of this message.\n"
        f"Offending ECDSA key in {kh}:{line}\n"
        "  remove with:\n"
        f"  sed -i '{line}d' \"{kh}\"\n"
    )


def test_changed_certificate_is_refused(client, tmp_path):
    # The host entry was accepted for one certificate; the server at that
    # address now shows another.
    kh = tmp_path / "known_hosts"
    old = make_tls_cert(tmp_path, "old")
    kh.write_text(f"[other]:21 ECDSA {old.fingerprint}\n{name(client)} ECDSA {old.fingerprint}\n")
    for strict in ("ask", "yes", "accept-new"):
        child = spawn(client, kh, "-o", f"StrictHostKeyChecking={strict}")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 255
        assert tty(child.before) == (
            changed_block(kh, client.server.fingerprint, 2)
            + f"Host key for {name(client)} has changed and you have requested strict checking.\n"
            "Host key verification failed.\nConnection closed.\n"
        )
    # StrictHostKeyChecking=no: reported, and the password is not sent.
    proc = run(client, kh, "-o", "StrictHostKeyChecking=no", "-b", "-", client.dest, stdin=b"ls\n")
    assert proc.returncode == 255
    assert proc.stdout == b""
    assert proc.stderr.decode() == (
        changed_block(kh, client.server.fingerprint, 2)
        + "Password authentication is disabled to avoid man-in-the-middle attacks.\n"
        f"{client.dest}: Permission denied (password).\nConnection closed.\n"
    )
    assert not logged_in(client)
    assert kh.read_text().count("\n") == 2  # untouched


def test_restarted_server_with_a_new_certificate_is_refused(client, tmp_path):
    kh = tmp_path / "known_hosts"
    proc = run(client, kh, "-o", "StrictHostKeyChecking=accept-new", "-b", "-", client.dest, stdin=b"pwd\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode() == added(client)
    # Another server (new certificate) now answers for the recorded entry.
    srv, other = other_server(client, tls=make_tls_cert(tmp_path, "new"))
    try:
        kh.write_text(kh.read_text().replace(f":{client.server.port} ", f":{srv.port} "))
        proc = run(other, kh, "-b", "-", other.dest, stdin=b"pwd\n")
        assert proc.returncode == 255
        assert proc.stderr.decode() == (
            changed_block(kh, srv.fingerprint, 1)
            + f"Host key for {name(other)} has changed and you have requested strict checking.\n"
            "Host key verification failed.\nConnection closed.\n"
        )
        assert not logged_in(other)
    finally:
        stop(srv)


def test_downgrade_to_clear_text_is_refused(client, tmp_path):
    srv, plain = other_server(client, tls=False)
    try:
        kh = tmp_path / "known_hosts"
        kh.write_text(f"{name(plain)} ECDSA {client.server.fingerprint}\n")
        downgrade = BLOCK_HEAD + (
            "It is also possible that TLS has just been turned off on the server.\n"
            f"The remote host {name(plain)} no longer offers TLS; without it the password\n"
            "and all files would travel in clear.\n"
            "Please contact your system administrator.\n"
            f"If TLS was turned off on purpose, remove the host from {kh}.\n"
            f"Offending ECDSA key in {kh}:1\n"
            "  remove with:\n"
            f"  sed -i '1d' \"{kh}\"\n"
        )
        child = spawn(plain, kh)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 255
        assert tty(child.before) == downgrade + (
            f"TLS for {name(plain)} is gone and you have requested strict checking.\n"
            "Host key verification failed.\nConnection closed.\n"
        )
        proc = run(plain, kh, "-o", "StrictHostKeyChecking=no", "-b", "-", plain.dest, stdin=b"ls\n")
        assert proc.returncode == 255
        assert proc.stderr.decode() == downgrade + (
            "Password authentication is disabled to avoid man-in-the-middle attacks.\n"
            f"{plain.dest}: Permission denied (password).\nConnection closed.\n"
        )
        assert not logged_in(plain)
    finally:
        stop(srv)


# --- no terminal, batch mode, StrictHostKeyChecking --------------------------


def test_batch_mode_and_no_terminal_fail_on_an_unknown_host(client, tmp_path):
    kh = tmp_path / "known_hosts"
    fail = b"Host key verification failed.\nConnection closed.\n"
    # sftp -b: BatchMode=yes, no question at all.
    proc = run(client, kh, "-b", "-", client.dest, stdin=b"pwd\n")
    assert (proc.returncode, proc.stdout, proc.stderr) == (255, b"", fail)
    # Commands on stdin and no terminal to ask on.
    proc = run(client, kh, client.dest, stdin=b"pwd\n")
    assert (proc.returncode, proc.stdout, proc.stderr) == (255, b"", fail)
    # -o BatchMode=yes on a terminal: no question either.
    child = spawn(client, kh, "-o", "batchmode yes")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 255
    assert tty(child.before) == fail.decode()
    assert not kh.exists()
    assert not logged_in(client)


@pytest.mark.parametrize("strict", ["accept-new", "no", "NO", "off"])
def test_accept_new_and_no_add_the_host_in_batch_mode(client, tmp_path, strict):
    kh = tmp_path / "known_hosts"
    proc = run(client, kh, f"-oStrictHostKeyChecking={strict}", "-b", "-", client.dest, stdin=b"pwd\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode() == added(client)
    assert proc.stdout == b"sftp> pwd\nRemote working directory: /\n"
    assert kh.read_text() == f"{name(client)} ECDSA {client.server.fingerprint}\n"


def test_strict_yes_refuses_an_unknown_host(client, tmp_path):
    kh = tmp_path / "known_hosts"
    child = spawn(client, kh, "-o", "StrictHostKeyChecking=yes")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 255
    assert tty(child.before) == (
        f"No ECDSA host key is known for {name(client)} and you have requested strict checking.\n"
        "Host key verification failed.\nConnection closed.\n"
    )
    assert not kh.exists()


def test_bad_options_are_refused_as_ssh_refuses_them(client, tmp_path):
    for opt, msg in [
        ("Foo=bar", "command-line: line 0: Bad configuration option: foo"),
        ("StrictHostKeyChecking=maybe", 'command-line line 0: unsupported option "maybe".'),
    ]:
        proc = run(client, None, "-o", opt, client.dest)
        assert proc.returncode == 255
        assert proc.stderr.decode() == f"{msg}\nConnection closed.\n"
    # ssh options that mean nothing over FTP are accepted.
    proc = run(
        client, None, "-o", "ConnectTimeout=5", "-o", f"UserKnownHostsFile={client.known_hosts}",
        "-b", "-", client.dest, stdin=b"pwd\n",
    )
    assert proc.returncode == 0, proc.stderr


# --- servers without TLS, and TLS that must really be there -----------------


def test_server_without_tls_gets_one_warning_line(client, tmp_path):
    srv, plain = other_server(client, tls=False)
    try:
        kh = tmp_path / "known_hosts"
        (plain.fx.local / "up.bin").write_bytes(os.urandom(300_000))
        for extra in ([], ["-o", "StrictHostKeyChecking=yes"]):
            proc = run(plain, kh, *extra, "-b", "-", plain.dest, stdin=b"put up.bin\nget up.bin back.bin\n")
            assert proc.returncode == 0, proc.stderr
            assert proc.stderr.decode() == (
                f"Warning: {name(plain)} does not offer TLS; the password will be sent in clear.\n"
            )
        assert (plain.fx.remote / "up.bin").read_bytes() == (plain.fx.local / "up.bin").read_bytes()
        assert (plain.fx.local / "back.bin").read_bytes() == (plain.fx.local / "up.bin").read_bytes()
        assert not kh.exists()  # nothing to remember
    finally:
        stop(srv)


def test_transfers_are_protected_when_the_server_requires_tls(client):
    # A server that refuses login before AUTH TLS and transfers without
    # PROT P: everything below only works over TLS.
    required = ["--tls", "required"] if ringftpd_has_tls_mode() else ["--tls-required"]
    srv, tls_only = other_server(client, extra_args=required)
    try:
        data = os.urandom(3 * 1024 * 1024 + 17)
        (tls_only.fx.local / "big.up").write_bytes(data)
        proc = tls_only.run(
            "-b", "-", tls_only.dest,
            stdin=b"put big.up\nget big.up big.down\nls -1 big.up\n",
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == b""
        assert proc.stdout.endswith(b"sftp> ls -1 big.up\nbig.up\n")
        assert (tls_only.fx.remote / "big.up").read_bytes() == data
        down = tls_only.fx.local / "big.down"
        assert down.read_bytes() == data
        # Resume (REST) over a protected data connection.
        with open(down, "r+b") as f:
            f.truncate(1_000_000)
        proc = tls_only.run("-b", "-", tls_only.dest, stdin=b"reget big.up big.down\n")
        assert proc.returncode == 0, proc.stderr
        assert hashlib.sha256(down.read_bytes()).digest() == hashlib.sha256(data).digest()
    finally:
        stop(srv)


def test_segmented_transfers_over_tls(client):
    # Four parts over four protected connections, the extra ones logging in
    # (AUTH TLS, PROT P, the pinned certificate) while part 0 already moves.
    required = ["--tls", "required"] if ringftpd_has_tls_mode() else ["--tls-required"]
    srv, tls_only = other_server(client, extra_args=required)
    try:
        data = os.urandom(6 * 1024 * 1024 + 17)
        (tls_only.fx.local / "seg.up").write_bytes(data)
        proc = tls_only.run(
            "--parallel", "4", "--parallel-min", "1", "-b", "-", tls_only.dest,
            stdin=b"put seg.up\nget seg.up seg.down\n",
        )
        assert proc.returncode == 0, proc.stderr
        assert (tls_only.fx.remote / "seg.up").read_bytes() == data
        assert (tls_only.fx.local / "seg.down").read_bytes() == data
        assert not [p for p in os.listdir(tls_only.fx.remote) if p.endswith(".part")]
    finally:
        stop(srv)


def test_many_protected_transfers_on_one_connection(client):
    # rustls offers each TLS 1.3 ticket once; the control handshake brings
    # two. Every protected data connection must bring the next one, or with
    # `--tls required` the third transfer on a connection gets 522.
    required = ["--tls", "required"] if ringftpd_has_tls_mode() else ["--tls-required"]
    srv, tls_only = other_server(client, extra_args=required)
    try:
        # Uploads first: they must carry the next tickets too.
        tree = tls_only.fx.local / "src" / "many"
        tree.mkdir(parents=True)
        files = {f"f{i:02}": os.urandom(4096 + i) for i in range(12)}
        for n, b in files.items():
            (tree / n).write_bytes(b)
        proc = tls_only.run(
            "--parallel", "1", "-b", "-", tls_only.dest,
            stdin=b"lcd src\nput -r many\nlcd ..\nget -r many got\nls -l many\nget many/f00 one\n",
        )
        assert proc.returncode == 0, proc.stderr
        for n, b in files.items():
            assert (tls_only.fx.remote / "many" / n).read_bytes() == b, n
            assert (tls_only.fx.local / "got" / n).read_bytes() == b, n
        assert (tls_only.fx.local / "one").read_bytes() == files["f00"]
        assert "f11" in proc.stdout.decode()
        assert "reuse required" not in srv.log()
    finally:
        stop(srv)


def test_certificate_valid_under_a_ca_needs_no_question(client, tmp_path):
    # A private CA, trusted through SSL_CERT_FILE (the standard way to name
    # the system's roots), and a leaf for "localhost" signed by it.
    ca_key, ca = tmp_path / "ca-key.pem", tmp_path / "ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=ringftp test CA", "-days", "30",
         "-keyout", str(ca_key), "-out", str(ca)],
        check=True, capture_output=True,
    )
    key, csr, leaf = tmp_path / "leaf-key.pem", tmp_path / "leaf.csr", tmp_path / "leaf.pem"
    subprocess.run(
        ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr)],
        check=True, capture_output=True,
    )
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=DNS:localhost\n")
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "30", "-extfile", str(ext), "-out", str(leaf)],
        check=True, capture_output=True,
    )
    from clientharness import TlsCert

    srv, ca_client = other_server(client, tls=TlsCert(leaf, key, fingerprint_of(leaf)))
    try:
        kh = tmp_path / "known_hosts"
        env = dict(ca_client.env(), SSL_CERT_FILE=str(ca))
        dest = f"{srv.user}@localhost"
        (ca_client.fx.home / ".netrc").write_text(f"machine localhost login {srv.user} password {srv.password}\n")
        argv = [str(client.binary), "-P", str(srv.port), "-o", f"UserKnownHostsFile={kh}", "-b", "-", dest]
        proc = subprocess.run(argv, input=b"pwd\n", capture_output=True, cwd=ca_client.fx.local,
                              env=env, timeout=60, start_new_session=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == b""
        # Recorded as a TLS host, with no key pinned.
        assert kh.read_text() == f"[localhost]:{srv.port} CA system-roots\n"
        # Without the CA the same certificate is just unknown.
        proc = subprocess.run(argv, input=b"pwd\n", capture_output=True, cwd=ca_client.fx.local,
                              env=ca_client.env(), timeout=60, start_new_session=True)
        assert proc.returncode == 255
        assert b"REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr
        assert f"Offending CA key in {kh}:1\n".encode() in proc.stderr
    finally:
        stop(srv)
