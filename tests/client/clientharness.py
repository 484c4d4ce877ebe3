"""Machinery for the ringftp (client) black-box suite (fixtures in conftest.py).
Self-contained: finds or builds the binaries, builds the scenario fixture,
starts private servers.

Binaries: ``$RINGFTP`` or ``<repo>/target/debug/ringftp``; ``$RINGFTPD`` or
``<repo>/target/debug/ringftpd``. Unless the variable is set, each is brought
up to date once per run with ``cargo build -p NAME``.

Servers, each on 127.0.0.1 with an OS-chosen port, stopped at teardown:
  * ``ringftpd`` (fixture ``ftpd``): serves a fresh copy of the scenario
    fixture (client/tests/scenarios/mkfixture.sh) to the user ``alice``;
  * ``vsftpd`` (fixture ``vsftpd``): own config in a temp dir, a Linux user
    created with useradd/chpasswd whose chrooted home is the fixture's remote
    tree (skipped with a reason unless root and vsftpd is installed).

Both servers speak FTPS with a certificate made per fixture
(``make_tls_cert``: openssl, ECDSA P-256). The client is run with
``-o UserKnownHostsFile=FIXTURE/known_hosts`` holding that certificate's
fingerprint for the server's ``[127.0.0.1]:PORT``, so it verifies the host
silently and its transcripts stay sftp's (the host-check tests turn that off
with ``hostcheck=False`` and pass their own ``-o``).

The client is run with a private ``$HOME`` and ``$XDG_CONFIG_HOME`` (so no
real ``~/.netrc``, history or known_hosts is touched), ``LC_ALL=C``,
``TZ=UTC``, and its working directory is the fixture's local tree, as in
client/tests/reference/record.sh.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import base64
import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REF_DIR = REPO / "client" / "tests" / "reference"
SCEN_DIR = REPO / "client" / "tests" / "scenarios"
sys.path.insert(0, str(REF_DIR))

import normalize
import pty_run  # noqa: F401  (client/tests/reference/pty_run.py)

USER = "alice"
PASSWORD = "alice-Secret-1"
LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
START_TIMEOUT = 20.0

_build_lock = threading.Lock()
_built: set[str] = set()


def _binary(package: str, binary: str, env_var: str) -> Path:
    env = os.environ.get(env_var)
    if env:
        path = Path(env)
        if not path.exists():
            pytest.fail(f"${env_var}={env} does not exist")
        return path
    path = REPO / "target" / "debug" / binary
    with _build_lock:
        # Always (once per run) so the tests never use a stale binary; cargo
        # does nothing when it is up to date.
        if package not in _built:
            proc = subprocess.run(
                ["cargo", "build", "-p", package],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                pytest.fail(f"cargo build -p {package} failed:\n{proc.stderr[-4000:]}")
        _built.add(package)
    if not path.exists():
        pytest.fail(f"{binary} not found at {path}")
    return path


def ringftp_bin() -> Path:
    return _binary("ringftp", "ringftp", "RINGFTP")


def ringftpd_bin() -> Path:
    return _binary("ringftpd", "ringftpd", "RINGFTPD")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TlsCert:
    """A certificate and key (PEM) and ssh's fingerprint of the key."""

    cert: Path
    key: Path
    fingerprint: str  # SHA256:base64, as ringftp_proto::fingerprint


def make_tls_cert(directory: Path, name: str = "server", cn: str = "localhost") -> TlsCert:
    """A self-signed ECDSA P-256 certificate made with openssl."""
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", f"/CN={cn}", "-days", "30",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return TlsCert(cert, key, fingerprint_of(cert))


def fingerprint_of(cert: Path) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, unpadded base64 (ssh's form)."""
    pub = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"],
        check=True, capture_output=True,
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=pub, check=True, capture_output=True,
    ).stdout
    digest = base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


_tls_flag: bool | None = None


def ringftpd_has_tls_mode() -> bool:
    """Whether ringftpd has ``--tls off|optional|required`` (then TLS is on
    by default and ``--tls off`` is how a test gets a clear-only server)."""
    global _tls_flag
    if _tls_flag is None:
        out = subprocess.run(
            [str(ringftpd_bin()), "serve", "--help"], capture_output=True, text=True
        ).stdout
        _tls_flag = re.search(r"--tls <", out) is not None
    return _tls_flag


@dataclass
class Fixture:
    """The scenario trees: ``remote`` (served) and ``local`` (client cwd)."""

    base: Path
    remote: Path
    local: Path
    home: Path  # the client's $HOME

    def tree(self) -> str:
        return normalize.tree(str(self.remote), str(self.local))


