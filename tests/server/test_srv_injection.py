"""Injection: plaintext commands pipelined after AUTH TLS (the STARTTLS
command-injection hole), and control characters that try to forge log
lines. docs/security.md names these tests."""

from __future__ import annotations

import io
import re
import socket

from ringftptest import PASSWORDS, Raw, tls_client_context


def test_plaintext_pipelined_after_auth_tls_is_never_executed(server):
    """A man in the middle appends `USER`/`PASS`/`DELE` in the clear after the
    client's AUTH TLS; none of it may run as if it came through TLS."""
    victim = server.root / "inject-victim.txt"
    victim.write_bytes(b"keep me\n")
    sock = socket.create_connection((server.host, server.port), timeout=10)
    buf = b""
    while not buf.endswith(b"\r\n"):
        buf += sock.recv(1024)
    assert buf.startswith(b"220"), buf
    sock.sendall(
        b"AUTH TLS\r\nUSER alice\r\nPASS "
        + PASSWORDS["alice"].encode()
        + b"\r\nDELE /inject-victim.txt\r\n"
    )
    reply = b""
    while not reply.endswith(b"\r\n"):
        reply += sock.recv(1)  # one byte at a time: leave the rest unread
    assert reply.startswith(b"234"), reply
    tls = tls_client_context().wrap_socket(sock, server_hostname=server.host)
    f = tls.makefile("rwb")
    f.write(b"PWD\r\n")
    f.flush()
    line = f.readline()
    # Not logged in: the pipelined USER/PASS were dropped, not run.
    assert line.startswith(b"530"), line
    assert victim.read_bytes() == b"keep me\n"
    f.write(b"QUIT\r\n")
    f.flush()
    tls.close()


def test_control_characters_in_names_cannot_forge_log_lines(make_server):
    """CR/LF never reach a log (proto refuses them, 501); other control
    characters in a file name are escaped in the log, never written raw."""
    srv = make_server()
    r = Raw(srv.host, srv.port)
    r.login()
    code, text = r.cmd(b"DELE x\rINFO forged")
    assert code == 501, text
    assert r.cmd("NOOP")[0] == 200
    r.close()
    ftp = srv.ftp()
    name = "evil\x1b[2J\x08\x07name.txt"
    ftp.storbinary(f"STOR {name}", io.BytesIO(b"x"))
    ftp.quit()
    srv.stop()
    log = srv.log()
    assert "evil" in log, log[-2000:]
    for raw in ("\x1b", "\x08", "\x07", "\rINFO forged", "\nINFO forged"):
        assert raw not in log, repr(raw)
    # Every line of the log is one record that starts with a timestamp.
    for line in log.splitlines():
        assert re.match(r"^\d{4}-\d\d-\d\dT", line) or line.startswith("ringftpd:"), line
