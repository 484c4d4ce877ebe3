"""Machinery for the black-box suites: build ringftpd once, start private
instances on 127.0.0.1 with an OS-chosen port, stop them with SIGTERM.

Layout of the served tree (``populate_root``)::

    <root>/hello.txt            "hello world\\n"
    <root>/name with spaces.txt
    <root>/Grüße ünïcødé.txt
    <root>/lines.txt            LF-terminated text (TYPE A tests)
    <root>/big.bin              2 MiB of random bytes
    <root>/dir/                 a sub-directory with one file
    <root>/alice/               home of the confined user ``carol``
    <root>/shared/              a sibling of alice/ carol must not reach

Users: alice (read-write), bob (read-only), carol (read-write, home alice/).

Servers start as ringftpd does by default: TLS optional, with the self-signed
certificate it makes on its first start beside the users file
(``Server.cert``); pass ``extra_args=["--tls", "off"]`` for plain FTP only.
``ReusingFTP_TLS`` is ftplib's FTP_TLS with data connections that resume the
control connection's TLS session, as curl and lftp do (needed with
``--tls required``).
"""

from __future__ import annotations

import contextlib
import ftplib
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

REPO = Path(__file__).resolve().parent.parent
PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
LISTEN_RE = re.compile(r"listening on [0-9.]+:(\d+)")
START_TIMEOUT = 20.0

_running: list[Server] = []


def ringftpd_binary() -> Path:
    env = os.environ.get("RINGFTPD")
    if env:
        return Path(env)
    return REPO / "target" / "debug" / "ringftpd"


_build_lock = threading.Lock()
_built = False


def ensure_built() -> Path:
    """Builds ringftpd once per test run if the binary is missing."""
    global _built
    binary = ringftpd_binary()
    with _build_lock:
        if not _built and not binary.exists() and not os.environ.get("RINGFTPD"):
            subprocess.run(["cargo", "build", "-p", "ringftpd"], cwd=REPO, check=True)
        _built = True
    if not binary.exists():
        pytest.fail(f"ringftpd binary not found at {binary}")
    return binary


def add_user(binary: Path, users: Path, name: str, password: str, *extra: str) -> None:
    proc = subprocess.run(
        [
            str(binary),
            "user",
            "add",
            name,
            "--users",
            str(users),
            "--password-stdin",
            *extra,
        ],
        check=False,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"`ringftpd user add {name}` failed ({proc.returncode}): {proc.stderr}"
        )