def make_fixture(base: Path) -> Fixture:
    base.mkdir(parents=True, exist_ok=True)
    remote, local, home = base / "remote", base / "local", base / "home"
    for d in (remote, local, home):
        d.mkdir(mode=0o755)
        os.chmod(d, 0o755)
    subprocess.run(
        [str(SCEN_DIR / "mkfixture.sh"), str(remote), str(local)], check=True
    )
    return Fixture(base, remote, local, home)


@dataclass
class FtpServer:
    """A running FTP server on 127.0.0.1 and the account the client uses."""

    kind: str
    proc: subprocess.Popen
    port: int
    user: str
    password: str
    log_path: Path
    # ssh-style fingerprint of the server's certificate; None without TLS.
    fingerprint: str | None = None

    host: str = "127.0.0.1"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


_running: list[FtpServer] = []


def start_ringftpd(
    fx: Fixture,
    extra_args: list[str] | None = None,
    tls: TlsCert | None | bool = True,
) -> FtpServer:
    """ringftpd on an OS-chosen port; ``tls``: True for the fixture's own
    certificate, a TlsCert for that one, False for a server without TLS."""
    binary = ringftpd_bin()
    if tls is True:
        tls = fx_cert(fx)
    tls_args: list[str] = []
    if tls:
        tls_args = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    elif ringftpd_has_tls_mode():
        tls_args = ["--tls", "off"]
    users = fx.base / "users.toml"
    if not users.exists():
        proc = subprocess.run(
            [
                str(binary),
                "user",
                "add",
                USER,
                "--users",
                str(users),
                "--password-stdin",
            ],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if proc.returncode != 0:
            pytest.fail(f"ringftpd user add failed ({proc.returncode}): {proc.stderr}")
    log_path = fx.base / "ringftpd.log"
    args = [
        str(binary),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--root",
        str(fx.remote),
        "--users",
        str(users),
        *tls_args,
        *(extra_args or []),
    ]
    env = dict(os.environ)
    env.setdefault("RINGFTPD_LOG", "info")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        m = LISTEN_RE.search(log_path.read_text(errors="replace"))
        if m:
            srv = FtpServer(
                "ringftpd",
                proc,
                int(m.group(1)),
                USER,
                PASSWORD,
                log_path,
                tls.fingerprint if tls else None,
            )
            _running.append(srv)
            return srv
        if proc.poll() is not None:
            pytest.fail(f"ringftpd exited ({proc.returncode}):\n{log_path.read_text()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"ringftpd printed no `listening on` line:\n{log_path.read_text()}")


VSFTPD_USER = "ringcli"


def _ensure_linux_user(name: str, password: str, home: Path) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--no-create-home",
                "--shell",
                "/bin/bash",
                "--home-dir",
                str(home),
                name,
            ],
            check=True,
        )
    else:
        subprocess.run(["usermod", "--home", str(home), name], check=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)


def fx_cert(fx: Fixture) -> TlsCert:
    """The fixture's server certificate (made once per fixture)."""
    cert = fx.base / "server-cert.pem"
    if cert.exists():
        return TlsCert(cert, fx.base / "server-key.pem", fingerprint_of(cert))
    return make_tls_cert(fx.base)


