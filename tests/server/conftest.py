"""Fixtures for the server suites: a logged-in ftplib session working in a
fresh directory of its own on the shared server."""

from __future__ import annotations

import ftplib
import itertools
import os

import pytest

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
