#!/usr/bin/env python3
"""Drive an sftp-like program through a pseudo-terminal, as a person would.

usage: pty_run.py SCENARIO_FILE -- COMMAND [ARGS...]

Waits for the `sftp> ` prompt, types the next line of SCENARIO_FILE, and so
on; after the last line it waits for the prompt once more and types Ctrl-D
(unless the program has exited, e.g. after `bye`).
Everything the program writes to the terminal (prompts, echo, progress meter)
goes to stdout unmodified (normalize.py cleans it); the exit status is the
program's own (255 if it had to be killed after a timeout).

Used by record.sh for the real sftp and by tests/client for ringftp, so both
are driven identically. The terminal is 80x24, like pexpect's default.
"""

from __future__ import annotations

import sys

import pexpect

PROMPT = "sftp> "
TIMEOUT = 60


def run(scenario: str, argv: list[str], out, cwd=None, env=None) -> int:
    """Types SCENARIO's lines into ``argv`` run on a pty; the transcript goes
    to ``out`` (a text stream); returns the exit status."""
    with open(scenario, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    child = pexpect.spawn(
        argv[0],
        argv[1:],
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(24, 80),
        cwd=cwd,
        env=env,
    )
    child.logfile_read = out
    try:
        for line in lines:
            child.expect_exact(PROMPT)
            child.sendline(line)
        # After the last line: the program has exited (bye/quit), or it shows
        # the prompt again and gets Ctrl-D.
        if child.expect_exact([PROMPT, pexpect.EOF]) == 0:
            child.sendeof()
            child.expect(pexpect.EOF)
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        out.write(f"\n[pty_run: {type(e).__name__} waiting for the prompt]\n")
        child.close(force=True)
        return 255
    child.close()
    if child.exitstatus is not None:
        return child.exitstatus
    return 128 + (child.signalstatus or 0)


def main() -> int:
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    return run(args[0], args[2:], sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
