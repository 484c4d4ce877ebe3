"""Login (RFC 959 4.1.1, RFC 2577 5): replies, the failure delay, the
failure limit, and what is allowed before login."""

from __future__ import annotations

import threading
import time

import pytest
from ringftptest import PASSWORDS, Raw


def test_greeting_and_good_login(raw):
    r = raw()
    assert r.greeting[0] == 220, r.greeting
    code, text = r.cmd("USER alice")
    assert code == 331, text
    code, text = r.cmd(f"PASS {PASSWORDS['alice']}")
    assert code == 230, text
    code, text = r.cmd("PWD")
    assert code == 257, text


def test_ftplib_login(server):
    ftp = server.ftp("bob")
    assert ftp.pwd() == "/"
    ftp.quit()


def test_unknown_user_looks_like_wrong_password(raw):
    """331 for any name, then the same 530 text as a wrong password."""
    results = {}

    def attempt(user: str, password: str) -> None:
        r = raw()
        c1, _ = r.cmd(f"USER {user}")
        t0 = time.monotonic()
        c2, text = r.cmd(f"PASS {password}")
        results[user] = (c1, c2, text[3:].strip(), time.monotonic() - t0)

    threads = [
        threading.Thread(target=attempt, args=("nosuchuser", "whatever")),
        threading.Thread(target=attempt, args=("alice", "wrong-password")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    unknown, wrong = results["nosuchuser"], results["alice"]
    assert unknown[0] == 331 and wrong[0] == 331, results
    assert unknown[1] == 530 and wrong[1] == 530, results
    assert unknown[2] == wrong[2], "the 530 text must not tell unknown users apart"
    # Both get the failure delay (config: login_fail_delay = 1).
    assert unknown[3] >= 0.9 and wrong[3] >= 0.9, results


def test_failed_login_delay_does_not_block_other_sessions(raw):
    victim = raw()
    other = raw()
    other.login("bob")
    assert victim.cmd("USER alice")[0] == 331
    t0 = time.monotonic()
    victim.send("PASS definitely-wrong")
    time.sleep(0.1)  # the PASS is in flight; its reply is being delayed
    t1 = time.monotonic()
    code, text = other.cmd("NOOP")
    noop_time = time.monotonic() - t1
    assert code == 200, text
    assert noop_time < 0.5, (
        f"another session's NOOP took {noop_time:.2f}s during a login delay"
    )
    code, text = victim.reply()
    elapsed = time.monotonic() - t0
    assert code == 530, text
    assert elapsed >= 0.9, f"530 came after {elapsed:.2f}s; login_fail_delay is 1s"


def test_connection_closed_after_three_failures(raw):
    r = raw(timeout=15)
    codes = []
    for _ in range(3):
        assert r.cmd("USER alice")[0] == 331
        r.send("PASS wrong")
        try:
            codes.append(r.reply()[0])
        except EOFError:
            codes.append("EOF")
            break
    # After the third failure: 421 and/or EOF, never another chance.
    closed = "EOF" in codes
    while not closed:
        try:
            code, _ = r.reply()
            codes.append(code)
            assert code == 421, codes
        except EOFError:
            closed = True
        except (TimeoutError, ConnectionResetError) as e:
            pytest.fail(
                f"expected 421/EOF after 3 failures, got {e!r}; replies {codes}"
            )
    assert codes[0] == 530 and codes[1] == 530, codes
    assert all(c in (530, 421, "EOF") for c in codes), codes
    # The socket is really closed: a further command gets nothing.
    try:
        r.send("USER alice")
        extra = r.reply()
        pytest.fail(f"session still answers after 3 failures: {extra}")
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass


@pytest.mark.parametrize(
    "line",
    [
        "PWD",
        "XPWD",
        "CWD /",
        "CDUP",
        "LIST",
        "NLST",
        "MLSD",
        "MLST hello.txt",
        "RETR hello.txt",
        "STOR x.txt",
        "DELE hello.txt",
        "MKD newdir",
        "RMD dir",
        "RNFR hello.txt",
        "SIZE hello.txt",
        "MDTM hello.txt",
        "PASV",
        "EPSV",
        "PORT 127,0,0,1,200,1",
        "TYPE I",
        "STAT",
        "SITE CHMOD 777 hello.txt",
        "AVBL",
        "REST 0",
    ],
)
def test_commands_before_login_get_530(raw, line):
    r = raw()
    code, text = r.cmd(line)
    assert code == 530, f"{line!r} before login: {text}"


@pytest.mark.parametrize(
    "line,expected",
    [
        ("FEAT", 211),
        ("SYST", 215),
        ("NOOP", 200),
        ("HELP", 214),
        ("OPTS UTF8 ON", 200),
    ],
)
def test_commands_allowed_before_login(raw, line, expected):
    r = raw()
    code, text = r.cmd(line)
    assert code == expected, f"{line!r} before login: {text}"
    # The session is still usable for logging in.
    r.login()


def test_auth_before_login_is_not_530(raw):
    r = raw()
    # An unknown mechanism: answered (504), not refused for lack of login.
    code, text = r.cmd("AUTH KERBEROS_V4")
    assert code == 504, text
    r.login()


def test_quit_before_login(raw):
    r = raw()
    code, text = r.cmd("QUIT")
    assert code == 221, text
    with pytest.raises(EOFError):
        r.reply()


def test_password_with_spaces_and_utf8(make_server, tmp_path):
    from ringftptest import add_user, ensure_built

    users = tmp_path / "users-spaces.toml"
    password = "  pass with spaces ü €  "
    add_user(ensure_built(), users, "eve", password)
    srv = make_server(users=users)
    r = Raw(srv.host, srv.port)
    assert r.cmd("USER eve")[0] == 331
    r.sock.sendall(f"PASS {password}\r\n".encode())
    code, text = r.reply()
    assert code == 230, text
    r.close()
