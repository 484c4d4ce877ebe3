#!/usr/bin/env python3
"""Summarise a compare_sftp.sh run: results.csv -> summary.md and chart.svg (stdlib only).

Usage: summarize.py DIR   (DIR holds results.csv and machine.txt, written by compare_sftp.sh)

Every figure is a median over runs with its min and max; ratios are between medians.
"""

import csv
import html
import statistics
import sys
from collections import defaultdict
from pathlib import Path

C1_ORDER = ["ringftp", "curl-ringftpd", "sftp", "sftp-aes128gcm", "curl", "lftp", "iperf3"]
C1_OPS = ["get-file", "put-file", "get-null", "put-null"]
C2_ORDER = ["ringftp", "sftp", "lftp"]
C2_OPS = ["get-r", "put-r"]
# Cases 5 and 6: parallel transfers (several connections).
C5_ORDER = ["ringftp-par", "ringftp-1", "lftp-pget", "dd"]
C5_OPS = ["get-file", "put-file"]
C6_ORDER = ["ringftp-par", "ringftp-par-stream", "ringftp-par-vsftpd", "lftp-par"]
# Case 7: FTPS (PROT P) beside sftp aes128-gcm.
C7_ORDER = ["ringftp-tls", "ringftp-tls-1", "sftp-aes128gcm"]
# Case 8: S3 root (moto on loopback) beside the local root and the S3 endpoint itself.
C8_ORDER = ["ringftp-s3", "ringftp-s3-1", "curl-ringftpd-s3", "ringftp", "curl-s3"]
# Case 9: small files over FTPS, block mode and stream mode, beside lftp over FTPS and sftp.
C9_ORDER = ["ringftp-tls", "ringftp-tls-stream", "lftp-tls-par", "sftp-aes128gcm"]
LABEL = {
    "ringftp-s3": "ringftp -> ringftpd on S3",
    "ringftp-s3-1": "ringftp --parallel 1 -> ringftpd on S3",
    "curl-ringftpd-s3": "curl -> ringftpd on S3",
    "curl-s3": "curl -> S3 endpoint (GET/PUT, storage limit)",
    "ringftp-tls": "ringftp FTPS (PROT P, --parallel 4) -> ringftpd",
    "ringftp-tls-1": "ringftp FTPS (PROT P, --parallel 1) -> ringftpd",
    "ringftp-tls-stream": "ringftp FTPS (PROT P, --parallel 4, --no-block-mode) -> ringftpd",
    "lftp-tls-par": "lftp FTPS (PROT P) mirror --parallel=4 -> ringftpd",
    "ringftp": "ringftp -> ringftpd",
    "sftp": "sftp (default cipher)",
    "sftp-aes128gcm": "sftp aes128-gcm",
    "curl": "curl -> vsftpd",
    "curl-ringftpd": "curl -> ringftpd",
    "lftp": "lftp -> vsftpd",
    "iperf3": "iperf3 (loopback limit)",
    "ringftpd": "ringftpd",
    "vsftpd": "vsftpd",
    "ringftp-par": "ringftp --parallel 4 -> ringftpd",
    "ringftp-1": "ringftp --parallel 1 -> ringftpd",
    "ringftp-par-vsftpd": "ringftp --parallel 4 -> vsftpd",
    "ringftp-par-stream": "ringftp --parallel 4 --no-block-mode -> ringftpd",
    "lftp-pget": "lftp pget -n 4 -> ringftpd",
    "lftp-par": "lftp mirror --parallel=4 -> vsftpd",
    "dd": "dd into the served directory (same run)",
}
COLOUR = {
    "ringftp": "#d62728",
    "sftp": "#1f77b4",
    "sftp-aes128gcm": "#6baed6",
    "curl": "#2ca02c",
    "curl-ringftpd": "#ff9896",
    "lftp": "#98df8a",
    "iperf3": "#7f7f7f",
}


class Stat:
    def __init__(self, values):
        self.values = sorted(values)
        self.median = statistics.median(self.values)
        self.min = self.values[0]
        self.max = self.values[-1]
        self.n = len(self.values)


