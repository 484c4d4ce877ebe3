"""Fixtures for the ringftp (client) black-box suite; the machinery is in
clientharness.py (binaries, fixture trees, private ringftpd and vsftpd)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from clientharness import (
    Client,
    Fixture,
    _running,
    make_fixture,
    ringftp_bin,
    start_ringftpd,
    start_vsftpd,
)


@pytest.fixture
def fixture_trees() -> Fixture:
    # Not under tmp_path: pytest's temp dirs are 0700, and vsftpd's local
    # user must be able to reach its home.
    base = Path(tempfile.mkdtemp(prefix="ringftp-cli-"))
    base.chmod(0o755)
    yield make_fixture(base / "fx")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ftpd(fixture_trees):
    srv = start_ringftpd(fixture_trees)
    yield srv
    srv.stop()
    _running.remove(srv)


@pytest.fixture
def client(ftpd, fixture_trees) -> Client:
    return Client(ringftp_bin(), ftpd, fixture_trees)


@pytest.fixture
def vsftpd(fixture_trees):
    srv = start_vsftpd(fixture_trees)
    yield srv
    srv.stop()
    _running.remove(srv)


@pytest.fixture
def vs_client(vsftpd, fixture_trees) -> Client:
    return Client(ringftp_bin(), vsftpd, fixture_trees)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A failing test shows the logs of the servers it ran against.
    if call.excinfo is not None and call.when in ("setup", "call"):
        for srv in list(_running):
            item.add_report_section(
                call.when, f"{srv.kind} port {srv.port} log", srv.log()[-6000:]
            )
    yield
