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

S3 roots: ``Moto`` runs moto's S3 server mode (``ThreadedMotoServer``) in
this process on 127.0.0.1 with an OS-chosen port; ``Moto.new_bucket()``
makes a fresh, empty bucket (``Bucket``: boto3 helpers to put, get and list
keys beneath its prefix); ``populate_bucket`` lays out the tree above as
objects; ``start_server(..., s3=bucket)`` serves ``s3://BUCKET[/prefix]``
with dummy credentials in ``AWS_*`` (moto accepts any). Tests that need moto
skip (``needs_moto``) only when it is not importable; CI installs it
(tests/requirements.txt).
"""

from __future__ import annotations

import contextlib
import ftplib
import os
import re
import signal
import socket
import ssl
import struct
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
    """A running ringftpd on 127.0.0.1. `root` is the served directory, or
    the `s3://` URL when `s3` (the served bucket) is set."""

    proc: subprocess.Popen
    port: int
    root: Path | str
    users: Path
    log_path: Path
    workdir: Path
    args: list[str] = field(default_factory=list)

    host: str = "127.0.0.1"
    s3: Bucket | None = None

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


def toml_value(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def write_config(path: Path, config: dict) -> None:
    """A ringftpd.toml: top-level keys first, then a [table] per dict value."""
    lines = [f"{k} = {toml_value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for key, table in config.items():
        if isinstance(table, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")


def start_server(
    workdir: Path,
    *,
    root: Path | None = None,
    users: Path | None = None,
    config: dict | None = None,
    extra_args: list[str] | None = None,
    host: str = "127.0.0.1",
    s3: Bucket | None = None,
    env: dict | None = None,
) -> Server:
    """Starts ringftpd on HOST:0 (127.0.0.1) and waits for its `listening on` line.

    With `s3`, the root is that bucket (`--root s3://BUCKET[/prefix]
    --s3-endpoint ... --s3-region ...`, dummy AWS_* credentials), unless
    `config` sets `root` itself (then no `--root` is passed: the file's
    `root` and `[s3]` table are what is tested)."""
    binary = ensure_built()
    workdir.mkdir(parents=True, exist_ok=True)
    if s3 is not None:
        root = s3.url
    elif root is None:
        root = workdir / "root"
        root.mkdir()
        populate_root(root)
    if users is None:
        users = workdir / "users.toml"
        add_user(binary, users, "alice", PASSWORDS["alice"])
        add_user(binary, users, "bob", PASSWORDS["bob"], "--read-only")
        add_user(binary, users, "carol", PASSWORDS["carol"], "--home", "alice")
    args = [str(binary), "serve", "--listen", f"{host}:0", "--users", str(users)]
    if not (config and "root" in config):
        args += ["--root", str(root)]
        if s3 is not None:
            args += ["--s3-endpoint", s3.endpoint, "--s3-region", S3_REGION]
    if config:
        cfg = workdir / "ringftpd.toml"
        write_config(cfg, config)
        args += ["--config", str(cfg)]
    args += extra_args or []
    log_path = workdir / "ringftpd.log"
    env = {**os.environ, **(S3_ENV if s3 is not None else {}), **(env or {})}
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
    srv = Server(proc, port, root, users, log_path, workdir, args, host, s3)
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


def rst_close(sock: socket.socket) -> None:
    """Close with a TCP RST: the server must see an error, not a normal EOF
    (which in stream mode is the end of a complete upload)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_for(pred, timeout: float = 15.0, step: float = 0.02) -> bool:
    """Polls `pred` until it is true or `timeout` passes; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def can_bind_127_0_0_2() -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False


# ------------------------------------------------------ S3 (moto)

S3_REGION = "us-east-1"
# Dummy credentials: moto accepts any, and ringftpd reads the standard variables.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "ringftp-test-key",
    "AWS_SECRET_ACCESS_KEY": "ringftp-test-secret",
    "AWS_REGION": S3_REGION,
}


def moto_missing() -> str | None:
    """Why moto's server mode cannot run here, or None."""
    try:
        import boto3  # noqa: F401
        from moto.server import ThreadedMotoServer  # noqa: F401
    except ImportError as e:
        return f"moto[server] is not installed ({e}); tests/requirements.txt has it"
    return None


