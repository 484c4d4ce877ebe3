"""ringftp against the recorded OpenSSH sftp reference, scenario by scenario.

For each client/tests/scenarios/NAME.sftp the fixture is built afresh, a
ringftpd serves its remote tree, and ringftp is run the way record.sh ran
sftp (``-b FILE``; commands on stdin; typed on a terminal; or arguments only,
by the file-name prefix). Its output goes through the same normalize.py and
must equal client/tests/reference/NAME.out; the trees afterwards must equal
NAME.tree (the files really moved, byte for byte).

A subset runs against a private vsftpd as well: a standard server with LIST
instead of MLSD and no SITE SYMLINK/AVBL, so only scenarios that need neither.
"""

from __future__ import annotations

import difflib
import io
from pathlib import Path

import normalize
import pty_run
import pytest
from clientharness import REF_DIR, SCEN_DIR, Client

SCENARIOS = sorted(p.stem for p in SCEN_DIR.glob("*.sftp"))
VSFTPD_SCENARIOS = [
    "nav",
    "stdin_get",
    "stdin_put",
    "stdin_recursive",
    "stdin_resume",
    "get_missing",
    "batch_stop",
    "argv_getfile",
]


def run_scenario(client: Client, name: str) -> str:
    """Runs one scenario with ringftp; returns its normalised document."""
    scenario = SCEN_DIR / f"{name}.sftp"
    local = str(client.fx.local)
    if name.startswith("pty_"):
        out = io.StringIO()
        rc = pty_run.run(
            str(scenario),
            client.args(client.dest),
            out,
            cwd=local,
            env=client.env(),
        )
        return normalize.document([("terminal", out.getvalue())], rc, local, None)
    if name.startswith("argv_"):
        words = scenario.read_text().split()
        proc = client.run(*[w.replace("@HOST@", client.dest) for w in words])
    elif name.startswith("stdin_"):
        proc = client.run(client.dest, stdin=scenario.read_bytes())
    else:
        proc = client.run("-b", str(scenario), client.dest)
    streams = [
        ("stdout", proc.stdout.decode("utf-8", "replace")),
        ("stderr", proc.stderr.decode("utf-8", "replace")),
    ]
    return normalize.document(streams, proc.returncode, local, None)


def assert_same(expected_path: Path, actual: str, what: str) -> None:
    expected = expected_path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"sftp ({expected_path.name})",
                tofile="ringftp",
            )
        )
        pytest.fail(f"{what} differs from the sftp reference:\n{diff}", pytrace=False)


def check(client: Client, name: str) -> None:
    doc = run_scenario(client, name)
    assert_same(REF_DIR / f"{name}.out", doc, f"output of {name}")
    assert_same(REF_DIR / f"{name}.tree", client.fx.tree(), f"trees after {name}")


def test_every_scenario_has_a_reference():
    for name in SCENARIOS:
        assert (REF_DIR / f"{name}.out").exists(), f"run record.sh {name}"
        assert (REF_DIR / f"{name}.tree").exists(), f"run record.sh {name}"


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_ringftpd(client, name):
    check(client, name)


@pytest.mark.parametrize("name", VSFTPD_SCENARIOS)
def test_scenario_vsftpd(vs_client, name):
    check(vs_client, name)