def populate_root(root: Path) -> None:
    (root / "hello.txt").write_bytes(b"hello world\n")
    (root / "name with spaces.txt").write_bytes(b"spaces in the name\n")
    (root / "Grüße ünïcødé.txt").write_bytes("utf-8 name: Grüße\n".encode())
    (root / "lines.txt").write_bytes(b"one\ntwo\nthree\n")
    (root / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    (root / "dir").mkdir()
    (root / "dir" / "inner.txt").write_bytes(b"inner\n")
    (root / "alice").mkdir()
    (root / "alice" / "mine.txt").write_bytes(b"carol's home file\n")
    (root / "shared").mkdir()
    (root / "shared" / "secret.txt").write_bytes(b"not for carol\n")


@dataclass
class Server:
    """A running ringftpd on 127.0.0.1."""

    proc: subprocess.Popen
    port: int
    root: Path
    users: Path
    log_path: Path
    workdir: Path
    args: list[str] = field(default_factory=list)

    host: str = "127.0.0.1"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def cert(self) -> Path:
        """The self-signed certificate ringftpd made beside the users file."""
        return self.users.parent / "tls-cert.pem"

    def url(self, user: str = "alice", path: str = "") -> str:
        return f"ftp://{user}:{PASSWORDS[user]}@{self.host}:{self.port}/{quote(path.lstrip('/'))}"

    def ftp(self, user: str | None = "alice", timeout: float = 10.0) -> ftplib.FTP:
        """An ftplib connection, logged in as ``user`` unless it is None."""
        ftp = ftplib.FTP(timeout=timeout, encoding="utf-8")
        ftp.connect(self.host, self.port)
        if user is not None:
            ftp.login(user, PASSWORDS[user])
        return ftp

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self in _running:
            _running.remove(self)
        return self.proc.returncode


def start_server(
    workdir: Path,
    *,
    root: Path | None = None,
    users: Path | None = None,
    config: dict | None = None,
    extra_args: list[str] | None = None,
    host: str = "127.0.0.1",
) -> Server:
    """Starts ringftpd on HOST:0 (127.0.0.1) and waits for its `listening on` line."""
    binary = ensure_built()
    workdir.mkdir(parents=True, exist_ok=True)
    if root is None:
        root = workdir / "root"
        root.mkdir()
        populate_root(root)
    if users is None:
        users = workdir / "users.toml"
        add_user(binary, users, "alice", PASSWORDS["alice"])
        add_user(binary, users, "bob", PASSWORDS["bob"], "--read-only")
        add_user(binary, users, "carol", PASSWORDS["carol"], "--home", "alice")
    args = [
        str(binary),
        "serve",
        "--listen",
        f"{host}:0",
        "--root",
        str(root),
        "--users",
        str(users),
    ]
    if config:
        cfg = workdir / "ringftpd.toml"
        lines = []
        for key, value in config.items():
            if isinstance(value, str):
                lines.append(f'{key} = "{value}"')
            else:
                lines.append(f"{key} = {value}")
        cfg.write_text("\n".join(lines) + "\n")
        args += ["--config", str(cfg)]
    args += extra_args or []
    log_path = workdir / "ringftpd.log"
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
    port = None
    while time.monotonic() < deadline:
        m = LISTEN_RE.search(log_path.read_text(errors="replace"))
        if m:
            port = int(m.group(1))
            break
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    if port is None:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise RuntimeError(
            f"ringftpd did not start (rc={proc.returncode}); args={args}\n"
            f"--- log ---\n{log_path.read_text(errors='replace')}"
        )
    srv = Server(proc, port, root, users, log_path, workdir, args, host)
    _running.append(srv)
    return srv


def tls_client_context() -> ssl.SSLContext:
    """No CA check: the server's certificate is self-signed (pinned by
    fingerprint, not by a CA)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS whose protected data connections resume the control
    connection's TLS session (``session=``), or ``data_session`` when set
    (to offer some other session on purpose). Plain ftplib starts a new TLS
    session on every data connection."""

    data_session: ssl.SSLSession | None = None

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            session = self.data_session or self.sock.session
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=session
            )
        return conn, size


class Raw:
    """A raw control connection that reads whole (multi-line) replies."""

    def __init__(
        self, host: str, port: int, timeout: float = 10.0, src: str | None = None
    ):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(src, 0) if src else None
        )
        self.buf = b""
        self.greeting = self.reply()

    def send(self, line: bytes | str) -> None:
        if isinstance(line, str):
            line = line.encode()
        self.sock.sendall(line + b"\r\n")

    def readline(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; pending {self.buf!r}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")

    def reply(self) -> tuple[int, str]:
        first = self.readline()
        text = [first.decode(errors="replace")]
        if len(first) >= 4 and first[3:4] == b"-":
            code = first[:3]
            while True:
                line = self.readline()
                text.append(line.decode(errors="replace"))
                if line[:3] == code and line[3:4] == b" ":
                    break
        return int(first[:3]), "\n".join(text)

    def cmd(self, line: bytes | str) -> tuple[int, str]:
        self.send(line)
        return self.reply()

    def login(self, user: str = "alice") -> None:
        code, text = self.cmd(f"USER {user}")
        assert code == 331, text
        code, text = self.cmd(f"PASS {PASSWORDS[user]}")
        assert code == 230, text

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def can_bind_127_0_0_2() -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False
