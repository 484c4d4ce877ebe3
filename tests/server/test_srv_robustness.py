"""Bad input, timeouts, silent clients, graceful shutdown."""

from __future__ import annotations

import ftplib
import signal
import socket
import subprocess
import time

import pytest
from ringftptest import PASSWORDS, Raw


def test_very_long_line_is_500_and_session_survives(raw):
    r = raw()
    r.login()
    code, text = r.cmd("NOOP " + "A" * 10_000)
    assert code == 500, text
    assert r.cmd("NOOP")[0] == 200
    assert r.cmd("PWD")[0] == 257


def test_very_long_line_before_login(raw):
    r = raw()
    code, text = r.cmd("USER " + "u" * 10_000)
    assert code == 500, text
    r.login()


def test_huge_line_without_newline_is_bounded(raw):
    """1 MiB with no line end: refused, and the session resynchronises."""
    r = raw(timeout=20)
    r.login()
    try:
        r.sock.sendall(b"X" * (1024 * 1024) + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pytest.fail("server dropped the session instead of refusing the line")
    code, text = r.reply()
    assert code == 500, text
    # Exactly one reply for the one over-long line: the next is NOOP's.
    assert r.cmd("NOOP")[0] == 200
    assert r.cmd("PWD")[0] == 257


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x80\x81\x82\xc3\x28 foo",
        b"NOOP \xc3\x28",
        b"\x01\x02\x03\x04",
        b"RETR \xfe\xfd",
    ],
)
def test_garbage_is_500_and_session_survives(raw, garbage):
    r = raw()
    r.login()
    r.sock.sendall(garbage + b"\r\n")
    code, text = r.reply()
    assert code in (500, 501), text
    assert r.cmd("NOOP")[0] == 200
    assert r.cmd("PWD")[0] == 257


def test_empty_line(raw):
    r = raw()
    r.login()
    r.sock.sendall(b"\r\n")
    code, text = r.reply()
    assert code in (500, 501), text
    assert r.cmd("NOOP")[0] == 200


@pytest.mark.parametrize("verb", ["RETR", "CWD", "MKD", "STOR", "DELE", "SIZE", "LIST"])
def test_nul_in_path_is_501(raw, verb):
    r = raw()
    r.login()
    r.sock.sendall(f"{verb} a".encode() + b"\x00b\r\n")
    code, text = r.reply()
    assert code == 501, text
    assert r.cmd("NOOP")[0] == 200


def test_bare_lf_and_lowercase(raw):
    r = raw()
    r.sock.sendall(b"user alice\n")
    assert r.reply()[0] == 331
    r.sock.sendall(f"pass {PASSWORDS['alice']}\n".encode())
    assert r.reply()[0] == 230
    r.sock.sendall(b"pWd\n")
    assert r.reply()[0] == 257


def test_pipelined_commands_answered_in_order(raw):
    r = raw()
    r.login()
    r.sock.sendall(b"NOOP\r\nPWD\r\nSYST\r\nTYPE I\r\nFOO\r\n")
    assert [r.reply()[0] for _ in range(5)] == [200, 257, 215, 200, 500]


def test_silent_clients_do_not_block_others(server):
    silent = []
    try:
        for _ in range(20):
            s = socket.create_connection((server.host, server.port), timeout=5)
            silent.append(s)  # never reads, never writes
        t0 = time.monotonic()
        ftp = server.ftp("alice")
        ftp.voidcmd("NOOP")
        assert ftp.pwd() == "/"
        ftp.quit()
        assert time.monotonic() - t0 < 3.0
    finally:
        for s in silent:
            s.close()


def test_half_sent_command_does_not_block_others(server):
    r = Raw(server.host, server.port)
    r.sock.sendall(b"USER ali")  # no line end, ever
    try:
        t0 = time.monotonic()
        ftp = server.ftp("bob")
        ftp.voidcmd("NOOP")
        ftp.quit()
        assert time.monotonic() - t0 < 3.0
    finally:
        r.close()


