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
import ipaddress
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
from ringftptest import PASSWORDS, Raw, can_bind_127_0_0_2, start_server

pytestmark = pytest.mark.skipif(
    not can_bind_127_0_0_2(), reason="needs 127.0.0.2 on the loopback interface"
)

CLIENT = "127.0.0.2"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src: str = CLIENT, sport: int = 40001, proto: str = "TCP4") -> bytes:
    return f"PROXY {proto} {src} 127.0.0.1 {sport} 21\r\n".encode()


def v2(src: str = CLIENT, sport: int = 40002, command: int = 1, tlvs: bytes = b"") -> bytes:
    addrs = socket.inet_aton(src) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", sport, 21)
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


def test_passive_connection_must_come_from_the_real_client(pserver):
    c = Balanced(pserver.port, v1())
    c.login()
    code, text = c.cmd("FEAT")
    assert " PASV" in text and " EPSV" not in text, text
    code, text = c.cmd("EPSV")
    assert code == 502 and "PASV" in text, text
    assert c.cmd("TYPE I")[0] == 200
    code, text = c.cmd("PASV")
    assert code == 227, text
    port = pasv_port(text)
    # The balancer's address is not the client's: that connection is refused...
    thief = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.1", 0), timeout=10)
    c.send("RETR hello.txt")
    # ...and the real client's is served.
    real = socket.create_connection(("127.0.0.1", port), source_address=(CLIENT, 0), timeout=10)
    assert c.reply()[0] == 150
    data = b""
    while chunk := real.recv(65536):
        data += chunk
    assert data == b"hello world\n"
    assert c.reply()[0] == 226
    assert closed_without_reply(thief)
    wait_log(pserver, rf"refused peer=127\.0\.0\.1:\d+ what=\"data connection\" why=\"not from the control connection's address {re.escape(CLIENT)}\"")
    for s in (thief, real):
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


HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CLIENTS = 200


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Client(ftplib.FTP):
    """ftplib that connects where PASV says (the instance, not the balancer)
    and remembers each PASV answer."""

    trust_server_pasv_ipv4_address = True

    def __init__(self, **kw):
        super().__init__(**kw)
        self.pasv: list[tuple[str, int]] = []

    def makepasv(self):
        host, port = super().makepasv()
        self.pasv.append((host, port))
        return host, port


def start_haproxy(workdir: Path, mode: str, nodes: list) -> tuple[subprocess.Popen, int]:
    send = {"v1": "send-proxy", "v2": "send-proxy-v2"}[mode]
    for _ in range(5):
        port = free_port()
        servers = "\n".join(
            f"    server {name} {n.host}:{n.port} {send} source 127.0.0.1 check check-send-proxy inter 1s"
            for name, n in zip("ab", nodes)
        )
        cfg = workdir / f"haproxy-{mode}.cfg"
        cfg.write_text(
            f"""global
    maxconn 2000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend ftp
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
{servers}
"""
        )
        log = open(workdir / f"haproxy-{mode}.log", "wb")
        proc = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(cfg)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.settimeout(5)
                    if s.recv(4).startswith(b"220"):
                        return proc, port
            time.sleep(0.1)
        proc.kill()
        proc.wait()
    raise RuntimeError((workdir / f"haproxy-{mode}.log").read_text(errors="replace"))


@pytest.mark.skipif(
    not os.path.exists(HAPROXY) and not os.environ.get("CI"),
    reason="haproxy is not installed (.ci/run installs it)",
)
@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_haproxy_two_nodes_200_clients(tmp_path, mode):
    base = random.randrange(10000, 30000, 400)
    ranges = [range(base, base + 200), range(base + 200, base + 400)]
    hosts = ["127.0.0.1", "127.0.0.3"]
    a = start_server(
        tmp_path / "a",
        host=hosts[0],
        extra_args=["--proxy-protocol", "127.0.0.1", "--passive-address", hosts[0],
                    "--passive-ports", f"{ranges[0].start}-{ranges[0].stop - 1}"],
    )
    b = start_server(
        tmp_path / "b",
        root=a.root,
        users=a.users,
        host=hosts[1],
        extra_args=["--proxy-protocol", "127.0.0.1", "--passive-address", hosts[1],
                    "--passive-ports", f"{ranges[1].start}-{ranges[1].stop - 1}"],
    )
    proc, port = start_haproxy(tmp_path, mode, [a, b])
    up = a.root / f"up-{mode}"
    up.mkdir()
    payloads = [os.urandom(random.randrange(1, 256 * 1024)) for _ in range(CLIENTS)]
    sources = [f"127.0.0.{10 + i % 100}" for i in range(CLIENTS)]
    pasv: list[list[tuple[str, int]]] = [[] for _ in range(CLIENTS)]
    errors: list[str] = []
    uploaded = threading.Barrier(CLIENTS, timeout=60)

    def client(i: int) -> None:
        try:
            ftp = Client(timeout=30, source_address=(sources[i], 0))
            ftp.connect("127.0.0.1", port)
            ftp.login("alice", PASSWORDS["alice"])
            ftp.cwd(f"/up-{mode}")
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
        proc.terminate()
        proc.wait(10)
    assert not errors, f"{len(errors)} failures, first: {errors[:5]}"
    assert all(not t.is_alive() for t in threads)
    for i, data in enumerate(payloads):
        assert (up / f"c{i}.bin").read_bytes() == data

    # Each node answered PASV with its own address and its own port range.
    served = {h: 0 for h in hosts}
    for answers in pasv:
        assert len(answers) == 3, answers
        used = {h for h, _ in answers}
        assert len(used) == 1, answers  # one node per session
        host = used.pop()
        served[host] += 1
        node = hosts.index(host)
        assert all(p in ranges[node] for _, p in answers), (host, answers)
    assert served[hosts[0]] > 0 and served[hosts[1]] > 0, served
    assert sum(served.values()) == CLIENTS

    # Their logs show the real client addresses, never the balancer's.
    seen: dict[str, set[str]] = {}
    for name, node in zip(hosts, (a, b)):
        ips = re.findall(r"login user=\"alice\" peer=([\d.]+):\d+ result=\"ok\"", node.log())
        assert len(ips) == served[name], (name, len(ips), served[name])
        seen[name] = set(ips)
        assert "balancer sent no" not in node.log()
    assert seen[hosts[0]] | seen[hosts[1]] == set(sources)
    assert all(ipaddress.ip_address(ip) != ipaddress.ip_address("127.0.0.1") for s in seen.values() for ip in s)
    print(f"{mode}: {CLIENTS} clients through HAProxy in {elapsed:.1f} s, nodes {served}")
    a.stop()
    b.stop()
