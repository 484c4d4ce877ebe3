"""PROXY protocol (v1 text, v2 binary) on the control connection: a header
from a trusted balancer names the real client, which is then the address the
session logs and checks data connections against; a header from anyone else,
or no header from a balancer, closes the connection.

The first part plays the balancer with a raw socket from 127.0.0.1 (the
trusted address) and clients on 127.0.0.2; the last test puts a real HAProxy
in front of two ringftpd instances sharing one root and one users file."""

from __future__ import annotations

import contextlib
import ftplib
import io
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from ringftptest import (
    PASSWORDS,
    Bucket,
    Raw,
    can_bind_127_0_0_2,
    needs_moto,
    ringftpd_binary,
    start_server,
)

pytestmark = pytest.mark.skipif(
    not can_bind_127_0_0_2(), reason="needs 127.0.0.2 on the loopback interface"
)

CLIENT = "127.0.0.2"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src: str = CLIENT, sport: int = 40001, dst: str = "127.0.0.1") -> bytes:
    return f"PROXY TCP4 {src} {dst} {sport} 21\r\n".encode()


def v2(
    src: str = CLIENT, sport: int = 40002, command: int = 1, tlvs: bytes = b"", dst: str = "127.0.0.1"
) -> bytes:
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, 21)
    body = addrs + tlvs
    return V2_SIG + bytes([0x20 | command, 0x11]) + struct.pack("!H", len(body)) + body


