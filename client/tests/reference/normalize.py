#!/usr/bin/env python3
"""The ONE place where sftp's and ringftp's transcripts are made comparable.

Both the recorder (record.sh, real sftp over sshd) and the harness
(tests/client, ringftp over FTP) pass their raw output through ``normalize``.
Each rule below exists because the two legitimately differ, or because the
value changes from run to run; nothing else is touched, so every other byte is
compared verbatim.

Terminal artefacts (pty scenarios only):
  T1. CRLF -> LF; BEL removed.
  T2. Each line is rendered as a terminal shows it: CR, backspace and the
      cursor/erase sequences are applied, other escapes dropped (libedit and
      rustyline redraw the line differently; the progress meter redraws with
      CR), so what is compared is what a person sees.
  T3. The ``^D`` a line editor may echo for Ctrl-D at the prompt is removed.
Paths:
  P1. The local working tree's absolute path -> ``@LOCAL@`` (temp dirs differ).
  P2. (non-root recordings only) the remote tree's absolute path -> ``/``.
Progress meter (only printed on a terminal):
  M1. In ``name  100%  size  rate  ETA`` lines the rate and the ETA/elapsed
      time vary -> ``@RATE@`` ``@ETA@``.
``ls -l`` lines of sftp's own layout (remote listings), i.e. lines equal to
``f"{mode} {nlink:>4} {owner:<8} {group:<8} {size:>8} {date} {name}"``;
they are rewritten in that same layout, so column widths are still compared:
  L1. link count -> ``?`` (sftp 9 prints ``?`` against an OpenSSH 9 server, which
      lets it build the line from attributes; ringftp prints the count LIST or
      MLSD's ``unix.nlink`` gives, as sftp prints other servers' long names).
  L2. owner and group -> ``@OWNER@`` ``@GROUP@`` (sshd's user vs. the FTP account).
  L3. size of a directory -> ``@DSIZE@`` (depends on the file system).
  L4. a date of the recent form ``Mon dd HH:MM`` -> ``@DATE@`` (files made
      during the run). Fixture files are dated 2023 and print ``Mon dd  YYYY``,
      which is compared as is.
  A long line in any other layout is left alone and so will not match.
``lls -l`` (GNU ls run by both clients on the same machine):
  G1. size of a directory -> ``@D@`` (same width), ``total N`` -> ``total @N@``.
  G2. a recent date ``Mon dd HH:MM`` -> ``@DATE@`` padded to the same width.
help:
  H1. the descriptions of the commands whose sftp text promises what FTP
      cannot do (``HELP_OVER_FTP``: chgrp chown copy cp ln symlink version)
      -> ``@FTP@``, with their continuation lines; the command column and
      every other line are compared.
df:
  D1. the numbers under the ``Size Used Avail ...`` header -> ``@N@``, each
      right-aligned in its field's width.

A scenario's reference document (``document``) is ``[stdout]``, the
normalised stdout, ``[stderr]``, the normalised stderr, ``[exit N]``; stdout
and stderr are kept apart because sftp buffers stdout on a pipe, so their
interleaving is an accident. A pty run has one stream, ``[terminal]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys

ANSI = re.compile(
    r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>78DEHM])"
)
LONG = re.compile(
    r"^(?P<mode>[-dlcbps][-rwxsStT]{9}[.+@]?)(?P<sp1>\s+)(?P<nlink>\S+)"
    r"(?P<sp2>\s+)(?P<owner>\S+)(?P<sp3>\s+)(?P<group>\S+)(?P<sp4>\s+)"
    r"(?P<size>\d+(?:\.\d+)?[KMGTPE]?)(?P<sp5>\s+)(?P<date>[A-Z][a-z]{2}\s+\d{1,2}\s+(?:\d{2}:\d{2}|\d{4}))"
    r"(?P<rest>\s.*)$"
)
RECENT = re.compile(r"^[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}$")
PROGRESS = re.compile(
    r"^(?P<head>.*\s\d{1,3}%\s+\d+(?:\.\d+)?[KMGTPE]?B?\s+)"
    r"(?P<rate>\d+(?:\.\d+)?[KMGTPE]?B/s)(?P<sp>\s+)"
    r"(?P<eta>(?:\d+:)?\d{2}:\d{2}(?: ETA)?|--:-- ETA|- stalled -)(?P<tail>\s*)$"
)
TOTAL = re.compile(r"^total \d+$")
HELP_OVER_FTP = re.compile(
    r"^(?:chgrp|chown|copy|cp|ln|symlink|version)(?: \S+)* +(?<=^.{35})\S"
)
HELP_CONTINUATION = " " * 35
DF_VALUES = re.compile(r"^(?: +[\d.]+[KMGTPE]?B?%?)+$")
DF_HEADER = re.compile(r"^\s+Size\s+Used\s+Avail|^\s+Inodes\s+Used\s+Avail")


CSI = re.compile(r"\x1b\[([0-9;?]*)[ -/]*([@-~])")


def _render(line: str) -> str:
    """What a terminal shows for one line: CR, BS and the cursor and erase
    sequences line editors use (CSI C D G K P @) are applied; any other
    escape sequence is dropped."""
    buf: list[str] = []
    col = 0
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\x1b":
            m = CSI.match(line, i)
            if m is None:
                other = ANSI.match(line, i)
                i = other.end() if other else i + 1
                continue
            params, final = m.group(1), m.group(2)
            nums = [int(x) for x in params.replace("?", "").split(";") if x.isdigit()]
            n = nums[0] if nums else 0
            if final == "C":
                col += max(n, 1)
            elif final == "D":
                col = max(col - max(n, 1), 0)
            elif final == "G":
                col = max(n, 1) - 1
            elif final in "KJ":
                if n == 0:
                    del buf[col:]
                elif n == 1:
                    buf[: col + 1] = [" "] * min(col + 1, len(buf))
                else:
                    buf = []
            elif final == "P":
                del buf[col : col + max(n, 1)]
            elif final == "@":
                buf[col:col] = [" "] * max(n, 1)
            i = m.end()
            continue
        if ch == "\r":
            col = 0
        elif ch == "\b":
            col = max(col - 1, 0)
        elif ch >= " " or ch == "\t":
            while len(buf) < col:
                buf.append(" ")
            if col < len(buf):
                buf[col] = ch
            else:
                buf.append(ch)
            col += 1
        i += 1
    return "".join(buf)


def _terminal(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\x07", "")
    lines = []
    for line in text.split("\n"):
        if "\x1b" in line or "\r" in line or "\b" in line:
            line = _render(line)
        if line.startswith("sftp> ") and line[6:] == "^D":
            line = "sftp> "
        lines.append(line)
    return "\n".join(lines)


def _long(line: str) -> str:
    m = LONG.match(line)
    if m is None:
        return line
    g = m.groupdict()
    name = g["rest"][1:]
    size = g["size"]
    date = g["date"]
    sftp_layout = f"{g['mode']} {g['nlink']:>4} {g['owner']:<8} {g['group']:<8} {size:>8} {date} {name}"
    is_dir = g["mode"].startswith("d")
    if line == sftp_layout:
        if is_dir:
            size = "@DSIZE@"
        if RECENT.match(date):
            date = "@DATE@"
        return f"{g['mode']} {'?':>4} {'@OWNER@':<8} {'@GROUP@':<8} {size:>8} {date:<12} {name}"
    # Another layout (GNU ls -l, run by lls): keep it, hide what varies.
    if RECENT.match(date):
        line = (
            line[: m.start("date")] + "@DATE@".ljust(len(date)) + line[m.end("date") :]
        )
    if is_dir:
        width = len(g["sp4"]) + len(size)
        line = line[: m.start("sp4")] + "@D@".rjust(width) + line[m.end("size") :]
    return line


def normalize(text: str, local: str | None = None, remote: str | None = None) -> str:
    """Applies the rules in the module doc to one transcript."""
    text = _terminal(text)
    if local:
        text = text.replace(os.path.realpath(local), "@LOCAL@")
        text = text.replace(local, "@LOCAL@")
    if remote:
        text = text.replace(remote + "/", "/").replace(remote, "/")
    out = []
    after_df_header = False
    in_ftp_help = False
    for line in text.split("\n"):
        if in_ftp_help and line.startswith(HELP_CONTINUATION) and line.strip():
            continue
        in_ftp_help = bool(HELP_OVER_FTP.match(line))
        if in_ftp_help:
            out.append(line[:35] + "@FTP@")
            continue
        if after_df_header and DF_VALUES.match(line):
            line = re.sub(r" *\S+", lambda v: "@N@".rjust(len(v.group())), line)
        after_df_header = bool(DF_HEADER.match(line))
        m = PROGRESS.match(line)
        if m:
            eta = m.group("eta") + m.group("tail")
            line = (
                m.group("head")
                + "@RATE@".rjust(len(m.group("rate")))
                + m.group("sp")
                + "@ETA@".ljust(len(eta))
            )
        elif TOTAL.match(line):
            line = "total @N@"
        else:
            line = _long(line)
        out.append(line)
    return "\n".join(out)


def document(
    streams: list[tuple[str, str]], rc: int, local: str | None, remote: str | None
) -> str:
    """The reference text of one run: each (label, raw text) stream
    normalised under its ``[label]`` header, then ``[exit rc]``."""
    parts = [f"[{label}]\n" + normalize(text, local, remote) for label, text in streams]
    return "".join(parts) + f"[exit {rc}]\n"


def tree(remote: str, local: str) -> str:
    """The state of both trees after a scenario: kind, path, size, sha256 or
    link target. Modes and mtimes are left out (FTP servers choose them)."""
    lines = []
    for label, top in (("remote", remote), ("local", local)):
        entries = []
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, top)
                if os.path.islink(path):
                    entries.append(f"l {rel} -> {os.readlink(path)}")
                elif os.path.isdir(path):
                    entries.append(f"d {rel}")
                else:
                    with open(path, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()[:16]
                    entries.append(f"f {rel} {os.path.getsize(path)} {digest}")
        lines.append(f"[{label}]")
        lines.extend(sorted(entries))
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--local")
    ap.add_argument("--remote")
    ap.add_argument("--tree", nargs=2, metavar=("REMOTE", "LOCAL"))
    ap.add_argument(
        "--doc",
        nargs="+",
        metavar="LABEL=FILE",
        help="write the reference document of these raw streams",
    )
    ap.add_argument("--exit", type=int, default=0)
    a = ap.parse_args()
    if a.tree:
        sys.stdout.write(tree(*a.tree))
        return 0
    if a.doc:
        streams = []
        for item in a.doc:
            label, _, path = item.partition("=")
            with open(path, "rb") as f:
                streams.append((label, f.read().decode("utf-8", "replace")))
        sys.stdout.write(document(streams, a.exit, a.local, a.remote))
        return 0
    raw = sys.stdin.buffer.read().decode("utf-8", "replace")
    sys.stdout.write(normalize(raw, a.local, a.remote))
    return 0


if __name__ == "__main__":
    sys.exit(main())