def load(path):
    """(case, contender, op, metric) -> Stat."""
    raw = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["case"], row["contender"], row["op"], row["metric"])
            raw[key].append(float(row["value"]))
    return {k: Stat(v) for k, v in raw.items()}


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio(a, b):
    if a is None or b is None or b.median == 0:
        return "n/a"
    return f"{a.median / b.median:.2f}x"


def get(stats, case, who, op, metric):
    return stats.get((str(case), who, op, metric))


def ops_of(stats, case):
    return sorted({k[2] for k in stats if k[0] == str(case)})


def transfer_table(stats, case, ops, order, metric, unit, refs):
    lines = [
        f"| operation | contender | median {unit} | min | max | runs | "
        + " | ".join(f"vs {LABEL.get(r, r)}" for r in refs)
        + " |",
        "|---|---|---:|---:|---:|---:|" + "---:|" * len(refs),
    ]
    for op in ops:
        for who in order:
            s = get(stats, case, who, op, metric)
            if s is None:
                continue
            cells = [
                ratio(s, get(stats, case, r, op, metric)) if r != who else "1.00x"
                for r in refs
            ]
            lines.append(
                f"| {op} | {LABEL.get(who, who)} | **{fmt(s.median)}** | {fmt(s.min)} | "
                f"{fmt(s.max)} | {s.n} | " + " | ".join(cells) + " |"
            )
    return lines


def check(lines, name, value, target, ok):
    if value is None:
        lines.append(f"| {name} | not measured | {target} | - |")
    else:
        lines.append(
            f"| {name} | {value} | {target} | {'met' if ok else '**missed**'} |"
        )


def versus(lines, name, r, b, goal, unit, percent=False):
    """One target row: the median of r over the median of b against `goal`."""
    v = r.median / b.median if r and b else None
    if v is None:
        shown = None
    elif percent:
        shown = f"{v * 100:.0f}% ({fmt(r.median)} vs {fmt(b.median)} {unit})"
    else:
        shown = f"{v:.2f}x ({fmt(r.median)} vs {fmt(b.median)} {unit})"
    wanted = f">= {goal * 100:.0f}%" if percent else f">= {goal:g}x"
    check(lines, name, shown, wanted, v is not None and v >= goal)