class Balanced(Raw):
    """A control connection from 127.0.0.1 that starts with `header`."""

    def __init__(self, port: int, header: bytes, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.sock.sendall(header)
        self.greeting = self.reply()


def closed_without_reply(sock: socket.socket, timeout: float = 10.0) -> bool:
    """True if the server closes the connection without sending anything."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def wait_log(server, pattern: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, server.log())
        if m:
            return m.group(0)
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not in the log:\n{server.log()[-3000:]}")


def pasv_port(text: str) -> int:
    nums = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", text)
    assert nums, text
    return int(nums.group(5)) * 256 + int(nums.group(6))


@pytest.fixture(scope="module")
def pserver(tmp_path_factory):
    srv = start_server(
        tmp_path_factory.mktemp("proxied"),
        config={"login_fail_delay": 1},
        extra_args=[
            "--proxy-protocol",
            "127.0.0.1,10.0.0.0/8",
            "--login-timeout",
            "3",
            "--data-timeout",
            "8",
        ],
    )
    yield srv
    srv.stop()


# ------------------------------------------------------ trusted balancer


@pytest.mark.parametrize("header", [v1(), v2()], ids=["v1", "v2"])
def test_header_names_the_client(pserver, header):
    c = Balanced(pserver.port, header)
    assert c.greeting[0] == 220
    c.login()
    code, text = c.cmd("STAT")
    assert code == 211 and f"Connected to {CLIENT}" in text, text
    sport = 40001 if header.startswith(b"PROXY") else 40002
    wait_log(pserver, rf"login user=\"alice\" peer={re.escape(CLIENT)}:{sport} result=\"ok\"")
    c.close()


def test_v2_tlvs_and_unknown_sources_keep_the_real_peer(pserver):
    # A v2 header with TLVs (ALPN, authority) is read whole; the session starts after it.
    c = Balanced(pserver.port, v2(tlvs=b"\x01\x00\x03ftp\x02\x00\x04node"))
    c.login()
    assert f"Connected to {CLIENT}" in c.cmd("STAT")[1]
    c.close()
    # v2 LOCAL (a balancer's health check) and v1 UNKNOWN name no client:
    # the connection's own peer stands, and it may use EPSV as usual.
    for header in [v2(command=0), b"PROXY UNKNOWN\r\n"]:
        c = Balanced(pserver.port, header)
        c.login()
        assert "Connected to 127.0.0.1" in c.cmd("STAT")[1]
        assert c.cmd("EPSV")[0] == 229
        c.close()


def test_bytes_after_the_header_are_the_session(pserver):
    c = Balanced.__new__(Balanced)
    c.sock = socket.create_connection(("127.0.0.1", pserver.port), timeout=10)
    c.buf = b""
    c.sock.sendall(v1() + b"USER alice\r\n")
    assert c.reply()[0] == 220
    assert c.reply()[0] == 331
    assert c.cmd(f"PASS {PASSWORDS['alice']}")[0] == 230
    c.close()


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_epsv_only_where_it_reaches_this_node(pserver):
    # The client connected to balancer address 192.0.2.10, but PASV names this
    # node (127.0.0.1): data goes straight here, EPSV cannot say so.
    c = Balanced(pserver.port, v1(dst="192.0.2.10"))
    c.login()
    code, text = c.cmd("FEAT")
    assert " PASV" in text and " EPSV" not in text, text
    code, text = c.cmd("EPSV")
    assert code == 502 and "PASV" in text, text
    assert c.cmd("EPSV ALL")[0] == 502
    assert c.cmd("PASV")[0] == 227
    c.close()
    # The client connected to 127.0.0.1, the address PASV names: the balancer
    # forwards the passive ports, and EPSV works.
    c = Balanced(pserver.port, v2(dst="127.0.0.1"))
    c.login()
    assert " EPSV" in c.cmd("FEAT")[1]
    assert c.cmd("EPSV")[0] == 229
    c.close()


def test_passive_connection_must_come_from_the_real_client(pserver):
    c = Balanced(pserver.port, v1(dst="192.0.2.10"))
    c.login()
    assert c.cmd("TYPE I")[0] == 200
    code, text = c.cmd("PASV")
    assert code == 227, text
    port = pasv_port(text)
    # Another address, and the balancer forwarding for another client: refused...
    thief = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.5", 0), timeout=10)
    forged = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.1", 0), timeout=10)
    forged.sendall(v2(src="127.0.0.9"))
    c.send("RETR hello.txt")
    # ...and the real client's is served.
    real = socket.create_connection(("127.0.0.1", port), source_address=(CLIENT, 0), timeout=10)
    assert c.reply()[0] == 150
    assert read_all(real) == b"hello world\n"
    assert c.reply()[0] == 226
    assert closed_without_reply(thief) and closed_without_reply(forged)
    wait_log(pserver, rf"refused peer=127\.0\.0\.5:\d+ what=\"data connection\" why=\"not from the control connection's address {re.escape(CLIENT)}\"")
    wait_log(pserver, rf"refused peer=127\.0\.0\.1:\d+ what=\"data connection\" why=\"forwarded for 127\.0\.0\.9, not the control connection's address {re.escape(CLIENT)}\"")
    for s in (thief, forged, real):
        s.close()
    c.close()


@pytest.mark.parametrize("client", [CLIENT, "127.0.0.1"], ids=["client", "on-the-balancer"])
@pytest.mark.parametrize("header", [v1, v2], ids=["v1", "v2"])
def test_forwarded_data_connection_is_read_to_the_header_end(pserver, header, client):
    """A balancer that forwards the passive ports puts a PROXY header before
    the data: an upload sent in the same segment as the header arrives whole,
    not a byte of it taken for the header, and a download follows. Also when
    the client has the balancer's own address (runs on the balancer host)."""
    c = Balanced(pserver.port, header(src=client))
    c.login()
    assert c.cmd("TYPE I")[0] == 200
    payload = os.urandom(200_000)
    name = f"fwd-{header.__name__}-{client}.bin"
    code, text = c.cmd("PASV")
    data = socket.create_connection(("127.0.0.1", pasv_port(text)), source_address=("127.0.0.1", 0), timeout=10)
    data.sendall(header(src=client, sport=50000) + payload)
    data.shutdown(socket.SHUT_WR)
    assert c.cmd(f"STOR {name}")[0] == 150
    assert c.reply()[0] == 226
    data.close()
    assert (pserver.root / name).read_bytes() == payload
    code, text = c.cmd("PASV")
    data = socket.create_connection(("127.0.0.1", pasv_port(text)), source_address=("127.0.0.1", 0), timeout=10)
    data.sendall(header(src=client, sport=50001))
    assert c.cmd(f"RETR {name}")[0] == 150
    assert read_all(data) == payload
    assert c.reply()[0] == 226
    data.close()
    # A forwarded connection without a header (or one naming nobody) is refused.
    code, text = c.cmd("PASV")
    port = pasv_port(text)
    bare = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.1", 0), timeout=10)
    bare.sendall(b"PROXY UNKNOWN\r\n")
    c.send("RETR hello.txt")
    real = socket.create_connection(("127.0.0.1", port), source_address=(client, 0), timeout=10)
    if client == "127.0.0.1":  # the balancer's address: only with a header
        real.sendall(header(src=client, sport=50002))
    assert c.reply()[0] == 150
    assert read_all(real) == b"hello world\n"
    assert c.reply()[0] == 226
    assert closed_without_reply(bare)
    for s in (bare, real):
        s.close()
    c.close()


def test_active_mode_goes_to_the_real_client(pserver):
    c = Balanced(pserver.port, v2())
    c.login()
    assert c.cmd("TYPE I")[0] == 200
    code, text = c.cmd("EPRT |1|127.0.0.1|40000|")
    assert code == 504 and "your own" in text, text
    with socket.create_server((CLIENT, 0)) as lst:
        port = lst.getsockname()[1]
        assert c.cmd(f"EPRT |1|{CLIENT}|{port}|")[0] == 200
        c.send("RETR hello.txt")
        lst.settimeout(10)
        conn, (src, _) = lst.accept()
        assert c.reply()[0] == 150
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        conn.close()
    assert data == b"hello world\n"
    assert c.reply()[0] == 226
    c.close()


@pytest.mark.parametrize(
    "first",
    [
        b"USER alice\r\n",
        b"PROXY TCP4 999.0.0.1 127.0.0.1 1 21\r\n",
        b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 21\n",
        b"PROXY UNKNOWN " + b"x" * 200,
        V2_SIG + b"\x21\x11\xff\xff",
        V2_SIG + b"\x22\x11\x00\x0c" + b"\x00" * 12,
    ],
    ids=["no-header", "bad-address", "lf-only", "v1-too-long", "v2-too-long", "v2-bad-command"],
)
def test_trusted_peer_without_a_valid_header_is_closed(pserver, first):
    s = socket.create_connection(("127.0.0.1", pserver.port), timeout=10)
    s.sendall(first)
    assert closed_without_reply(s), "no banner, no session"
    s.close()


def test_trusted_peer_that_sends_nothing_is_closed(pserver):
    s = socket.create_connection(("127.0.0.1", pserver.port), timeout=10)
    start = time.monotonic()
    assert closed_without_reply(s, timeout=20)
    # --login-timeout 3 is below the 5 s header limit.
    assert 2.0 < time.monotonic() - start < 15
    s.close()
    wait_log(pserver, r"refused peer=127\.0\.0\.1:\d+ what=\"connection\" why=\"balancer sent no PROXY protocol header within 3 s\"")


def test_max_per_ip_counts_the_real_client(tmp_path):
    srv = start_server(tmp_path, extra_args=["--proxy-protocol", "127.0.0.1", "--max-per-ip", "2"])
    first, second = Balanced(srv.port, v1()), Balanced(srv.port, v2())
    assert first.greeting[0] == second.greeting[0] == 220
    # A third from the same client, through the balancer or directly: refused.
    for third in (Balanced(srv.port, v1(sport=40003)), Raw("127.0.0.1", srv.port, src=CLIENT)):
        code, text = third.greeting
        assert code == 421 and "too many connections from your internet address" in text, text
        assert closed_without_reply(third.sock)
        third.close()
    # Other clients behind the same balancer are not counted with it.
    others = [Balanced(srv.port, v1(src=f"127.0.0.{n}")) for n in (7, 8, 9)]
    assert all(o.greeting[0] == 220 for o in others)
    wait_log(srv, r"refused peer=127\.0\.0\.2:\d+ what=\"connection\" why=\"max_per_ip sessions from this address already\"")
    # A slot is free again once a session has ended.
    assert first.cmd("QUIT")[0] == 221
    first.close()
    deadline = time.monotonic() + 10
    while True:
        again = Balanced(srv.port, v1(sport=40004))
        if again.greeting[0] == 220 or time.monotonic() > deadline:
            break
        again.close()
        time.sleep(0.1)
    assert again.greeting[0] == 220
    for c in (second, again, *others):
        c.close()
    srv.stop()


# ------------------------------------------------------ anyone else


def test_untrusted_peer_is_served_without_a_header(pserver):
    c = Raw("127.0.0.1", pserver.port, src=CLIENT)
    assert c.greeting[0] == 220
    c.login()
    assert f"Connected to {CLIENT}" in c.cmd("STAT")[1]
    assert c.cmd("EPSV")[0] == 229, "a direct client keeps EPSV"
    c.close()


@pytest.mark.parametrize("header", [v1(src="10.9.9.9"), v2(src="10.9.9.9")], ids=["v1", "v2"])
def test_untrusted_peer_sending_a_header_is_closed(pserver, header):
    c = Raw("127.0.0.1", pserver.port, src=CLIENT)
    assert c.greeting[0] == 220
    c.sock.sendall(header + b"USER alice\r\n")
    assert closed_without_reply(c.sock), "the header is neither believed nor answered"
    c.close()
    wait_log(pserver, r"refused peer=127\.0\.0\.2:\d+ what=\"PROXY protocol header\" why=\"peer not in proxy_protocol\"")


def test_server_without_proxy_protocol_closes_on_a_header(server):
    c = Raw("127.0.0.1", server.port)
    c.sock.sendall(v1())
    assert closed_without_reply(c.sock)
    c.close()
    c = Raw("127.0.0.1", server.port)
    c.login()
    c.close()


# ------------------------------------------------------ HAProxy, two nodes


def ringftp_bin() -> Path:
    binary = Path(__file__).resolve().parents[2] / "target" / "debug" / "ringftp"
    return Path(os.environ.get("RINGFTP", binary))


HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CLIENTS = 200
BALANCER = "127.0.0.1"
NODES = ["127.0.0.3", "127.0.0.4"]

needs_haproxy = pytest.mark.skipif(
    not os.path.exists(HAPROXY) and not os.environ.get("CI"),
    reason="haproxy is not installed (.ci/run installs it)",
)


def free_port(host: str = BALANCER) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Client(ftplib.FTP):
    """ftplib that remembers each PASV answer; with `trust_pasv` it connects
    where PASV says (the node) instead of the control host (the balancer)."""

    def __init__(self, trust_pasv: bool, **kw):
        super().__init__(**kw)
        self.trust_server_pasv_ipv4_address = trust_pasv
        self.pasv: list[tuple[str, int]] = []

    def makepasv(self):
        host, port = super().makepasv()
        self.pasv.append((host, port))
        return host, port


class Cluster:
    """Two ringftpd on 127.0.0.3 and 127.0.0.4 (one root, one users file), each
    with its own passive port range, behind HAProxy on 127.0.0.1. With `s3`
    the shared root is that bucket instead of one directory.

    - `direct`: each node announces its own address in PASV; data connections
      go straight to it.
    - `forwarded`: both announce the balancer's address; HAProxy forwards each
      node's passive range to it with a PROXY header of its own."""

    def __init__(self, tmp_path: Path, mode: str, data: str, s3: Bucket | None = None):
        self.mode, self.data = mode, data
        base = random.randrange(10000, 30000, 400)
        self.ranges = [range(base, base + 200), range(base + 200, base + 400)]
        self.nodes = []
        for i, host in enumerate(NODES):
            announced = host if data == "direct" else BALANCER
            self.nodes.append(
                start_server(
                    tmp_path / f"node{i}",
                    root=self.nodes[0].root if self.nodes and not s3 else None,
                    users=self.nodes[0].users if self.nodes else None,
                    host=host,
                    s3=s3,
                    extra_args=[
                        "--proxy-protocol", BALANCER,
                        "--passive-address", announced,
                        "--passive-ports", f"{self.ranges[i].start}-{self.ranges[i].stop - 1}",
                    ],
                )
            )
        self.proc, self.port = self._haproxy(tmp_path)

    def _haproxy(self, workdir: Path) -> tuple[subprocess.Popen, int]:
        send = {"v1": "send-proxy", "v2": "send-proxy-v2"}[self.mode]
        for _ in range(5):
            port = free_port()
            control = "\n".join(
                f"    server n{i} {n.host}:{n.port} {send} source {BALANCER} check check-send-proxy inter 1s"
                for i, n in enumerate(self.nodes)
            )
            data = ""
            if self.data == "forwarded":
                for i, (n, r) in enumerate(zip(self.nodes, self.ranges)):
                    # No port on the server line: the one the client connected to.
                    data += (
                        f"frontend data{i}\n    bind {BALANCER}:{r.start}-{r.stop - 1}\n"
                        f"    default_backend data{i}\n"
                        f"backend data{i}\n    server n{i} {n.host} {send} source {BALANCER}\n"
                    )
            cfg = workdir / f"haproxy-{self.mode}-{self.data}.cfg"
            cfg.write_text(
                f"""global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend ftp
    bind {BALANCER}:{port}
    default_backend control
backend control
    balance roundrobin
{control}
{data}"""
            )
            log_path = workdir / f"haproxy-{self.mode}-{self.data}.log"
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [HAPROXY, "-db", "-f", str(cfg)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
                )
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and proc.poll() is None:
                with contextlib.suppress(OSError):
                    with socket.create_connection((BALANCER, port), timeout=2) as s:
                        s.settimeout(5)
                        if s.recv(4).startswith(b"220"):
                            return proc, port
                time.sleep(0.1)
            proc.kill()
            proc.wait()
        raise RuntimeError(log_path.read_text(errors="replace"))

    def node_of(self, host: str, port: int) -> int:
        """Which node a PASV answer came from, checking it names that node's
        address (direct) or the balancer's (forwarded) and a port of its range."""
        node = next(i for i, r in enumerate(self.ranges) if port in r)
        assert host == (NODES[node] if self.data == "direct" else BALANCER), (host, port)
        return node

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        for n in self.nodes:
            n.stop()


LOGIN_RE = r"login user=\"alice\" peer=([\d.]+):\d+ result=\"ok\""


@needs_haproxy
@pytest.mark.parametrize("data", ["direct", "forwarded"])
@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_haproxy_two_nodes_200_clients(tmp_path, mode, data):
    cluster = Cluster(tmp_path, mode, data)
    root = cluster.nodes[0].root
    up = root / f"up-{mode}-{data}"
    up.mkdir()
    payloads = [os.urandom(random.randrange(1, 256 * 1024)) for _ in range(CLIENTS)]
    sources = [f"127.0.0.{10 + i % 100}" for i in range(CLIENTS)]
    pasv: list[list[tuple[str, int]]] = [[] for _ in range(CLIENTS)]
    errors: list[str] = []
    uploaded = threading.Barrier(CLIENTS, timeout=60)

    def client(i: int) -> None:
        try:
            # Forwarded: plain ftplib, which connects to the control host.
            ftp = Client(data == "direct", timeout=30, source_address=(sources[i], 0))
            ftp.connect(BALANCER, cluster.port)
            ftp.login("alice", PASSWORDS["alice"])
            ftp.cwd("/" + up.name)
            ftp.storbinary(f"STOR c{i}.bin", io.BytesIO(payloads[i]))
            uploaded.wait()
            # Its own file, and a neighbour's (most likely stored by the other node).
            for j in (i, (i + 1) % CLIENTS):
                got = io.BytesIO()
                ftp.retrbinary(f"RETR c{j}.bin", got.write)
                if got.getvalue() != payloads[j]:
                    errors.append(f"client {i}: c{j}.bin differs ({len(got.getvalue())} bytes)")
            pasv[i] = ftp.pasv
            ftp.quit()
        except Exception as e:  # noqa: BLE001 - collected and reported below
            errors.append(f"client {i} from {sources[i]}: {e!r}")
            uploaded.abort()

    try:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        elapsed = time.monotonic() - start
    finally:
        cluster.proc.terminate()
        cluster.proc.wait(10)
    assert not errors, f"{len(errors)} failures, first: {errors[:5]}"
    assert all(not t.is_alive() for t in threads)
    for i, payload in enumerate(payloads):
        assert (up / f"c{i}.bin").read_bytes() == payload

    # Each session's three PASV answers came from one node, with its address
    # (or the balancer's) and a port of its own range; both nodes served.
    served = [0, 0]
    for answers in pasv:
        assert len(answers) == 3, answers
        nodes = {cluster.node_of(h, p) for h, p in answers}
        assert len(nodes) == 1, answers
        served[nodes.pop()] += 1
    assert served[0] > 0 and served[1] > 0, served

    # The logs show the real client addresses, never the balancer's, and no
    # data connection was refused.
    seen: set[str] = set()
    for node, count in zip(cluster.nodes, served):
        log = node.log()
        ips = re.findall(LOGIN_RE, log)
        assert len(ips) == count, (node.host, len(ips), count)
        seen |= set(ips)
        assert "refused" not in log, [line for line in log.splitlines() if "refused" in line][:5]
    assert seen == set(sources)
    print(f"{mode}/{data}: {CLIENTS} clients through HAProxy in {elapsed:.1f} s, per node {served}")
    cluster.stop()


@needs_haproxy
@pytest.mark.parametrize("data", ["direct", "forwarded"])
def test_haproxy_curl_and_lftp(tmp_path, data):
    """Third-party clients (and ringftp) through the balancer, upload through
    one node and download through the other (round robin). Direct: curl must be told to use
    the PASV address (it connects to the control host by default since 7.74);
    EPSV gets 502 and both fall back to PASV. Forwarded: curl as is, EPSV
    works (the node announces the balancer's address)."""
    cluster = Cluster(tmp_path, "v2", data)
    root = cluster.nodes[0].root
    (root / "up").mkdir()
    payload = os.urandom(300_000)
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    url = f"ftp://alice:{PASSWORDS['alice']}@{BALANCER}:{cluster.port}/up"
    curl = ["curl", "-sS", "-v", "--max-time", "30", "--interface", "127.0.0.5"]
    if data == "direct":
        curl.append("--no-ftp-skip-pasv-ip")
    try:
        up = subprocess.run([*curl, "-T", str(src), f"{url}/curl.bin"], capture_output=True, text=True, timeout=60)
        assert up.returncode == 0, up.stderr[-2000:]
        assert ("< 229 " in up.stderr) == (data == "forwarded"), up.stderr[-2000:]
        out = tmp_path / "curl-out.bin"
        down = subprocess.run([*curl, "-o", str(out), f"{url}/curl.bin"], capture_output=True, text=True, timeout=60)
        assert down.returncode == 0, down.stderr[-2000:]
        assert out.read_bytes() == payload
        lftp = subprocess.run(
            ["lftp", "-c",
             "set net:socket-bind-ipv4 127.0.0.6; set ftp:prefer-epsv yes; "
             "set ftp:ssl-allow no; set net:max-retries 3; set net:timeout 20; set net:reconnect-interval-base 1; set net:reconnect-interval-multiplier 1; "
             f"open -u alice,{PASSWORDS['alice']} -p {cluster.port} {BALANCER}; "
             f"put {src} -o up/lftp.bin; get up/lftp.bin -o {tmp_path / 'lftp-out.bin'}"],
            capture_output=True, text=True, timeout=90,
        )
        assert lftp.returncode == 0, lftp.stderr
        assert (tmp_path / "lftp-out.bin").read_bytes() == payload
        if data == "forwarded":
            # ringftp connects to the control host for PASV too, and runs on
            # the balancer's own address here.
            netrc = tmp_path / "netrc"
            netrc.write_text(f"machine {BALANCER} login alice password {PASSWORDS['alice']}\n")
            netrc.chmod(0o600)
            batch = tmp_path / "batch"
            batch.write_text(f"put {src} /up/ringftp.bin\nget /up/ringftp.bin {tmp_path / 'ringftp-out.bin'}\n")
            # ringftp uses FTPS (both nodes serve the certificate made beside
            # their shared users file) and, in batch mode, must know the host.
            fp = subprocess.run(
                [str(ringftpd_binary()), "fingerprint", "--users", str(cluster.nodes[0].users)],
                capture_output=True, text=True, timeout=30, check=True,
            ).stdout.split()[1]
            known_hosts = tmp_path / "known_hosts"
            known_hosts.write_text(f"[{BALANCER}]:{cluster.port} ECDSA {fp}\n")
            ringftp = subprocess.run(
                [str(ringftp_bin()), "-P", str(cluster.port), "--netrc-file", str(netrc), "-b", str(batch),
                 "-o", f"UserKnownHostsFile={known_hosts}", f"alice@{BALANCER}"],
                capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)},
            )
            assert ringftp.returncode == 0, ringftp.stdout + ringftp.stderr
            assert (tmp_path / "ringftp-out.bin").read_bytes() == payload
            assert (root / "up" / "ringftp.bin").read_bytes() == payload
    finally:
        cluster.proc.terminate()
        cluster.proc.wait(10)
    assert (root / "up" / "curl.bin").read_bytes() == payload
    logs = [n.log() for n in cluster.nodes]
    assert all(re.search(LOGIN_RE, log) for log in logs), "both nodes served"
    expected = {"127.0.0.5", "127.0.0.6"} | ({BALANCER} if data == "forwarded" else set())
    assert set(re.findall(LOGIN_RE, "".join(logs))) == expected
    cluster.stop()


