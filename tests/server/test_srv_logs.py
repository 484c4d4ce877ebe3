"""The operator's log: one line per login, transfer and refusal, as text or
JSON (--log-format), never a password; and the xferlog(5) file (--xferlog)
in the wu-ftpd/vsftpd format."""

from __future__ import annotations

import ftplib
import io
import json
import re
import time

import pytest
from ringftptest import PASSWORDS, Raw

WRONG = "not-the-password-xyzzy"


def wait_for(predicate, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def json_lines(srv) -> list[dict]:
    out = []
    for line in srv.log().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def session_traffic(srv) -> None:
    """A failed and a good login, a download, an upload, an aborted upload
    and a refused PORT."""
    ftp = ftplib.FTP(timeout=15)
    ftp.connect(srv.host, srv.port)
    with pytest.raises(ftplib.error_perm):
        ftp.login("alice", WRONG)
    ftp.close()
    ftp = srv.ftp("alice")
    buf = io.BytesIO()
    ftp.retrbinary("RETR big.bin", buf.write)
    assert len(buf.getvalue()) == 2 * 1024 * 1024
    ftp.storbinary("STOR up load.bin", io.BytesIO(b"x" * 1000))
    with pytest.raises(ftplib.error_perm):
        ftp.sendcmd("PORT 10,9,8,7,200,10")
    ftp.quit()
    bob = srv.ftp("bob")
    with pytest.raises(ftplib.error_perm):
        bob.storbinary("STOR nope.txt", io.BytesIO(b"no"))
    bob.quit()


def test_json_lines_for_login_transfer_refusal(make_server, tmp_path):
    srv = make_server(
        config={"login_fail_delay": 0},
        extra_args=["--log-format", "json", "--xferlog", str(tmp_path / "x.log")],
    )
    session_traffic(srv)

    def have_all():
        events = json_lines(srv)
        msgs = [e.get("message") for e in events]
        if msgs.count("transfer") >= 2 and msgs.count("refused") >= 2:
            return events
        return None

    events = wait_for(have_all, "the transfer and refusal lines")
    text = srv.log()
    # Every line is JSON (start-up lines too), but for the two lines the
    # first start prints on stdout for the operator, as ssh-keygen does.
    first_start = ("ringftpd: TLS certificate created: ", "ringftpd: ECDSA key fingerprint is ")
    for line in text.splitlines():
        assert line.startswith("{") or line.startswith(first_start), line
    for pw in PASSWORDS.values():
        assert pw not in text
    assert WRONG not in text

    logins = [e for e in events if e.get("message") == "login"]
    failed = [e for e in logins if e["result"] == "failed"]
    ok = [e for e in logins if e["result"] == "ok"]
    assert failed and failed[0]["user"] == "alice" and failed[0]["failures"] == 1
    assert failed[0]["peer"].startswith("127.0.0.1:")
    assert {e["user"] for e in ok} == {"alice", "bob"}

    transfers = {e["path"]: e for e in events if e.get("message") == "transfer"}
    down = transfers["/big.bin"]
    assert down["direction"] == "download" and down["result"] == "ok"
    assert down["bytes"] == 2 * 1024 * 1024
    assert down["seconds"] >= 0 and down["rate"] > 0
    assert down["user"] == "alice" and down["peer"].startswith("127.0.0.1:")
    up = transfers["/up load.bin"]
    assert (up["direction"], up["bytes"], up["result"]) == ("upload", 1000, "ok")

    refusals = [e for e in events if e.get("message") == "refused"]
    whats = {e["what"]: e for e in refusals}
    assert "RFC 2577" in whats["PORT"]["why"], refusals
    assert "read-only" in whats["write"]["why"], refusals
    for e in refusals:
        assert e["peer"].startswith("127.0.0.1:")
        assert e["level"] == "WARN"


def test_text_lines_and_no_password(make_server):
    srv = make_server(config={"login_fail_delay": 0})
    r = Raw(srv.host, srv.port)
    r.cmd("USER alice")
    code, _ = r.cmd(f"PASS {WRONG}")
    assert code == 530
    r.login("alice")
    r.close()
    line = wait_for(
        lambda: re.search(r"login user=\"?alice\"? peer=127\.0\.0\.1:\d+ result=\"?ok", srv.log()),
        "the login line",
    )
    assert line
    assert re.search(r"login user=\"?alice\"? peer=\S+ result=\"?failed\"? failures=1", srv.log())
    assert WRONG not in srv.log() and PASSWORDS["alice"] not in srv.log()


def test_xferlog_records_parse(make_server, tmp_path):
    path = tmp_path / "xferlog"
    srv = make_server(
        config={"login_fail_delay": 0},
        extra_args=["--xferlog", str(path)],
    )
    session_traffic(srv)

    def records():
        lines = path.read_text().splitlines()
        return lines if len(lines) >= 2 else None

    records = wait_for(records, "two xferlog records")
    by_name = {}
    for rec in records:
        w = rec.split()
        assert len(w) == 18, rec
        # current-time: ctime style, e.g. "Wed Dec  2 09:05:07 2026"
        time.strptime(" ".join(w[0:5]), "%a %b %d %H:%M:%S %Y")
        assert int(w[5]) >= 1  # transfer-time, whole seconds
        assert w[6] == "127.0.0.1"  # remote-host
        assert w[9] in ("a", "b") and w[10] == "_"
        assert w[12] == "r" and w[14] == "ftp" and w[15] == "0" and w[16] == "*"
        by_name[w[8]] = w
    down = by_name["/big.bin"]
    assert (down[7], down[9], down[11], down[13], down[17]) == (
        str(2 * 1024 * 1024), "b", "o", "alice", "c"
    )
    up = by_name["/up_load.bin"]  # spaces become "_"
    assert (up[7], up[11], up[17]) == ("1000", "i", "c")


@pytest.mark.parametrize("mode", ["I", "A"])
def test_an_aborted_download_logs_the_bytes_sent(make_server, mode):
    """A RETR cut by ABOR logs how far it got (more than nothing, less than
    the file), in TYPE I (splice) and TYPE A (buffered) alike."""
    srv = make_server(config={"login_fail_delay": 0}, extra_args=["--log-format", "json"])
    size = 64 * 1024 * 1024
    (srv.root / "huge.bin").write_bytes(b"\n" * size if mode == "A" else b"\0" * size)
    ftp = srv.ftp("alice")
    ftp.sendcmd(f"TYPE {mode}")
    conn = ftp.transfercmd("RETR huge.bin")
    got = 0
    while got < 1024 * 1024:
        chunk = conn.recv(65536)
        assert chunk
        got += len(chunk)
    # Stop reading: the transfer is surely still running when ABOR arrives.
    ftp.putcmd("ABOR")
    resp = ftp.getmultiline()
    if resp.startswith("426"):
        resp = ftp.getmultiline()
    assert resp.startswith("226"), resp
    conn.close()
    ftp.quit()

    def aborted():
        return [
            e
            for e in json_lines(srv)
            if e.get("message") == "transfer" and e.get("path") == "/huge.bin"
        ]

    (line,) = wait_for(aborted, "the aborted transfer's line")
    assert line["result"] == "aborted"
    assert 0 < line["bytes"] < size, line