def targets(stats):
    lines = ["| target | measured (median) | goal | |", "|---|---|---|---|"]
    for op in ["get-file", "put-file"]:
        r = get(stats, 1, "ringftp", op, "mib_s")
        for ref, goal in [("sftp", 5.0), ("curl", 1.5)]:
            b = get(stats, 1, ref, op, "mib_s")
            versus(lines, f"1: {op} ringftp / {LABEL[ref]}", r, b, goal, "MiB/s")
    for op in ["get-null", "put-null"]:
        r = get(stats, 1, "ringftp", op, "mib_s")
        b = get(stats, 1, "iperf3", op, "mib_s")
        name = f"1: {op} ringftp / iperf3"
        if r is None and op == "put-null":
            # ringftpd writes only regular files, so it cannot put into a null device: the
            # nearest figure is put into a file (page cache, no fsync).
            r = get(stats, 1, "ringftp", "put-file", "mib_s")
            name = "1: put ringftp (into a file: ringftpd cannot put into a device) / iperf3"
        versus(lines, name, r, b, 0.8, "MiB/s", percent=True)
    # The server alone, the same client on both sides (the server issue's targets): RETR to
    # curl into /dev/null at least vsftpd's speed, STOR from curl at least twice vsftpd's.
    # Checked on the wall time, and on curl's own timer for the data phase (no login, no wait
    # inside curl before the transfer).
    for metric, how in [("mib_s", "wall time"), ("data_mib_s", "data phase")]:
        for op, goal in [("get-null", 1.0), ("put-file", 2.0)]:
            r = get(stats, 1, "curl-ringftpd", op, metric)
            b = get(stats, 1, "curl", op, metric)
            name = f"1: {op} curl -> ringftpd / curl -> vsftpd ({how})"
            versus(lines, name, r, b, goal, "MiB/s")
    for op in C2_OPS:
        r = get(stats, 2, "ringftp", op, "files_s")
        b = get(stats, 2, "lftp", op, "files_s")
        versus(lines, f"2: {op} ringftp / lftp mirror", r, b, 2.0, "files/s")
    parallel_targets(lines, stats)
    tls_targets(lines, stats)
    op4 = next(
        (
            o
            for o in ops_of(stats, 4)
            if get(stats, 4, "ringftpd", o, "rss_per_session")
        ),
        None,
    )
    s = get(stats, 4, "ringftpd", op4, "rss_per_session") if op4 else None
    check(
        lines,
        f"4: server memory per idle session ({op4 or 'idle'}, VmRSS delta)",
        None if s is None else f"{s.median:,.0f} B",
        "<= 4,096 B",
        s is not None and s.median <= 4096,
    )
    s = get(stats, 4, "ringftpd", op4, "logins_per_s") if op4 else None
    check(
        lines,
        "4: logins per second (argon2id)",
        None if s is None else f"{s.median:.0f}/s",
        ">= 100/s",
        s is not None and s.median >= 100,
    )
    s = get(stats, 4, "ringftpd", op4, "login_list_ms_median") if op4 else None
    worst = get(stats, 4, "ringftpd", op4, "login_list_ms_max") if op4 else None
    check(
        lines,
        "4: new login + LIST while sessions are held",
        None if s is None else f"{s.median:.1f} ms (worst probe {worst.max:.1f} ms)",
        "<= 50 ms",
        s is not None and s.median <= 50,
    )
    return lines


def parallel_targets(lines, stats):
    """Issue 10: one big file at least lftp pget -n 4's speed (same server), many small files
    at least 3x lftp mirror --parallel=4 against vsftpd."""
    r = get(stats, 5, "ringftp-par", "get-file", "mib_s")
    b = get(stats, 5, "lftp-pget", "get-file", "mib_s")
    versus(lines, "5: get-file ringftp --parallel 4 / lftp pget -n 4", r, b, 1.0, "MiB/s")
    for op in C2_OPS:
        b = get(stats, 6, "lftp-par", op, "files_s")
        for who in ["ringftp-par", "ringftp-par-vsftpd"]:
            r = get(stats, 6, who, op, "files_s")
            name = f"6: {op} {LABEL[who]} / {LABEL['lftp-par']}"
            versus(lines, name, r, b, 3.0, "files/s")


def tls_targets(lines, stats):
    """Issue 7: get and put of the big file with PROT P at least 2x sftp aes128-gcm, same run."""
    for op in ["get-file", "put-file"]:
        b = get(stats, 7, "sftp-aes128gcm", op, "mib_s")
        for who in ["ringftp-tls", "ringftp-tls-1"]:
            r = get(stats, 7, who, op, "mib_s")
            versus(lines, f"7: {op} {LABEL[who]} / sftp aes128-gcm", r, b, 2.0, "MiB/s")


