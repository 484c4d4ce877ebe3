"""Edge cases from docs/edge-cases.md that the spec list implies: stalls and
timeouts during transfers, the root's protection, REST lifetime, passive
port ranges, signals."""

from __future__ import annotations

import ftplib
import io
import os
import re
import signal
import socket
import subprocess
import time

import pytest
from ringftptest import Raw, add_user, ensure_built

MIB = 1024 * 1024


def retr(ftp: ftplib.FTP, name: str, rest: int | None = None) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write, rest=rest)
    return buf.getvalue()


def test_root_cannot_be_removed_or_renamed(server):
    ftp = server.ftp("alice")
    for line in ("RMD /", "RNFR /", "DELE /", "RMD ."):
        with pytest.raises(ftplib.error_perm, match="^550"):
            ftp.sendcmd(line)
    assert (server.root / "hello.txt").exists()
    ftp.quit()


def test_stor_onto_directory_is_550(ftp, workdir):
    (workdir / "d").mkdir()
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.storbinary("STOR d", io.BytesIO(b"x"))
    assert (workdir / "d").is_dir()


def test_size_of_directory_is_550(ftp, workdir):
    (workdir / "d").mkdir()
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("SIZE d")


def test_path_normalisation(ftp, workdir):
    (workdir / "sub dir").mkdir()
    ftp.cwd(f"//{workdir.name}//sub dir/./")
    assert ftp.pwd() == f"/{workdir.name}/sub dir"
    ftp.cwd("../sub dir/..")
    assert ftp.pwd() == f"/{workdir.name}"


def test_rest_dropped_by_other_command(ftp, workdir):
    (workdir / "r.bin").write_bytes(b"0123456789")
    ftp.voidcmd("TYPE I")
    assert ftp.sendcmd("REST 5").startswith("350")
    ftp.voidcmd("NOOP")
    assert retr(ftp, "r.bin") == b"0123456789"


def test_rest_survives_type_and_pasv(ftp, workdir):
    (workdir / "r.bin").write_bytes(b"0123456789")
    assert ftp.sendcmd("REST 7").startswith("350")
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR r.bin")  # PASV comes between REST and RETR
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
    conn.close()
    ftp.voidresp()
    assert data == b"789"


def test_user_change_while_logged_in(raw):
    r = raw()
    r.login("alice")
    code, text = r.cmd("USER bob")
    assert code == 530, text
    assert r.cmd("PWD")[0] == 257


def test_nlst_of_directory_argument(ftp, workdir):
    (workdir / "d").mkdir()
    (workdir / "d" / "x.txt").write_bytes(b"x")
    names = ftp.nlst("d")
    assert names in (["d/x.txt"], ["x.txt"]), names


def test_list_of_a_file(ftp, workdir):
    (workdir / "only.txt").write_bytes(b"12345")
    lines: list[str] = []
    ftp.retrlines("LIST only.txt", lines.append)
    assert len(lines) == 1 and lines[0].endswith(" only.txt"), lines


def test_big_directory_listing(ftp, workdir):
    names = {f"file-{i:05d}-with a longish name.txt" for i in range(3000)}
    for n in names:
        (workdir / n).touch()
    assert set(ftp.nlst()) == names
    assert {e[0] for e in ftp.mlsd()} == names
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    assert len(lines) == len(names)


def test_commands_during_transfer_answered_after(server, workdir):
    """Pipelined NOOP during a download: answered after 226, in order."""
    (workdir / "b.bin").write_bytes(os.urandom(4 * MIB))
    r = Raw(server.host, server.port)
    r.login()
    r.cmd("TYPE I")
    code, text = r.cmd("EPSV")
    assert code == 229, text
    port = int(re.search(r"\|\|\|(\d+)\|", text).group(1))
    data_sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    r.send(f"RETR /{workdir.name}/b.bin")
    assert r.reply()[0] in (125, 150)
    r.send("NOOP")
    got = 0
    while chunk := data_sock.recv(MIB):
        got += len(chunk)
    data_sock.close()
    assert got == 4 * MIB
    assert r.reply()[0] == 226
    assert r.reply()[0] == 200
    r.close()


def test_passive_port_range(make_server):
    # Find three consecutive free ports to use as the range.
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + 2 > 65535:
            continue
        ok = True
        for p in range(base, base + 3):
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            break
    else:
        pytest.skip("no free port range")
    srv = make_server(extra_args=["--passive-ports", f"{base}-{base + 2}"])
    ftp = srv.ftp("alice")
    for _ in range(10):  # each PASV replaces the last; nothing leaks
        resp = ftp.sendcmd("EPSV")
        port = int(re.search(r"\|\|\|(\d+)\|", resp).group(1))
        assert base <= port <= base + 2, (port, base)
    for _ in range(8):
        assert retr(ftp, "hello.txt") == b"hello world\n"
    # Three sessions hold the three ports; others still get served after.
    sessions = [srv.ftp("alice") for _ in range(3)]
    for s in sessions:
        s.sendcmd("EPSV")
    for s in sessions:
        s.quit()
    assert retr(ftp, "hello.txt") == b"hello world\n"
    ftp.quit()


def test_idle_timeout_does_not_cut_a_slow_transfer(make_server):
    srv = make_server(config={"idle_timeout": 2})
    (srv.root / "slow.bin").write_bytes(os.urandom(8 * MIB))
    ftp = srv.ftp("alice", timeout=15)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR slow.bin")
    got = bytearray()
    t0 = time.monotonic()
    while chunk := conn.recv(256 * 1024):
        got += chunk
        if time.monotonic() - t0 < 4:
            time.sleep(0.05)  # about 4 s for the whole file
    conn.close()
    assert ftp.voidresp().startswith("226")
    assert bytes(got) == (srv.root / "slow.bin").read_bytes()
    assert ftp.voidcmd("NOOP").startswith("200")


