#!/usr/bin/env bash
# Run-to-run spread of one big get and put, ringftp -> ringftpd alone (no other contender), with
# the cost of each transfer in load-independent terms: CPU seconds of the client and of the
# server, context switches, CPU pressure. bench/README.md, "Put and get under contention".
#
#   flock /tmp/ringftp-bench.lock bench/steady.sh [--runs 10] [--mib 1024] [--parallel "1 2 4"]
#       [--hog] [--settle SECS] [--ops "get put"] [--server BIN] [--client BIN]
#       [--clients "NAME=BIN ..."] [--out FILE] [--no-build]
#
# --parallel: the client's --parallel values to compare (the variants take turns within a run,
#   rotating, so that a slow phase of the machine hits each of them).
# --hog: one busy loop (a shell `while :`) runs for the whole measurement: one CPU of two taken.
# --settle: wait this long after the previous copy is deleted before the next transfer. This VM
#   hands freed memory back to the host (virtio-balloon free page reporting); pages written
#   within ~2 s of a delete reuse memory the guest still holds, later ones fault it back in from
#   the host, several times slower (bench/README.md). 0 (the default): right after the delete.
# --server/--client: other builds of ringftpd/ringftp (default: target/release, built here).
# --clients: several client builds side by side (before/after a change), each with every
#   --parallel value; the variant is then NAME-pN.
#
# Every transfer is checked (size; content with cmp in the first run). No system user is
# created: ringftpd has its own users file, in the temp dir. Prints one CSV row per transfer
# and, at the end, min/median/max per variant and op.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=10 MIB=1024 PARALLEL="1 2 4" HOG=0 SETTLE=0 OPS="get put" OUT="" BUILD=1
SERVER="" CLIENT="" CLIENTS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --mib) MIB=$2; shift 2 ;;
        --parallel) PARALLEL=$2; shift 2 ;;
        --hog) HOG=1; shift ;;
        --settle) SETTLE=$2; shift 2 ;;
        --ops) OPS=$2; shift 2 ;;
        --server) SERVER=$2; shift 2 ;;
        --client) CLIENT=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
log() { echo "[steady $(date +%T)] $*" >&2; }
die() { log "error: $*"; exit 1; }

TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
if [ "$BUILD" = 1 ] && { [ -z "$SERVER" ] || [ -z "$CLIENT" ]; }; then
    log "building ringftpd and ringftp (release)"
    (cd "$REPO" && cargo build --release --quiet -p ringftpd -p ringftp)
fi
SERVER="${SERVER:-$TARGET/release/ringftpd}"
CLIENT="${CLIENT:-$TARGET/release/ringftp}"
[ -n "$CLIENTS" ] || CLIENTS="p=$CLIENT"
VARIANTS=()
for c in $CLIENTS; do
    [ -x "${c#*=}" ] || die "missing ${c#*=}"
    for p in $PARALLEL; do VARIANTS+=("${c%%=*}|${c#*=}|$p"); done
done
[ -x "$SERVER" ] || die "missing $SERVER"
command -v /usr/bin/time >/dev/null || die "needs /usr/bin/time (apt-get install time)"

T="$(mktemp -d "${TMPDIR:-/tmp}/ringftp-steady.XXXXXX")"
mkdir -p "$T/srv" "$T/local" "$T/etc"
SRV_PID="" HOG_PID=""
cleanup() {
    set +e
    [ -n "$HOG_PID" ] && kill "$HOG_PID" 2>/dev/null
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$PASSWORD" | "$SERVER" user add steady --users "$T/etc/users" --password-stdin >/dev/null
printf 'machine 127.0.0.1 login steady password %s\n' "$PASSWORD" >"$T/etc/netrc"
chmod 600 "$T/etc/netrc"
"$SERVER" serve --listen 127.0.0.1:0 --root "$T/srv" --users "$T/etc/users" --tls off \
    2>"$T/server.log" &
SRV_PID=$!
PORT=""
for _ in $(seq 100); do
    kill -0 "$SRV_PID" 2>/dev/null || { cat "$T/server.log" >&2; die "ringftpd exited"; }
    PORT="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/server.log" | head -n1)"
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || die "ringftpd did not say 'listening on'"

BYTES=$((MIB * 1048576))
log "creating $MIB MiB of random data"
head -c "$BYTES" /dev/urandom >"$T/srv/big.bin"
cp "$T/srv/big.bin" "$T/local/up.bin"
sync

if [ "$HOG" = 1 ]; then
    bash -c 'while :; do :; done' &
    HOG_PID=$!
    log "CPU hog running (pid $HOG_PID)"
fi