needs_moto = pytest.mark.skipif(moto_missing() is not None, reason=moto_missing() or "")

_bucket_ids = __import__("itertools").count()


class Moto:
    """moto's S3 server on 127.0.0.1:<OS-chosen port>, in a thread of this
    process. Every instance serves the same in-memory store (moto's backends
    are per process), so a second instance can be stopped on its own to make
    S3 go away under a server without losing the others' buckets."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        # werkzeug logs every request line on stderr otherwise.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.client = self.make_client()
        self.stopped = False

    def make_client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=S3_REGION,
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def new_bucket(self, prefix: str = "") -> Bucket:
        """A fresh, empty bucket with a name never used before in this run."""
        name = f"ringftp-{os.getpid()}-{next(_bucket_ids)}"
        self.client.create_bucket(Bucket=name)
        return Bucket(self.client, name, prefix.strip("/"), self.endpoint)

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self._server.stop()


@dataclass
class Bucket:
    """A bucket (and key prefix) on a Moto server, with helpers that take
    paths as the FTP client sees them ("dir/a.txt", relative to the served
    root) and turn them into keys (`prefix/dir/a.txt`)."""

    client: object
    name: str
    prefix: str
    endpoint: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{self.prefix}" if self.prefix else f"s3://{self.name}"

    def key(self, path: str) -> str:
        path = path.lstrip("/")
        return f"{self.prefix}/{path}" if self.prefix else path

    def with_endpoint(self, endpoint: str) -> Bucket:
        """The same bucket as reached through another endpoint."""
        return Bucket(self.client, self.name, self.prefix, endpoint)

    def put(self, path: str, data: bytes = b"") -> None:
        self.client.put_object(Bucket=self.name, Key=self.key(path), Body=data)

    def put_many(self, items: dict[str, bytes]) -> None:
        """Many objects fast. moto's HTTP front end takes ~5 ms a request in
        this process (the GIL), so with the server in this process (always,
        with `Moto`) the objects go straight into its backend, the store its
        HTTP API serves; boto3 in threads otherwise."""
        try:
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.s3.models import s3_backends

            backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
            backend.get_bucket(self.name)
        except Exception:  # noqa: BLE001 - any change in moto's internals: the slow path
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda kv: self.put(*kv), items.items()))
            return
        for path, data in items.items():
            backend.put_object(self.name, self.key(path), data)

    def get(self, path: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=self.key(path))["Body"].read()

    def exists(self, path: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.name, Key=self.key(path))
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def keys(self, under: str = "") -> list[str]:
        """Every key beneath the prefix (and `under`), as paths relative to the root."""
        start = self.key(under) if under else (self.prefix + "/" if self.prefix else "")
        cut = len(self.prefix) + 1 if self.prefix else 0
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=start):
            out += [obj["Key"][cut:] for obj in page.get("Contents", [])]
        return sorted(out)

    def uploads(self) -> list[str]:
        """Keys of multipart uploads started and neither completed nor aborted."""
        resp = self.client.list_multipart_uploads(Bucket=self.name)
        return [u["Key"] for u in resp.get("Uploads", [])]


def populate_bucket(bucket: Bucket) -> None:
    """The tree of `populate_root` as objects. `dir/` and `alice/` have a
    directory marker (what MKD makes), `shared/` has none (a prefix only,
    as tools that upload `a/b/c` leave it): both are directories."""
    populate_root_items = {
        "hello.txt": b"hello world\n",
        "name with spaces.txt": b"spaces in the name\n",
        "Grüße ünïcødé.txt": "utf-8 name: Grüße\n".encode(),
        "lines.txt": b"one\ntwo\nthree\n",
        "big.bin": os.urandom(2 * 1024 * 1024),
        "dir/": b"",
        "dir/inner.txt": b"inner\n",
        "alice/": b"",
        "alice/mine.txt": b"carol's home file\n",
        "shared/secret.txt": b"not for carol\n",
    }
    for path, data in populate_root_items.items():
        bucket.put(path, data)
