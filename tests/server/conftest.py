"""Fixtures for the server suites: a logged-in ftplib session working in a
fresh directory of its own on the shared server; moto's S3 server, a fresh
bucket per test and a ringftpd serving it."""

from __future__ import annotations

import ftplib
import itertools
import os

import pytest
from ringftptest import (
    PASSWORDS,
    Moto,
    add_user,
    ensure_built,
    moto_missing,
    populate_bucket,
    start_server,
)

_ids = itertools.count()


@pytest.fixture
def workname(request):
    """A directory name unique to this test (created on disk, inside the root)."""
    return f"w{os.getpid()}-{next(_ids)}-{request.node.name[:40]}".replace(
        "[", "_"
    ).replace("]", "_")


@pytest.fixture
def workdir(server, workname):
    path = server.root / workname
    path.mkdir()
    return path


@pytest.fixture
def ftp(server, workdir):
    """alice, logged in, current directory = workdir."""
    conn = server.ftp("alice")
    conn.cwd("/" + workdir.name)
    yield conn
    try:
        conn.quit()
    except (ftplib.Error, OSError, EOFError):
        conn.close()


@pytest.fixture(scope="session")
def shared_users(tmp_path_factory):
    """One users file (alice, bob read-only, carol with home alice/) for the
    servers that need no file of their own: each `user add` costs an argon2id
    hash, a server start with an existing file is cheaper. The TLS
    certificate is made beside it by the first server that starts."""
    binary = ensure_built()
    users = tmp_path_factory.mktemp("users") / "users.toml"
    add_user(binary, users, "alice", PASSWORDS["alice"])
    add_user(binary, users, "bob", PASSWORDS["bob"], "--read-only")
    add_user(binary, users, "carol", PASSWORDS["carol"], "--home", "alice")
    return users


@pytest.fixture(scope="session")
def moto():
    """moto's S3 server on 127.0.0.1 (an OS-chosen port) for the whole run;
    skips only when moto is not installed."""
    reason = moto_missing()
    if reason:
        pytest.skip(reason)
    server = Moto()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(moto):
    """A fresh, empty bucket for this test."""
    return moto.new_bucket()


@pytest.fixture
def s3_server(s3_bucket, shared_users, tmp_path):
    """ringftpd serving a fresh bucket laid out as `populate_root` does, with
    5 MiB multipart parts (the S3 minimum, so part boundaries fall near the
    sizes the tests use); stopped at teardown."""
    populate_bucket(s3_bucket)
    srv = start_server(
        tmp_path / "s3srv",
        s3=s3_bucket,
        users=shared_users,
        config={"login_fail_delay": 1, "ban_after": 0, "s3": {"part_size": "5M"}},
    )
    yield srv
    srv.stop()