# utime+stime of the server (all its threads, also the exited io-wq workers), in clock ticks.
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SRV_PID/stat"; }
# Total CPU "some" stall of the machine, microseconds.
cpu_stall() { sed -n 's/^some .*total=\([0-9]*\).*/\1/p' /proc/pressure/cpu; }
TICK="$(getconf CLK_TCK)"
# KiB of free memory handed to the host so far (free page reporting), when the kernel says.
REPORTED=/sys/module/page_reporting/parameters/reported_kib
reported() { if [ -r "$REPORTED" ]; then cat "$REPORTED"; else echo 0; fi; }

[ -n "$OUT" ] || OUT="$T/steady.csv"
echo "variant,op,run,seconds,mib_s,client_cpu_s,server_cpu_s,client_vcs,client_ivcs,cpu_stall_s,reported_mib,hog" >"$OUT"
rotate() { # run items...
    local r=$1; shift
    local items=("$@") n=$# i
    for ((i = 0; i < n; i++)); do echo "${items[$(((i + r) % n))]}"; done
}
for run in $(seq "$RUNS"); do
    for op in $OPS; do
        for v in $(rotate "$run" "${VARIANTS[@]}"); do
            name="${v%%|*}" bin="${v#*|}" p="${v##*|}"
            bin="${bin%|*}" label="$name-p$p"
            [ "$name" = p ] && label="p$p"
            case "$op" in
                get) cmd="get big.bin $T/local/got.bin" ;;
                put) cmd="put $T/local/up.bin up.bin" ;;
                *) die "unknown op $op" ;;
            esac
            printf '%s\n' "$cmd" >"$T/etc/batch"
            r0="$(reported)"
            sync
            sleep "$SETTLE"
            s0="$(server_ticks)" p0="$(cpu_stall)" t0=$EPOCHREALTIME
            /usr/bin/time -o "$T/time" -f '%U %S %w %c' "$bin" -P "$PORT" --parallel "$p" \
                --netrc-file "$T/etc/netrc" -b "$T/etc/batch" steady@127.0.0.1 >"$T/out" 2>&1 ||
                { cat "$T/out" >&2; die "$op $label failed"; }
            t1=$EPOCHREALTIME
            s1="$(server_ticks)" p1="$(cpu_stall)" r1="$(reported)"
            case "$op" in
                get) f="$T/local/got.bin" ref="$T/srv/big.bin" ;;
                put) f="$T/srv/up.bin" ref="$T/local/up.bin" ;;
            esac
            [ "$(stat -c %s "$f")" = "$BYTES" ] || die "$op $label: wrong size"
            [ "$run" = 1 ] && { cmp -s "$f" "$ref" || die "$op $label: content differs"; }
            rm -f "$f"
            read -r cu cs vcs ivcs <"$T/time"
            python3 - "$label" "$op" "$run" "$t0" "$t1" "$BYTES" "$cu" "$cs" "$s0" "$s1" "$TICK" \
                "$vcs" "$ivcs" "$p0" "$p1" "$r0" "$r1" "$HOG" >>"$OUT" <<'EOF'
import sys
p, op, run, t0, t1, b, cu, cs, s0, s1, tick, vcs, ivcs, p0, p1, r0, r1, hog = sys.argv[1:]
secs = float(t1) - float(t0)
print(f"{p},{op},{run},{secs:.4f},{int(b) / 1048576 / secs:.1f},{float(cu) + float(cs):.3f},"
      f"{(int(s1) - int(s0)) / int(tick):.3f},{vcs},{ivcs},{(int(p1) - int(p0)) / 1e6:.3f},"
      f"{(int(r1) - int(r0)) // 1024},{hog}")
EOF
            log "$(tail -n1 "$OUT")"
        done
    done
done

python3 - "$OUT" "$MIB" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
gib = int(sys.argv[2]) / 1024
keys = sorted({(r["variant"], r["op"]) for r in rows}, key=lambda k: (k[1], k[0]))
print("variant op    MiB/s min / median / max    client CPU s/GiB  server CPU s/GiB  ctx sw/GiB (vol+invol)")
for v, op in keys:
    rs = [r for r in rows if r["variant"] == v and r["op"] == op]
    sp = sorted(float(r["mib_s"]) for r in rs)
    med = lambda f: statistics.median(float(r[f]) for r in rs)
    cs = statistics.median(int(r["client_vcs"]) + int(r["client_ivcs"]) for r in rs)
    print(f"{v:7} {op:4} {sp[0]:8.0f} / {statistics.median(sp):6.0f} / {sp[-1]:6.0f}"
          f"    {med('client_cpu_s') / gib:16.3f}  {med('server_cpu_s') / gib:16.3f}  {cs / gib:10.0f}")
EOF