def test_idle_timeout(make_server):
    srv = make_server(config={"idle_timeout": 2})
    r = Raw(srv.host, srv.port, timeout=10)
    r.login()
    t0 = time.monotonic()
    try:
        code, text = r.reply()
    except EOFError:
        pytest.fail("closed without a 421")
    elapsed = time.monotonic() - t0
    assert code == 421, text
    assert 1.5 <= elapsed <= 6, elapsed
    with pytest.raises((EOFError, ConnectionResetError)):
        r.reply()
    # An active session is not cut: commands reset the timer.
    r2 = Raw(srv.host, srv.port, timeout=10)
    r2.login()
    for _ in range(4):
        time.sleep(1)
        assert r2.cmd("NOOP")[0] == 200
    r2.close()


def test_idle_timeout_flag(make_server):
    srv = make_server(extra_args=["--idle-timeout", "1"])
    r = Raw(srv.host, srv.port, timeout=10)
    r.login()
    t0 = time.monotonic()
    code, text = r.reply()
    assert code == 421, text
    assert time.monotonic() - t0 < 5


def test_login_timeout(make_server):
    srv = make_server(config={"login_timeout": 2})
    r = Raw(srv.host, srv.port, timeout=10)
    t0 = time.monotonic()
    try:
        code, text = r.reply()
        assert code == 421, text
    except EOFError:
        pass
    assert time.monotonic() - t0 < 6


def test_login_fail_delay_default_and_max_failures_config(make_server):
    srv = make_server(config={"login_fail_delay": 0, "max_login_failures": 1})
    r = Raw(srv.host, srv.port, timeout=10)
    assert r.cmd("USER alice")[0] == 331
    t0 = time.monotonic()
    r.send("PASS wrong")
    codes = []
    try:
        while True:
            codes.append(r.reply()[0])
    except (EOFError, ConnectionResetError):
        pass
    assert codes and set(codes) <= {530, 421}, codes
    assert time.monotonic() - t0 < 2


def test_banner_config(make_server):
    srv = make_server(config={"banner": "Welcome to the test server"})
    r = Raw(srv.host, srv.port)
    assert r.greeting[0] == 220
    assert "Welcome to the test server" in r.greeting[1]
    r.close()


def test_max_clients(make_server):
    srv = make_server(extra_args=["--max-clients", "3"])
    held = [Raw(srv.host, srv.port) for _ in range(3)]
    try:
        extra = socket.create_connection((srv.host, srv.port), timeout=5)
        data = b""
        try:
            while chunk := extra.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
        extra.close()
        assert data.startswith(b"421") or data == b"", data
        # When one leaves, a new one gets in.
        held.pop().cmd("QUIT")
        time.sleep(0.3)
        ftp = ftplib.FTP()
        ftp.connect(srv.host, srv.port, timeout=5)
        ftp.login("alice", PASSWORDS["alice"])
        ftp.quit()
    finally:
        for r in held:
            r.close()


def test_data_timeout_when_client_never_connects(make_server):
    srv = make_server(config={"data_timeout": 2})
    r = Raw(srv.host, srv.port, timeout=10)
    r.login()
    assert r.cmd("PASV")[0] == 227
    t0 = time.monotonic()
    r.send("RETR /hello.txt")
    codes = []
    code, text = r.reply()
    codes.append(code)
    if code in (125, 150):
        codes.append(r.reply()[0])
    assert codes[-1] == 425, (codes, text)
    assert time.monotonic() - t0 < 6
    assert r.cmd("NOOP")[0] == 200


def test_sigterm_with_open_sessions_exits_zero(make_server):
    srv = make_server()
    sessions = [Raw(srv.host, srv.port, timeout=10) for _ in range(3)]
    sessions[0].login()
    sessions[1].login("bob")
    ftp = srv.ftp("alice")
    ftp.voidcmd("NOOP")
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail("ringftpd did not exit within 8 s of SIGTERM")
    assert rc == 0, srv.log()[-3000:]
    assert time.monotonic() - t0 < 8
    # Sessions were told (421) or at least closed.
    for r in sessions:
        try:
            code, _ = r.reply()
            assert code == 421
        except (EOFError, ConnectionResetError):
            pass
    # Nothing listens any more.
    with pytest.raises(OSError):
        socket.create_connection((srv.host, srv.port), timeout=2)