def start_vsftpd(fx: Fixture, tls: bool = True) -> FtpServer:
    """vsftpd; with ``tls`` as ``ssl_enable=YES`` with its defaults
    (``require_ssl_reuse=YES``, forced TLS for logins and data)."""
    binary = shutil.which("vsftpd") or "/usr/sbin/vsftpd"
    if not os.path.exists(binary):
        pytest.skip("vsftpd is not installed")
    if os.geteuid() != 0:
        pytest.skip(
            "the vsftpd scenario needs root (useradd, chpasswd, vsftpd's chroot)"
        )
    _ensure_linux_user(VSFTPD_USER, PASSWORD, fx.remote)
    # The account owns its tree; its home is the served root (chrooted, so
    # the client sees it at "/" as it sees ringftpd's root).
    subprocess.run(["chown", "-R", f"{VSFTPD_USER}:", str(fx.remote)], check=True)
    port = free_port()
    pasv = free_port()
    empty = fx.base / "vsftpd-empty"
    empty.mkdir()
    log_path = fx.base / "vsftpd.log"
    conf = fx.base / "vsftpd.conf"
    conf.write_text(
        "\n".join(
            [
                "listen=YES",
                "listen_ipv6=NO",
                "listen_address=127.0.0.1",
                f"listen_port={port}",
                "background=NO",
                "anonymous_enable=NO",
                "local_enable=YES",
                "write_enable=YES",
                "local_umask=022",
                "chroot_local_user=YES",
                "allow_writeable_chroot=YES",
                "seccomp_sandbox=NO",
                "pasv_enable=YES",
                f"pasv_min_port={pasv}",
                f"pasv_max_port={pasv + 20}",
                "pam_service_name=vsftpd",
                "check_shell=NO",
                f"secure_chroot_dir={empty}",
                "xferlog_enable=YES",
                f"vsftpd_log_file={log_path}",
                "dual_log_enable=YES",
                "log_ftp_protocol=YES",
                "use_localtime=NO",
                *(
                    [
                        "ssl_enable=YES",
                        f"rsa_cert_file={fx_cert(fx).cert}",
                        f"rsa_private_key_file={fx_cert(fx).key}",
                        # vsftpd 3.0's default list is DES-CBC3-SHA only.
                        "ssl_ciphers=HIGH",
                    ]
                    if tls
                    else []
                ),
                "",
            ]
        )
    )
    if not Path("/etc/pam.d/vsftpd").exists():
        pytest.skip("/etc/pam.d/vsftpd is missing (vsftpd's PAM service)")
    proc = subprocess.Popen(
        [binary, str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(fx.base / "vsftpd.stderr", "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"vsftpd exited ({proc.returncode}): {(fx.base / 'vsftpd.stderr').read_text()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"220"):
                    break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("vsftpd did not answer")
    srv = FtpServer(
        "vsftpd",
        proc,
        port,
        VSFTPD_USER,
        PASSWORD,
        log_path,
        fx_cert(fx).fingerprint if tls else None,
    )
    _running.append(srv)
    return srv


@dataclass
class Client:
    """How to run ringftp against one server with one fixture."""

    binary: Path
    server: FtpServer
    fx: Fixture

    @property
    def dest(self) -> str:
        return f"{self.server.user}@{self.server.host}"

    @property
    def netrc(self) -> Path:
        path = self.fx.base / "netrc"
        if not path.exists():
            path.write_text(
                f"machine {self.server.host} login {self.server.user} "
                f"password {self.server.password}\n"
            )
            path.chmod(0o600)
        return path

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k in ("PATH", "RUST_BACKTRACE", "LD_LIBRARY_PATH")
        }
        env.update(
            HOME=str(self.fx.home),
            XDG_CONFIG_HOME=str(self.fx.home / ".config"),
            USER=self.server.user,
            XDG_STATE_HOME=str(self.fx.home / ".local" / "state"),
            LC_ALL="C",
            TZ="UTC",
            TERM="xterm",  # as record.sh
        )
        return env

    @property
    def known_hosts(self) -> Path:
        """The harness's known_hosts: the server's fingerprint, so the host
        check passes without a word."""
        path = self.fx.base / "known_hosts"
        if self.server.fingerprint:
            line = (
                f"[{self.server.host}]:{self.server.port} ECDSA "
                f"{self.server.fingerprint}\n"
            )
            if not path.exists() or line not in path.read_text():
                with open(path, "a") as f:
                    f.write(line)
        else:
            path.touch()
        return path

    def args(
        self,
        *extra: str,
        netrc: bool = True,
        port: int | None = None,
        hostcheck: bool = True,
    ) -> list[str]:
        argv = [str(self.binary), "-P", str(port or self.server.port)]
        if hostcheck:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if netrc:
            argv += ["--netrc-file", str(self.netrc)]
        return argv + list(extra)

    def run(self, *extra: str, stdin: bytes | None = None, timeout: float = 60, **kw):
        """Runs ringftp to completion without a terminal; returns CompletedProcess."""
        return subprocess.run(
            self.args(*extra, **kw),
            input=stdin if stdin is not None else b"",
            capture_output=True,
            cwd=self.fx.local,
            env=self.env(),
            timeout=timeout,
            check=False,
        )

    def spawn(
        self,
        *extra: str,
        netrc: bool = True,
        port: int | None = None,
        timeout=30,
        hostcheck: bool = True,
    ):
        """Starts ringftp on a pseudo-terminal (80x24); returns the pexpect child."""
        import pexpect

        argv = self.args(*extra, netrc=netrc, port=port, hostcheck=hostcheck)
        return pexpect.spawn(
            argv[0],
            argv[1:],
            cwd=str(self.fx.local),
            env=self.env(),
            encoding="utf-8",
            timeout=timeout,
            dimensions=(24, 80),
        )
