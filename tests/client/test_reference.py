"""The recorder and the normaliser themselves.

* Re-recording the real sftp (record.sh into a temp dir) reproduces the
  committed references exactly, so they are deterministic and current.
* normalize.py hides only what its rules name: a sample of differences it
  must NOT hide.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import normalize
import pytest
from clientharness import REF_DIR, SCEN_DIR


@pytest.mark.skipif(
    os.geteuid() != 0, reason="canonical references are recorded as root (chroot)"
)
@pytest.mark.skipif(
    shutil.which("sftp") is None or not os.path.exists("/usr/sbin/sshd"),
    reason="OpenSSH not installed",
)
def test_rerecording_reproduces_the_references(tmp_path):
    proc = subprocess.run(
        [str(REF_DIR / "record.sh")],
        env={**os.environ, "REF_OUT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.stem for p in SCEN_DIR.glob("*.sftp"))
    assert names
    for name in names:
        for ext in ("out", "tree"):
            fresh = (tmp_path / f"{name}.{ext}").read_text()
            assert fresh == (REF_DIR / f"{name}.{ext}").read_text(), (
                f"{name}.{ext} changed"
            )


SFTP_LS = "-rw-r--r--    ? root     root            6 Nov 23  2023 a.txt"


def test_ls_long_hides_owner_and_link_count_only():
    ftp = "-rw-r--r--    1 alice    alice           6 Nov 23  2023 a.txt"
    assert normalize.normalize(SFTP_LS) == normalize.normalize(ftp)
    # Size, mode, date, name and column widths still count.
    for other in (
        "-rw-r--r--    ? alice    alice           7 Nov 23  2023 a.txt",
        "-rw-------    ? alice    alice           6 Nov 23  2023 a.txt",
        "-rw-r--r--    ? alice    alice           6 Nov 24  2023 a.txt",
        "-rw-r--r--    ? alice    alice           6 Nov 23  2023 b.txt",
        "-rw-r--r-- ? alice alice 6 Nov 23  2023 a.txt",
        "-rw-r--r--    ? alice    alice          6 Nov 23  2023 a.txt",
    ):
        assert normalize.normalize(other) != normalize.normalize(SFTP_LS), other


def test_recent_dates_and_directory_sizes():
    a = "drwxr-xr-x    ? root     root         4096 Nov 25 10:20 dir"
    b = "drwxr-xr-x    ? alice    alice          60 Jan  2 03:04 dir"
    assert normalize.normalize(a) == normalize.normalize(b)
    # A file's size is not a directory's.
    c = "-rwxr-xr-x    ? root     root         4096 Nov 25 10:20 dir"
    d = "-rwxr-xr-x    ? root     root           60 Nov 25 10:20 dir"
    assert normalize.normalize(c) != normalize.normalize(d)


def test_progress_line_keeps_name_percent_size_and_width():
    a = "\rbig.bin                                         0%    0     0.0KB/s   --:-- ETA\rbig.bin                                       100%  341KB 114.5MB/s   00:00    \n"
    b = "\rbig.bin                                       100%  341KB   2.3MB/s   00:01    \n"
    assert normalize.normalize(a) == normalize.normalize(b)
    c = "\rbig.bin                                        99%  341KB   2.3MB/s   00:01    \n"
    d = "\rbig.bin                                       100%  341KB   2.3MB/s   00:01\n"
    assert normalize.normalize(c) != normalize.normalize(b)
    assert normalize.normalize(d) != normalize.normalize(b)


def test_paths_and_messages_are_compared():
    assert normalize.normalize("Fetching /a.txt to a.txt\n") != normalize.normalize(
        "Fetching a.txt to a.txt\n"
    )
    assert normalize.normalize(
        "Local working directory: /x/local\n", local="/x/local"
    ) == ("Local working directory: @LOCAL@\n")


def test_document_layout():
    doc = normalize.document([("stdout", "a\n"), ("stderr", "b\n")], 1, None, None)
    assert doc == "[stdout]\na\n[stderr]\nb\n[exit 1]\n"


def test_gnu_ls_lines_hide_only_recent_dates_and_dir_sizes():
    a = "-rw------- 1 root root 10 Nov 25 10:29 b.txt"
    b = "-rw------- 1 root root 10 Jan  1 00:00 b.txt"
    assert normalize.normalize(a) == normalize.normalize(b)
    c = "-rw-r--r-- 1 root root 10 Nov 25 10:29 b.txt"
    assert normalize.normalize(a) != normalize.normalize(c)
    d = "-rw------- 1 root root 10 Nov 23  2023 b.txt"
    assert normalize.normalize(d) == d


def test_terminal_rendering_is_what_a_person_sees():
    libedit = "sftp> pwd\r\n"
    rustyline = "sftp> \r\x1b[6Cp\r\x1b[Ksftp> pw\r\x1b[8C\x1b[Kd\r\n"
    assert (
        normalize.normalize(libedit) == normalize.normalize(rustyline) == "sftp> pwd\n"
    )
    # A prompt really missing, or a typo left on the screen, still shows.
    assert normalize.normalize("pwd\r\n") != normalize.normalize(libedit)
    assert normalize.normalize("sftp> pwdd\x08\r\n") == "sftp> pwdd\n"


def test_help_hides_only_the_descriptions_rewritten_for_ftp():
    sftp = (
        "version                            Show SFTP version\n"
        "df [-hi] [path]                    Display statistics for current directory or\n"
        "                                   filesystem containing 'path'\n"
    )
    ours = (
        "version                            Print sftp's version line, for scripts\n"
        "                                   (the connection is FTP)\n"
        "df [-hi] [path]                    Display statistics for current directory or\n"
        "                                   filesystem containing 'path'\n"
    )
    assert normalize.normalize(sftp) == normalize.normalize(ours)
    # Other commands' texts, the command column and df's continuation still count.
    for other in (
        ours.replace("Display statistics", "Show statistics"),
        ours.replace("filesystem containing", "file system holding"),
        ours.replace("version        ", "versions       "),
        "chmod [-h] mode path               Change mode\n",
    ):
        assert normalize.normalize(other) != normalize.normalize(sftp), other