S3_CLIENTS = 50


@needs_haproxy
@needs_moto
def test_haproxy_two_nodes_on_shared_s3(tmp_path, moto):
    """Both nodes serve one bucket (prefix `site`): a file stored through
    node A is read through node B byte-identical, and 50 clients through the
    balancer each store a file and read back their own and a neighbour's
    (most likely stored by the other node)."""
    bucket = moto.new_bucket(prefix="site")
    cluster = Cluster(tmp_path, "v2", "forwarded", s3=bucket)
    errors: list[str] = []
    try:
        for node in cluster.nodes:
            wait_log(node, rf"storage: s3://{re.escape(bucket.name)}/site at ")
        # Straight to each node, from a client address (served as a direct
        # client: not the balancer's).
        payload = os.urandom(6 * 1024 * 1024 + 1)
        direct = []
        for node in cluster.nodes:
            ftp = ftplib.FTP(timeout=30, source_address=("127.0.0.7", 0))
            ftp.connect(node.host, node.port)
            ftp.login("alice", PASSWORDS["alice"])
            direct.append(ftp)
        direct[0].storbinary("STOR from-a.bin", io.BytesIO(payload))
        got = io.BytesIO()
        direct[1].retrbinary("RETR from-a.bin", got.write)
        assert got.getvalue() == payload
        direct[1].rename("from-a.bin", "renamed-on-b.bin")
        assert direct[0].size("renamed-on-b.bin") == len(payload)
        assert "from-a.bin" not in direct[0].nlst()
        for ftp in direct:
            ftp.quit()
        assert bucket.get("renamed-on-b.bin") == payload

        payloads = [os.urandom(random.randrange(1, 256 * 1024)) for _ in range(S3_CLIENTS)]
        sources = [f"127.0.0.{10 + i % 100}" for i in range(S3_CLIENTS)]
        uploaded = threading.Barrier(S3_CLIENTS, timeout=60)

        def client(i: int) -> None:
            try:
                ftp = Client(False, timeout=60, source_address=(sources[i], 0))
                ftp.connect(BALANCER, cluster.port)
                ftp.login("alice", PASSWORDS["alice"])
                ftp.storbinary(f"STOR c{i}.bin", io.BytesIO(payloads[i]))
                uploaded.wait()
                for j in (i, (i + 1) % S3_CLIENTS):
                    got = io.BytesIO()
                    ftp.retrbinary(f"RETR c{j}.bin", got.write)
                    if got.getvalue() != payloads[j]:
                        errors.append(f"client {i}: c{j}.bin differs ({len(got.getvalue())} bytes)")
                ftp.quit()
            except Exception as e:  # noqa: BLE001 - collected and reported below
                errors.append(f"client {i} from {sources[i]}: {e!r}")
                uploaded.abort()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(S3_CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert all(not t.is_alive() for t in threads)
    finally:
        cluster.proc.terminate()
        cluster.proc.wait(10)
    assert not errors, f"{len(errors)} failures, first: {errors[:5]}"
    for i, payload in enumerate(payloads):
        assert bucket.get(f"c{i}.bin") == payload
    assert bucket.uploads() == []
    logins = [len(re.findall(LOGIN_RE, n.log())) for n in cluster.nodes]
    assert all(n > 1 for n in logins), logins
    assert sum(logins) == S3_CLIENTS + 2
    cluster.stop()
