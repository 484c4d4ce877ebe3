"""Fixtures for the black-box suites; the machinery is in ringftptest.py."""

from __future__ import annotations

import pytest
from ringftptest import Raw, Server, _running, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server shared by the tests that do not change its configuration.
    Tests that write files use names of their own."""
    # Every test's failed logins come from 127.0.0.1: without ban_after = 0
    # the suite would ban itself. Bans are tested on private servers
    # (test_srv_attack.py).
    srv = start_server(
        tmp_path_factory.mktemp("srv"),
        config={"login_fail_delay": 1, "max_login_failures": 3, "ban_after": 0},
        extra_args=["--max-clients", "2000"],
    )
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path):
    """Factory for a private server with its own config; stopped at teardown."""
    started: list[Server] = []
    counter = [0]

    def factory(**kw) -> Server:
        counter[0] += 1
        srv = start_server(tmp_path / f"srv{counter[0]}", **kw)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Attach the logs of running servers to a failing test's report.
    if call.excinfo is not None and call.when in ("setup", "call"):
        for i, srv in enumerate(list(_running)):
            text = srv.log()
            tail = text[-8000:]
            item.add_report_section(
                call.when, f"ringftpd[{i}] port {srv.port} log", tail
            )
    yield


@pytest.fixture
def raw(server):
    """Factory for raw control connections to the shared server."""
    conns: list[Raw] = []

    def factory(srv: Server | None = None, **kw) -> Raw:
        s = srv or server
        r = Raw(s.host, s.port, **kw)
        conns.append(r)
        return r

    yield factory
    for r in conns:
        r.close()


def pytest_configure(config):
    # Lots of sessions and files in the scale test.
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 16384) if hard != resource.RLIM_INFINITY else 16384
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):
        pass
