"""Scale: 1,000 logged-in sessions issue NOOP/PWD while four 20 MiB files
move, and every file checks out by sha256."""

from __future__ import annotations

import asyncio
import ftplib
import hashlib
import io
import os
import resource
import time

import pytest
from ringftptest import PASSWORDS

SESSIONS = 1000
MIB = 1024 * 1024
REPLY_TIMEOUT = 60.0


async def reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = await asyncio.wait_for(reader.readline(), REPLY_TIMEOUT)
    if not first:
        raise EOFError("connection closed")
    if first[3:4] == b"-":
        while True:
            line = await asyncio.wait_for(reader.readline(), REPLY_TIMEOUT)
            if not line:
                raise EOFError("connection closed in a multi-line reply")
            if line[:3] == first[:3] and line[3:4] == b" ":
                break
    return int(first[:3]), first


async def cmd(reader, writer, line: str) -> int:
    writer.write(line.encode() + b"\r\n")
    await writer.drain()
    code, _ = await reply(reader)
    return code


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def transfer(srv, workdir, name: str, payload: bytes, upload: bool) -> str:
    ftp = srv.ftp("alice", timeout=60)
    ftp.cwd("/" + workdir.name)
    if upload:
        ftp.storbinary(f"STOR {name}", io.BytesIO(payload), blocksize=256 * 1024)
        digest = hashlib.sha256((workdir / name).read_bytes()).hexdigest()
    else:
        h = hashlib.sha256()
        ftp.retrbinary(f"RETR {name}", h.update, blocksize=256 * 1024)
        digest = h.hexdigest()
    ftp.quit()
    return digest


def test_thousand_sessions_with_transfers(make_server, tmp_path):
    raise_nofile(SESSIONS * 2 + 512)
    srv = make_server(extra_args=["--max-clients", "2000"])
    workdir = srv.root / "scale"
    workdir.mkdir()
    payloads = [os.urandom(20 * MIB) for _ in range(4)]
    for i in (2, 3):
        (workdir / f"down{i}.bin").write_bytes(payloads[i])
    expected = [hashlib.sha256(p).hexdigest() for p in payloads]

    stats = {"logged_in": 0, "rounds": 0, "errors": []}

    async def session(
        i: int, gate: asyncio.Semaphore, moving: asyncio.Event, done: asyncio.Event
    ):
        user = "alice" if i % 2 else "bob"
        try:
            async with gate:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(srv.host, srv.port), REPLY_TIMEOUT
                )
                code, text = await reply(reader)
                assert code == 220, text
                assert await cmd(reader, writer, f"USER {user}") == 331
                assert await cmd(reader, writer, f"PASS {PASSWORDS[user]}") == 230
            stats["logged_in"] += 1
            await moving.wait()
            while True:
                assert await cmd(reader, writer, "NOOP") == 200
                assert await cmd(reader, writer, "PWD") == 257
                stats["rounds"] += 1
                if done.is_set():
                    break
                await asyncio.sleep(0.2)
            assert await cmd(reader, writer, "QUIT") == 221
            writer.close()
        except (AssertionError, OSError, EOFError, TimeoutError) as e:
            stats["errors"].append(f"session {i}: {e!r}")

    async def main() -> list[str]:
        gate = asyncio.Semaphore(64)  # logins in flight at once
        moving, done = asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(session(i, gate, moving, done)) for i in range(SESSIONS)
        ]
        t0 = time.monotonic()
        while stats["logged_in"] + len(stats["errors"]) < SESSIONS:
            if time.monotonic() - t0 > 150:
                break
            await asyncio.sleep(0.1)
        assert stats["logged_in"] == SESSIONS, (stats["logged_in"], stats["errors"][:5])
        moving.set()
        jobs = [
            asyncio.to_thread(transfer, srv, workdir, "up0.bin", payloads[0], True),
            asyncio.to_thread(transfer, srv, workdir, "up1.bin", payloads[1], True),
            asyncio.to_thread(transfer, srv, workdir, "down2.bin", payloads[2], False),
            asyncio.to_thread(transfer, srv, workdir, "down3.bin", payloads[3], False),
        ]
        digests = await asyncio.gather(*jobs)
        done.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        return digests

    try:
        digests = asyncio.run(main())
    except ftplib.Error as e:
        pytest.fail(f"transfer failed under load: {e}")
    assert not stats["errors"], stats["errors"][:10]
    assert digests == expected
    assert stats["rounds"] >= SESSIONS * 2