def test_stalled_download_hits_data_timeout(make_server):
    srv = make_server(config={"data_timeout": 2, "idle_timeout": 30})
    (srv.root / "stall.bin").write_bytes(os.urandom(32 * MIB))
    ftp = srv.ftp("alice", timeout=15)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR stall.bin")
    conn.recv(1024)  # then never read again
    t0 = time.monotonic()
    with pytest.raises((ftplib.error_temp, ftplib.error_perm)) as e:
        ftp.voidresp()
    assert str(e.value).startswith("426"), e.value
    assert time.monotonic() - t0 < 10
    conn.close()
    assert ftp.voidcmd("NOOP").startswith("200")


def test_stalled_new_upload_hits_data_timeout_and_keeps_partial(make_server):
    srv = make_server(config={"data_timeout": 2, "idle_timeout": 30})
    ftp = srv.ftp("alice", timeout=15)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("STOR stalled.bin")
    data = os.urandom(MIB)
    conn.sendall(data)  # then nothing, and no close
    t0 = time.monotonic()
    with pytest.raises((ftplib.error_temp, ftplib.error_perm)) as e:
        ftp.voidresp()
    assert str(e.value).startswith("426"), e.value
    assert time.monotonic() - t0 < 10
    conn.close()
    assert (srv.root / "stalled.bin").read_bytes() == data
    assert ftp.voidcmd("NOOP").startswith("200")


def test_sighup_reloads_users(make_server):
    srv = make_server()
    with pytest.raises(ftplib.error_perm, match="^530"):
        f = ftplib.FTP()
        f.connect(srv.host, srv.port, timeout=10)
        f.login("dave", "dave-secret")
    add_user(ensure_built(), srv.users, "dave", "dave-secret")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while True:
        f = ftplib.FTP()
        f.connect(srv.host, srv.port, timeout=10)
        try:
            f.login("dave", "dave-secret")
            break
        except ftplib.error_perm:
            f.close()
            if time.monotonic() > deadline:
                pytest.fail("SIGHUP did not reload the users file")
    assert f.pwd() == "/"
    f.quit()
    srv.ftp("alice").quit()  # the others still work


def test_second_sigterm_exits_at_once(make_server):
    srv = make_server()
    (srv.root / "long.bin").write_bytes(os.urandom(32 * MIB))
    ftp = srv.ftp("alice", timeout=15)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR long.bin")
    conn.recv(1024)  # a stalled transfer holds the graceful stop
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        pytest.fail("a second SIGTERM did not stop ringftpd at once")
    assert rc == 130, rc  # docs/edge-cases.md: "a second signal exits at once"
    conn.close()


def test_sigterm_from_timeout_is_one_graceful_stop(tmp_path):
    """GNU timeout sends SIGTERM to the server and then to its whole
    process group, so the signal arrives twice within microseconds: that is
    one request to stop (exit 0), not the "second signal" that exits at once
    (130)."""
    from ringftptest import PASSWORDS, add_user, ensure_built

    binary = ensure_built()
    root = tmp_path / "root"
    root.mkdir()
    users = tmp_path / "users.toml"
    add_user(binary, users, "alice", PASSWORDS["alice"])
    log = tmp_path / "log"
    with open(log, "wb") as err:
        rc = subprocess.run(
            ["timeout", "--preserve-status", "-s", "TERM", "2", str(binary), "serve",
             "--listen", "127.0.0.1:0", "--root", str(root), "--users", str(users),
             "--tls", "off"],
            stdout=subprocess.DEVNULL, stderr=err, timeout=30,
        ).returncode
    text = log.read_text(errors="replace")
    assert "listening on" in text, text
    assert "second signal" not in text, text
    assert rc == 0, (rc, text)


def test_stat_listing_cannot_inject_replies(server, workdir):
    """A file name with CR LF must not end the STAT reply early."""
    (workdir / "inj\r\n221 Bye").write_bytes(b"x")
    (workdir / "nl\n200 fake").write_bytes(b"x")
    r = Raw(server.host, server.port)
    r.login()
    code, text = r.cmd(f"STAT /{workdir.name}")
    assert code in (211, 212, 213), text
    assert text.count("\n") >= 3, text  # both names and the closing line
    assert r.cmd("NOOP")[0] == 200  # still in step
    code, text = r.cmd("PWD")
    assert code == 257, text
    r.close()


def test_replace_during_download_serves_old_content(server, workdir):
    old = os.urandom(16 * MIB)
    new = os.urandom(2 * MIB)
    (workdir / "swap.bin").write_bytes(old)
    reader = server.ftp("alice", timeout=20)
    reader.voidcmd("TYPE I")
    conn = reader.transfercmd(f"RETR /{workdir.name}/swap.bin")
    got = bytearray(conn.recv(MIB))
    writer = server.ftp("alice", timeout=20)
    writer.storbinary(f"STOR /{workdir.name}/swap.bin", io.BytesIO(new))
    writer.quit()
    while chunk := conn.recv(MIB):
        got += chunk
    conn.close()
    assert reader.voidresp().startswith("226")
    assert bytes(got) == old, "a download saw a mix of old and new content"
    assert (workdir / "swap.bin").read_bytes() == new
    reader.quit()
