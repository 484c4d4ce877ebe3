"""The Debian package (scripts/deb.sh, cargo-deb): what it holds, that its
unit passes `systemd-analyze verify`, and an install into a throwaway root:
postinst run in a private mount namespace (copies of /etc, /srv and /var/log),
then the unit's ExecStart run as its User= with the packaged configuration,
serving a login, an upload and a download.

The build reuses target/release (the quick bench builds it earlier in
scripts/test.sh); cargo-deb comes from `.ci/run`."""

from __future__ import annotations

import ftplib
import io
import os
import re
import shutil
import signal
import stat
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
from ringftptest import REPO

PASSWORD = "pkg-test-secret"


def run(*args, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([str(a) for a in args], **kw)


@pytest.fixture(scope="module")
def deb() -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed (not a Debian/Ubuntu machine)")
    if shutil.which("cargo-deb") is None:
        pytest.skip("cargo-deb is not installed: cargo install cargo-deb --locked")
    proc = run(REPO / "scripts" / "deb.sh", cwd=REPO, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    path = Path(proc.stdout.strip().splitlines()[-1])
    if not path.is_absolute():
        path = REPO / path
    assert path.name.startswith("ringftpd_") and path.suffix == ".deb", proc.stdout
    return path


@pytest.fixture(scope="module")
def tree(deb, tmp_path_factory) -> Path:
    """The package's files, unpacked with dpkg-deb -x."""
    root = tmp_path_factory.mktemp("pkgroot")
    proc = run("dpkg-deb", "-x", deb, root)
    assert proc.returncode == 0, proc.stderr
    return root


def contents(deb: Path) -> dict[str, str]:
    """path -> mode string, from `dpkg-deb -c`."""
    out = run("dpkg-deb", "-c", deb).stdout
    entries = {}
    for line in out.splitlines():
        fields = line.split()
        entries[fields[-1].removeprefix(".")] = fields[0]
    return entries


def test_package_holds_both_binaries_config_unit_manuals_completions(deb):
    files = contents(deb)
    expected = {
        "/usr/bin/ringftpd": "-rwxr-xr-x",
        "/usr/bin/ringftp": "-rwxr-xr-x",
        "/etc/ringftpd/ringftpd.toml": "-rw-r--r--",
        "/etc/logrotate.d/ringftpd": "-rw-r--r--",
        "/usr/lib/systemd/system/ringftpd.service": "-rw-r--r--",
        "/usr/share/man/man8/ringftpd.8.gz": "-rw-r--r--",
        "/usr/share/man/man8/ringftpd-serve.8.gz": "-rw-r--r--",
        "/usr/share/man/man8/ringftpd-user.8.gz": "-rw-r--r--",
        "/usr/share/man/man8/ringftpd-user-add.8.gz": "-rw-r--r--",
        "/usr/share/man/man1/ringftp.1.gz": "-rw-r--r--",
        "/usr/share/bash-completion/completions/ringftpd": "-rw-r--r--",
        "/usr/share/bash-completion/completions/ringftp": "-rw-r--r--",
        "/usr/share/zsh/vendor-completions/_ringftpd": "-rw-r--r--",
        "/usr/share/zsh/vendor-completions/_ringftp": "-rw-r--r--",
        "/usr/share/fish/vendor_completions.d/ringftpd.fish": "-rw-r--r--",
        "/usr/share/fish/vendor_completions.d/ringftp.fish": "-rw-r--r--",
        "/usr/share/doc/ringftpd/copyright": "-rw-r--r--",
        "/usr/share/doc/ringftpd/deploy.md": "-rw-r--r--",
    }
    for path, mode in expected.items():
        assert files.get(path) == mode, (path, files.get(path))
    # Nothing the package must not own: the users file, keys, the served root.
    assert not [p for p in files if p.startswith("/srv") or p.endswith(".pem")]
    assert "/etc/ringftpd/users.toml" not in files

    info = run("dpkg-deb", "-I", deb).stdout
    assert re.search(r"^ Package: ringftpd$", info, re.M), info
    assert re.search(r"^ Depends: .*libc6", info, re.M), info
    assert re.search(r"^ Section: net$", info, re.M), info
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        assert re.search(rf"^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+{script}\b", info, re.M), (
            script,
            info,
        )


def control_file(deb: Path, name: str, tmp_path: Path) -> str:
    out = tmp_path / "control"
    proc = run("dpkg-deb", "-e", deb, out)
    assert proc.returncode == 0, proc.stderr
    return (out / name).read_text()


def test_maintainer_scripts(deb, tmp_path):
    conffiles = control_file(deb, "conffiles", tmp_path).split()
    assert "/etc/ringftpd/ringftpd.toml" in conffiles
    postinst = control_file(deb, "postinst", tmp_path)
    assert "useradd --system" in postinst
    assert "deb-systemd-helper enable ringftpd.service" in postinst
    # An upgrade must not restart the server (running transfers would be cut).
    assert "restart ringftpd" not in postinst
    prerm = control_file(deb, "prerm", tmp_path)
    assert 'deb-systemd-invoke stop ringftpd.service' in prerm
    assert '"$1" = remove' in prerm, "stopped on removal only, not on upgrade"
    for name in ("postinst", "prerm", "postrm"):
        path = tmp_path / "control" / name
        assert run("sh", "-n", path).returncode == 0, name
        assert path.stat().st_mode & stat.S_IXUSR


def test_unit_hardening(tree):
    unit = (tree / "usr/lib/systemd/system/ringftpd.service").read_text()
    keys = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            keys.setdefault(k, []).append(v)
    assert keys["User"] == ["ringftpd"]
    assert keys["ExecStart"] == ["/usr/bin/ringftpd serve --config /etc/ringftpd/ringftpd.toml"]
    for k in (
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "NoNewPrivileges",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "MemoryDenyWriteExecute",
    ):
        assert k in keys, k
    assert keys["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert keys["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    allowed = keys["SystemCallFilter"][0].split()
    for call in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        assert call in allowed


def in_usr_overlay(tree: Path, script: str, **kw) -> subprocess.CompletedProcess:
    """Runs `script` in a private mount namespace where /usr also holds the
    package's /usr (an overlay), as after `dpkg -i`."""
    return run(
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-ec",
        f"mount -t overlay overlay -o lowerdir={tree}/usr:/usr /usr\n{script}",
        **kw,
    )


def can_overlay(tree: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return in_usr_overlay(tree, "test -x /usr/bin/ringftpd").returncode == 0


def test_systemd_analyze_verify(tree):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    if not can_overlay(tree):
        pytest.skip("needs root and mount namespaces (unshare, overlayfs)")
    proc = in_usr_overlay(tree, "systemd-analyze verify ringftpd.service")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ringftpd" not in proc.stderr, proc.stderr
    proc = in_usr_overlay(tree, "systemd-analyze security --offline=yes ringftpd.service")
    m = re.search(r"Overall exposure level for ringftpd.service: (\d+\.\d+)", proc.stdout)
    if m:  # older systemd has no --offline
        assert float(m.group(1)) <= 2.5, proc.stdout[-2000:]


def test_man_pages_and_completions(tree):
    page = tree / "usr/share/man/man8/ringftpd.8.gz"
    text = run("man", "-l", page, env={**os.environ, "MANWIDTH": "100"}).stdout
    for needle in ("--passive-ports", "--log-format", "SIGNALS", "FILES", "EXAMPLES", "SEE ALSO"):
        assert needle in text, needle
    text = run("man", "-l", tree / "usr/share/man/man1/ringftp.1.gz").stdout
    for needle in ("-b <batchfile>", "reget [-fpR] remote [local]", "EXIT STATUS", "sftp(1)"):
        assert needle in text, needle
    text = run("man", "-l", tree / "usr/share/man/man8/ringftpd-user-add.8.gz").stdout
    assert "--read-only" in text and "--password-stdin" in text
    # bash loads the completion and registers it for both commands.
    for bin_name in ("ringftpd", "ringftp"):
        script = tree / "usr/share/bash-completion/completions" / bin_name
        proc = run("bash", "-c", f"source {script} && complete -p {bin_name}")
        assert proc.returncode == 0 and bin_name in proc.stdout, proc.stderr


def test_binaries_run_from_the_tree(tree):
    for bin_name in ("ringftpd", "ringftp"):
        proc = run(tree / "usr/bin" / bin_name, "--version")
        assert proc.returncode == 0 and re.search(r"\d+\.\d+\.\d+", proc.stdout), proc
    proc = run(tree / "usr/bin/ringftpd", "--help")
    assert proc.returncode == 0 and "--passive-ports" in proc.stdout
    # The client keeps sftp's usage: no generator flag or subcommand shows.
    proc = run(tree / "usr/bin/ringftp", "-h")
    assert "ringftp [-afNpqrv] [-b batchfile]" in proc.stdout, proc.stdout
    assert "completion" not in proc.stdout.lower() and "mangen" not in proc.stdout
    # The packaged config parses and names the packaged paths.
    cfg = tomllib.loads((tree / "etc/ringftpd/ringftpd.toml").read_text())
    assert cfg["root"] == "/srv/ftp" and cfg["users"] == "/etc/ringftpd/users.toml"
    assert cfg["listen"] == ["0.0.0.0:21"]


INSTALL = r"""
T={work}
cp -a /etc/. "$T/etc/"
mount --bind "$T/etc" /etc
mount --bind "$T/srv" /srv
mount --bind "$T/log" /var/log
# dpkg would unpack the conffile; systemd is not running here.
mkdir -p /etc/ringftpd
cp {tree}/etc/ringftpd/ringftpd.toml /etc/ringftpd/
mkdir -p "$T/bin"
for h in deb-systemd-helper deb-systemd-invoke; do
    printf '#!/bin/sh\necho "%s $*" >> {work}/systemd-calls\n' "$h" > "$T/bin/$h"
    chmod +x "$T/bin/$h"
done
PATH="$T/bin:$PATH" sh {tree_ctl}/postinst configure ""
stat -c '%U:%G %a' /etc/ringftpd /etc/ringftpd/users.toml /srv/ftp /var/log/ringftpd > {work}/perms
echo {password} | ringftpd user add alice --password-stdin > {work}/useradd
stat -c '%U:%G %a' /etc/ringftpd/users.toml >> {work}/perms
echo ready > {work}/installed
# The unit's ExecStart, as its User=, with the loopback instead of port 21.
exec setpriv --reuid=ringftpd --regid=ringftpd --init-groups -- {execstart} --listen 127.0.0.1:0
"""


def test_install_into_throwaway_root_and_serve(deb, tree, tmp_path):
    if not can_overlay(tree):
        pytest.skip("needs root and mount namespaces (unshare, overlayfs)")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    if subprocess.run(["getent", "passwd", "ringftpd"], capture_output=True).returncode == 0:
        pytest.skip("this machine has a real ringftpd user; not touching it")
    work = tmp_path / "root"
    for d in ("etc", "srv", "log"):
        (work / d).mkdir(parents=True)
    work.chmod(0o755)
    tmp_path.chmod(0o755)
    ctl = tmp_path / "control"
    assert run("dpkg-deb", "-e", deb, ctl).returncode == 0
    unit = (tree / "usr/lib/systemd/system/ringftpd.service").read_text()
    execstart = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
    script = INSTALL.format(
        work=work, tree=tree, tree_ctl=ctl, password=PASSWORD, execstart=execstart
    )
    log_path = tmp_path / "ringftpd.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-ec",
                f"mount -t overlay overlay -o lowerdir={tree}/usr:/usr /usr\n{script}",
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", log_path.read_text(errors="replace"))
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        text = log_path.read_text(errors="replace")
        assert port, f"rc={proc.poll()}\n{text}"

        perms = (work / "perms").read_text().splitlines()
        assert perms == [
            "root:ringftpd 770",  # /etc/ringftpd: the service writes its cert there
            "ringftpd:ringftpd 600",  # the users file, made empty by postinst
            "ringftpd:ringftpd 755",  # /srv/ftp
            "ringftpd:ringftpd 750",  # /var/log/ringftpd, as LogsDirectory= makes it
            "ringftpd:ringftpd 600",  # still the service's after `sudo ringftpd user add`
        ], perms
        calls = (work / "systemd-calls").read_text()
        assert "deb-systemd-helper enable ringftpd.service" in calls, calls
        passwd = (work / "etc/passwd").read_text()
        entry = [l for l in passwd.splitlines() if l.startswith("ringftpd:")]
        assert entry and entry[0].endswith(":/nonexistent:/usr/sbin/nologin"), entry

        # The service made its TLS pair beside the users file, as its own user.
        uid = int(entry[0].split(":")[2])
        key = (work / "etc/ringftpd/tls-key.pem").stat()
        assert (key.st_uid, key.st_mode & 0o777) == (uid, 0o600)
        assert (work / "etc/ringftpd/tls-cert.pem").stat().st_uid == uid

        ftp = ftplib.FTP(timeout=20)
        ftp.connect("127.0.0.1", port)
        ftp.login("alice", PASSWORD)
        ftp.storbinary("STOR hello.txt", io.BytesIO(b"hello package\n"))
        buf = io.BytesIO()
        ftp.retrbinary("RETR hello.txt", buf.write)
        assert buf.getvalue() == b"hello package\n"
        ftp.quit()
        uploaded = work / "srv/ftp/hello.txt"
        assert uploaded.read_bytes() == b"hello package\n"
        st = uploaded.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (uid, 0o644)

        # The packaged config turns the xferlog on, in LogsDirectory.
        xferlog = work / "log/ringftpd/xferlog"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and xferlog.read_text().count("\n") < 2:
            time.sleep(0.05)
        records = xferlog.read_text().splitlines()
        assert [r.split()[8] for r in records] == ["/hello.txt", "/hello.txt"], records
        assert PASSWORD not in log_path.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, log_path.read_text()[-3000:]