def curl_phase_table(stats):
    """The same curl against both servers, by curl's own timer: the data phase alone."""
    lines = [
        "### curl against both servers: the data phase alone",
        "",
        (
            "From curl's `-w` timer: bytes over (time_total - time_pretransfer), which leaves out "
            "the login and anything curl waits for before the transfer (curl 7.88 stalls ~180 ms "
            "in some transfers when an EPSV answer arrives very fast; see docs/edge-cases.md). "
            "`before data` is the median time_pretransfer."
        ),
        "",
        "| operation | server | median MiB/s | min | max | runs | before data (s) | vs vsftpd |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    found = False
    for op in C1_OPS:
        base = get(stats, 1, "curl", op, "data_mib_s")
        for who, name in [("curl-ringftpd", "ringftpd"), ("curl", "vsftpd")]:
            st = get(stats, 1, who, op, "data_mib_s")
            if st is None:
                continue
            found = True
            pre = get(stats, 1, who, op, "pretransfer_s")
            before = f"{pre.median:.3f}" if pre else "n/a"
            ratio = f"{st.median / base.median:.2f}x" if base else "n/a"
            lines.append(
                f"| {op} | {name} | **{fmt(st.median)}** | {fmt(st.min)} | {fmt(st.max)} "
                f"| {st.n} | {before} | {ratio} |"
            )
    return lines if found else []


def case3(stats):
    lines = [
        "| operation | server | median MiB/s | min | max | runs | vs vsftpd |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for op in ops_of(stats, 3):
        ref = get(stats, 3, "vsftpd", op, "mib_s")
        for who in ["ringftpd", "vsftpd"]:
            s = get(stats, 3, who, op, "mib_s")
            if s:
                lines.append(
                    f"| {op} | {who} | **{fmt(s.median)}** | {fmt(s.min)} | {fmt(s.max)} | {s.n} | {ratio(s, ref)} |"
                )
    return lines


def case4(stats):
    metrics = [
        ("sessions_held", "sessions held", "{:,.0f}"),
        ("stopped_at_memory_cap", "stopped at the memory cap (1 = yes)", "{:.0f}"),
        ("sessions_alive_at_end", "alive at end (NOOP)", "{:,.0f}"),
        ("rss_per_session", "server VmRSS per session (B)", "{:,.0f}"),
        ("anon_per_session", "server RssAnon per session (B)", "{:,.0f}"),
        ("pss_per_session", "server PSS per session (B)", "{:,.0f}"),
        ("procs_per_session", "server processes per session", "{:.2f}"),
        ("logins_per_s", "logins per second", "{:,.1f}"),
        ("login_list_ms_median", "new login + LIST, median probe (ms)", "{:.1f}"),
        ("login_list_ms_max", "new login + LIST, worst probe (ms)", "{:.1f}"),
    ]
    cols = [
        (who, op)
        for who in ["ringftpd", "vsftpd"]
        for op in ops_of(stats, 4)
        if get(stats, 4, who, op, "sessions_held")
    ]
    lines = [
        "| figure (median [min-max] over runs) | "
        + " | ".join(f"{w} ({o})" for w, o in cols)
        + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for key, name, f in metrics:
        cells = []
        for who, op in cols:
            s = get(stats, 4, who, op, key)
            cells.append(
                "-"
                if s is None
                else f"{f.format(s.median)} [{f.format(s.min)}-{f.format(s.max)}]"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def case8(stats, params):
    """ringftpd with an S3 root, against its local root and the S3 endpoint itself."""
    if not ops_of(stats, 8):
        return []
    size = f"{params.get('s3_mib', '?')} MiB"
    lines = [f"## Case 8: get and put of one {size} file on S3 (moto on loopback)", ""]
    lines += [
        (
            "Into a real file. `ringftpd on S3` serves `--root s3://ringbench` from a local moto "
            "server (in-memory store, Python); `ringftp -> ringftpd` is the same client against "
            "the local-root ringftpd in the same run; `curl -> S3 endpoint` GETs and PUTs the same "
            "object straight from moto (SigV4-signed, one request), which is the storage's own "
            "limit. `vs` columns: ratio of medians."
        ),
        "",
    ]
    lines += transfer_table(
        stats, 8, C5_OPS, C8_ORDER, "mib_s", "MiB/s", ["curl-s3", "ringftp"]
    ) + [""]
    phase = transfer_table(
        stats, 8, C5_OPS, ["curl-ringftpd-s3", "curl-s3"], "data_mib_s", "MiB/s", ["curl-s3"]
    )
    if len(phase) > 2:
        lines += [
            "Data phase alone (curl's `-w` timer, no login or connection set-up):",
            "",
        ] + phase + [""]
    return lines


def svg_panel(out, y0, title, stats, case, ops, order, metric, unit, width):
    """Horizontal bars (median) with min-max whiskers, one group per operation."""
    bar_h, gap, left, right = 14, 10, 190, 90
    rows = [(op, who, get(stats, case, who, op, metric)) for op in ops for who in order]
    rows = [r for r in rows if r[2] is not None]
    top = max((r[2].max for r in rows), default=1.0) or 1.0
    scale = (width - left - right) / top
    out.append(
        f'<text x="10" y="{y0 + 18}" font-size="15" font-weight="bold">{html.escape(title)}</text>'
    )
    y = y0 + 34
    for op in ops:
        group = [r for r in rows if r[0] == op]
        if not group:
            continue
        out.append(
            f'<text x="10" y="{y + 11}" font-size="12" font-weight="bold">{html.escape(op)}</text>'
        )
        y += 16
        for _, who, s in group:
            w = s.median * scale
            out.append(
                f'<text x="{left - 6}" y="{y + 11}" font-size="11" text-anchor="end">{html.escape(LABEL.get(who, who))}</text>'
            )
            out.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{COLOUR.get(who, "#999")}"/>'
            )
            x1, x2, ym = left + s.min * scale, left + s.max * scale, y + bar_h / 2
            out.append(
                f'<line x1="{x1:.1f}" y1="{ym}" x2="{x2:.1f}" y2="{ym}" stroke="black"/>'
            )
            out.append(
                f'<line x1="{x1:.1f}" y1="{y + 3}" x2="{x1:.1f}" y2="{y + bar_h - 3}" stroke="black"/>'
            )
            out.append(
                f'<line x1="{x2:.1f}" y1="{y + 3}" x2="{x2:.1f}" y2="{y + bar_h - 3}" stroke="black"/>'
            )
            out.append(
                f'<text x="{max(x2, left + w) + 5:.1f}" y="{y + 11}" font-size="11">{fmt(s.median)} {unit}</text>'
            )
            y += bar_h + 3
        y += gap
    return y


def chart(stats, big, small, path):
    width = 900
    body = []
    y = svg_panel(
        body,
        0,
        f"Case 1: one {big} file, median MiB/s (whiskers: min-max)",
        stats,
        1,
        C1_OPS,
        C1_ORDER,
        "mib_s",
        "MiB/s",
        width,
    )
    y = svg_panel(
        body,
        y + 10,
        f"Case 2: {small} small files, get -r / put -r, median files/s",
        stats,
        2,
        C2_OPS,
        C2_ORDER,
        "files_s",
        "files/s",
        width,
    )
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + 10}" font-family="sans-serif">',
        f'<rect width="{width}" height="{y + 10}" fill="white"/>',
        *body,
        "</svg>",
    ]
    Path(path).write_text("\n".join(svg) + "\n")


def main():
    out = Path(sys.argv[1])
    stats = load(out / "results.csv")
    machine = dict(
        line.split("=", 1)
        for line in (out / "machine.txt").read_text().splitlines()
        if "=" in line
    )
    params = dict(
        kv.split("=") for kv in machine.get("mode", "").split()[1:] if "=" in kv
    )
    mode = machine.get("mode", "?").split()[0]
    big = f"{params.get('big_mib', '?')} MiB"
    small = f"{params.get('small_n', '?')} x {params.get('small_kib', '?')} KiB"
    chart(stats, big, small, out / "chart.svg")

    md = [
        f"# ringftp benchmark: {machine.get('date', '?')} on {machine.get('host', '?')} ({mode} mode)",
        "",
    ]
    md += [
        "Produced by `bench/compare_sftp.sh`; raw rows in `results.csv`, chart in `chart.svg`.",
        "",
    ]
    md += ["## Machine", ""]
    for k in [
        "cpu",
        "mem",
        "kernel",
        "load",
        "os",
        "fs",
        "commit",
        "openssh",
        "vsftpd",
        "curl",
        "lftp",
        "iperf3",
    ]:
        md.append(f"- {k}: {machine.get(k, '?')}")
    md.append(f"- parameters: {machine.get('mode', '?')}")
    if machine.get("skipped", "").strip():
        md.append(f"- **skipped contenders**: {machine['skipped'].strip()}")
    md += [
        "",
        (
            "All clients and servers run on this one machine over loopback; figures are medians "
            "of the runs with min and max; ratios compare medians."
        ),
        "",
    ]
    md += ["## Targets (bench/README.md)", ""] + targets(stats) + [""]
    if ops_of(stats, 1):
        md += [f"## Case 1: get and put of one {big} random file", ""]
        md += [
            (
                "`-file`: into a real file (page cache, no fsync); `-null`: into /dev/null (get) or a "
                "null device node inside the served directory (put). Time includes connecting and "
                "logging in."
            ),
            "",
        ]
        md += transfer_table(
            stats, 1, C1_OPS, C1_ORDER, "mib_s", "MiB/s", ["sftp", "curl", "iperf3"]
        ) + [""]
        md += curl_phase_table(stats) + [""]
    if ops_of(stats, 2):
        md += [f"## Case 2: get -r and put -r of {small} files", ""]
        md += transfer_table(
            stats, 2, C2_OPS, C2_ORDER, "files_s", "files/s", ["sftp", "lftp"]
        ) + [""]
    if ops_of(stats, 3):
        md += [
            (
                f"## Case 3: {params.get('c3_clients', '?')} clients at once, each downloading its own "
                f"{params.get('c3_mib', '?')} MiB file (ringftp-bench download)"
            ),
            "",
        ]
        md += [
            (
                "Aggregate rate: all bytes over the time from the common start to the last 226 "
                "(logins one after another before the start are not timed)."
            ),
            "",
        ]
        md += case3(stats) + [""]
    if ops_of(stats, 4):
        md += ["## Case 4: logged-in idle sessions (ringftp-bench idle)", ""]
        md += [
            (
                "Memory is read from /proc before opening the sessions and after all are logged in, "
                "summed over the server's process tree (vsftpd forks per session; PSS splits shared "
                "pages fairly among them). Kernel socket memory is not included. ringftpd is "
                "restarted before each run."
            ),
            "",
        ]
        md += case4(stats) + [""]
    if ops_of(stats, 5):
        md += [f"## Case 5: one {big} file over 4 connections (segments)", ""]
        md += [
            (
                "Into a real file. ringftp cuts the file into 4 parts (REST + RETR/STOR per part); "
                "lftp pget -n 4 against the same ringftpd; dd writes the same bytes into the served "
                "directory in the same run (what the page cache allowed at that moment)."
            ),
            "",
        ]
        md += transfer_table(
            stats, 5, C5_OPS, C5_ORDER, "mib_s", "MiB/s", ["lftp-pget", "ringftp-1", "dd"]
        ) + [""]
    if ops_of(stats, 6):
        md += [f"## Case 6: get -r and put -r of {small} files, 4 in flight", ""]
        md += transfer_table(
            stats, 6, C2_OPS, C6_ORDER, "files_s", "files/s", ["lftp-par"]
        ) + [""]
    if ops_of(stats, 7):
        md += [f"## Case 7: get and put of one {big} file over FTPS (PROT P)", ""]
        md += transfer_table(
            stats, 7, C5_OPS, C7_ORDER, "mib_s", "MiB/s", ["sftp-aes128gcm"]
        ) + [""]
    md += case8(stats, params)
    if ops_of(stats, 9):
        md += [f"## Case 9: get -r and put -r of {small} files over FTPS, 4 in flight", ""]
        md += [
            (
                "ringftp with block mode (MODE B: each worker keeps one protected data connection, "
                "so one TLS handshake, for all its files) and with `--no-block-mode` (a new "
                "connection and handshake per file); lftp over FTPS against the same ringftpd; "
                "sftp with aes128-gcm."
            ),
            "",
        ]
        refs = ["ringftp-tls-stream", "lftp-tls-par", "sftp-aes128gcm"]
        md += transfer_table(stats, 9, C2_OPS, C9_ORDER, "files_s", "files/s", refs) + [""]
    (out / "summary.md").write_text("\n".join(md))


if __name__ == "__main__":
    main()
