#!/usr/bin/env bash
# Transfer speed of ringftp/ringftpd side by side with OpenSSH sftp, vsftpd (curl, lftp) and the
# machine's limit (iperf3 over loopback), on one machine, in one run.
#
#   bench/compare_sftp.sh            # full run (1 GiB files, 1,000 small files, 100 clients,
#                                    # 10,000 idle sessions, 3 runs each): 10 to 13 minutes on 2 cores
#   bench/compare_sftp.sh --quick    # small sizes, 1 run: under 2 minutes once built
#
# Options: --quick, --runs N, --out DIR (default bench/results/<date>-<host>[-quick]), --keep
# (keep the temp dir), --skip A,B (leave out contenders, e.g. lftp,curl; the run then says so),
# --cases 5,6 (run only these cases; default all), --bin-dir DIR (take ringftpd, ringftp and
# ringftp-bench from DIR instead of building them: an older build side by side), --help. BENCH_COMMIT=... names the commit in the summary when the tree is not a git checkout.
#
# What it does (on a fresh Ubuntu/Debian machine, as root or with sudo):
#   - installs what is missing: openssh-server, openssh-client, vsftpd, curl, lftp, iperf3
#     (and, if cargo is missing, rustup's minimal toolchain); for case 8, moto[server] from PyPI
#     (pip) if python3 cannot import it;
#   - builds ringftpd, ringftp (cargo build --release) and the load generator ringftp-bench;
#   - creates one temporary user (ringbench, home in the temp dir; vsftpd and sshd need a real
#     account) and removes it at the end; everything else lives in a temp dir: configs, host
#     and client keys, served files;
#   - starts a private sshd, vsftpd, ringftpd and iperf3 (case 8: a moto S3 server and a second
#     ringftpd whose root is a bucket on it) on free loopback ports, runs every case
#     with the contenders alternated within each run, stops all of them by PID (also on error
#     or Ctrl-C);
#   - writes results.csv, summary.md and chart.svg under the output directory.
# It asserts nothing about speed: it exits 0 when every case ran.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
skipped() { [[ "$SKIP" == *",$1,"* ]]; }

ORIG_ARGS=("$@")
CASES=""
BIN_DIR=""
want_case() { [ -z "$CASES" ] || [[ "$CASES" == *",$1,"* ]]; }
QUICK=0
SKIP=","
RUNS=""
OUT=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --runs) RUNS="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --keep) KEEP=1 ;;
        --skip) SKIP=",$2,"; shift ;;
        --cases) CASES=",$2,"; shift ;;
        --bin-dir) BIN_DIR="$2"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare_sftp.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

if [ "$QUICK" = 1 ]; then
    BIG_MIB=64; SMALL_N=100; C3_CLIENTS=20; C3_MIB=2; C4_SESSIONS=300; C4_VSFTPD=50; S3_MIB=32
    : "${RUNS:=1}"; MODE=quick
else
    BIG_MIB=1024; SMALL_N=1000; C3_CLIENTS=100; C3_MIB=10; C4_SESSIONS=10000; C4_VSFTPD=1000; S3_MIB=256
    : "${RUNS:=3}"; MODE=full
fi
SMALL_KIB=4
SMALL_BYTES=$((SMALL_N * SMALL_KIB * 1024))
BENCH_USER=ringbench

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
[ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "${ORIG_ARGS[@]}"

# ---------------------------------------------------------------------------------------------
# Install what is missing.
# ---------------------------------------------------------------------------------------------
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v sftp >/dev/null 2>&1 || need+=(openssh-client)
command -v vsftpd >/dev/null 2>&1 || [ -x /usr/sbin/vsftpd ] || need+=(vsftpd)
for c in curl lftp iperf3 python3; do command -v "$c" >/dev/null 2>&1 || need+=("$c"); done
command -v cc >/dev/null 2>&1 || need+=(build-essential)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
    # The packages start their system daemons; this script uses private instances only.
fi
if ! command -v cargo >/dev/null 2>&1; then
    if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; else
        log "installing rustup (minimal profile)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        . "$HOME/.cargo/env"
    fi
fi
SSHD="$(command -v sshd || echo /usr/sbin/sshd)"
VSFTPD="$(command -v vsftpd || echo /usr/sbin/vsftpd)"
SFTP_SERVER=internal-sftp
for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server; do
    if [ -x "$p" ]; then SFTP_SERVER="$p"; break; fi
done

# ---------------------------------------------------------------------------------------------
# Build.
# ---------------------------------------------------------------------------------------------
if [ -n "${BIN_DIR:-}" ]; then
    log "binaries from $BIN_DIR (not built)"
elif skipped ringftp; then
    log "building ringftpd (release)"
    cargo build --release --quiet -p ringftpd
else
    log "building ringftpd and ringftp (release)"
    cargo build --release --quiet -p ringftpd -p ringftp
fi
if [ -n "${BIN_DIR:-}" ]; then
    RINGFTPD="$BIN_DIR/ringftpd"
    RINGFTP="$BIN_DIR/ringftp"
    LOADGEN="$BIN_DIR/ringftp-bench"
else
    log "building the load generator ringftp-bench (release)"
    cargo build --release --quiet -p ringftp-bench
    TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
    RINGFTPD="$TARGET/release/ringftpd"
    RINGFTP="$TARGET/release/ringftp"
    LOADGEN="$TARGET/release/ringftp-bench"
fi
for b in "$RINGFTPD" "$LOADGEN"; do [ -x "$b" ] || die "missing $b after build"; done

# ---------------------------------------------------------------------------------------------
# Temp dir, user, cleanup.
# ---------------------------------------------------------------------------------------------
T="$(mktemp -d "${TMPDIR:-/tmp}/ringftp-bench.XXXXXX")"
chmod 755 "$T"
mkdir -p "$T/etc" "$T/keys" "$T/log" "$T/srv" "$T/local" "$T/empty"
chmod 700 "$T/etc" "$T/local"
PIDS=()
CREATED_USER=0
cleanup() {
    local rc=$?
    set +e
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "$CREATED_USER" = 1 ]; then userdel "$BENCH_USER" 2>/dev/null; fi
    if [ "$KEEP" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
if id "$BENCH_USER" >/dev/null 2>&1; then
    # Left over from an interrupted run: reuse it, pointed at this run's home.
    usermod -d "$T/srv" -s /bin/bash "$BENCH_USER"
else
    useradd -M -d "$T/srv" -s /bin/bash "$BENCH_USER"
fi
CREATED_USER=1
echo "$BENCH_USER:$PASSWORD" | chpasswd
chown "$BENCH_USER:" "$T/srv"
printf '%s\n' "$PASSWORD" >"$T/etc/password"
printf 'machine 127.0.0.1 login %s password %s\n' "$BENCH_USER" "$PASSWORD" >"$T/etc/netrc"
chmod 600 "$T/etc/password" "$T/etc/netrc"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() { # PORT PID NAME
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || die "$3 exited at start; see $T/log"
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "$3 does not listen on port $1"
}

# ---------------------------------------------------------------------------------------------
# Private sshd (key authentication only), vsftpd, ringftpd, iperf3.
# ---------------------------------------------------------------------------------------------
SSH_PORT="$(free_port)"
ssh-keygen -q -t ed25519 -N '' -f "$T/etc/ssh_host_ed25519_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/etc/client_key"
cp "$T/etc/client_key.pub" "$T/keys/authorized_keys"
chmod 644 "$T/keys/authorized_keys"
cat >"$T/etc/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $T/etc/ssh_host_ed25519_key
PidFile $T/etc/sshd.pid
AuthorizedKeysFile $T/keys/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $BENCH_USER
Subsystem sftp $SFTP_SERVER
LogLevel ERROR
EOF
mkdir -p /run/sshd # privilege separation directory that Debian's sshd insists on
"$SSHD" -D -f "$T/etc/sshd_config" -E "$T/log/sshd.log" &
PIDS+=($!)
wait_port "$SSH_PORT" "${PIDS[-1]}" sshd

FTP_PORT="$(free_port)"
cat >"$T/etc/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$FTP_PORT
background=NO
seccomp_sandbox=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=NO
pasv_enable=YES
max_clients=20000
max_per_ip=0
idle_session_timeout=3600
data_connection_timeout=300
dirmessage_enable=NO
xferlog_enable=NO
vsftpd_log_file=$T/log/vsftpd.log
secure_chroot_dir=$T/empty
pam_service_name=vsftpd
userlist_enable=NO
ssl_enable=NO
EOF
"$VSFTPD" "$T/etc/vsftpd.conf" &
VSFTPD_PID=$!
PIDS+=("$VSFTPD_PID")
wait_port "$FTP_PORT" "$VSFTPD_PID" vsftpd

# A private copy under another name: on a shared machine, someone's `pkill ringftpd` must not
# stop the bench halfway (it did, twice, while this script was written).
mkdir -p "$T/bin"
cp "$RINGFTPD" "$T/bin/bench-ftpd"
RINGFTPD="$T/bin/bench-ftpd"
printf '%s\n' "$PASSWORD" | "$RINGFTPD" user add "$BENCH_USER" --users "$T/etc/server.users" --password-stdin >/dev/null
RING_PORT=""
RINGFTPD_PID=""
start_ringftpd() {
    local logf="$T/log/server.$((${#PIDS[@]})).log"
    RINGFTPD_LOG="$logf"
    # --tls off: cases 1-6 measure FTP in the clear (ringftp uses TLS whenever it is offered);
    # case 7 starts its own FTPS server.
    "$RINGFTPD" serve --listen 127.0.0.1:0 --root "$T/srv" --users "$T/etc/server.users" \
        --max-clients 20000 --idle-timeout 3600 --tls off 2>"$logf" &
    RINGFTPD_PID=$!
    PIDS+=("$RINGFTPD_PID")
    RING_PORT=""
    for _ in $(seq 100); do
        kill -0 "$RINGFTPD_PID" 2>/dev/null || { cat "$logf" >&2; die "ringftpd exited at start"; }
        RING_PORT="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$logf" | head -n1)"
        [ -n "$RING_PORT" ] && break
        sleep 0.1
    done
    [ -n "$RING_PORT" ] || die "ringftpd did not say 'listening on'; see $logf"
}
stop_ringftpd() {
    kill "$RINGFTPD_PID" 2>/dev/null || true
    wait "$RINGFTPD_PID" 2>/dev/null || true
}
start_ringftpd

IPERF_PORT="$(free_port)"
iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" >"$T/log/iperf3.log" 2>&1 &
PIDS+=($!)
wait_port "$IPERF_PORT" "${PIDS[-1]}" iperf3
log "sshd :$SSH_PORT, vsftpd :$FTP_PORT, ringftpd :$RING_PORT, iperf3 :$IPERF_PORT; temp dir $T"

# ---------------------------------------------------------------------------------------------
# Data.
# ---------------------------------------------------------------------------------------------
log "creating data: ${BIG_MIB} MiB random file, $SMALL_N x $SMALL_KIB KiB files, $C3_CLIENTS x $C3_MIB MiB files"
BIG_BYTES=$((BIG_MIB * 1024 * 1024))
head -c "$BIG_BYTES" /dev/urandom >"$T/srv/big.bin"
cp "$T/srv/big.bin" "$T/local/up.bin"
mkdir -p "$T/srv/small" "$T/local/small" "$T/srv/c3"
python3 - "$T/srv/small" "$SMALL_N" "$((SMALL_KIB * 1024))" <<'EOF'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with open(os.path.join(d, f"f{i:04d}.dat"), "wb") as f:
        f.write(os.urandom(size))
EOF
cp -a "$T/srv/small/." "$T/local/small/"
for i in $(seq 0 $((C3_CLIENTS - 1))); do
    head -c "$((C3_MIB * 1024 * 1024))" /dev/urandom >"$T/srv/c3/f$i.bin"
done
# A null device inside the served tree, so that every server can "put into /dev/null" the same
# way (ringftpd cannot reach /dev/null: it is jailed beneath its root).
mknod -m 666 "$T/srv/devnull" c 1 3
chown -R "$BENCH_USER:" "$T/srv"
sync

# ---------------------------------------------------------------------------------------------
# Results.
# ---------------------------------------------------------------------------------------------
HOST="$(hostname -s 2>/dev/null || hostname)"
if [ -z "$OUT" ]; then
    OUT="$REPO/bench/results/$(date +%Y-%m-%d)-$HOST"
    [ "$QUICK" = 1 ] && OUT="$OUT-quick"
fi
mkdir -p "$OUT"
CSV="$OUT/results.csv"
"$LOADGEN" header >"$CSV"
record() { # case contender op run metric value unit
    local IFS=,
    echo "$*" >>"$CSV"
}
# curl's -w line: when the transfer proper began (after login, EPSV and the data connection)
# and when it ended.
CURL_TIMES='curl-times %{time_pretransfer} %{time_total}\n'
# After a curl measurement (called by measure): records MiB/s of the data phase alone, from curl's own timer. It
# leaves out the login (argon2id against PAM) and waits inside curl before the transfer, such
# as curl 7.88's ~180 ms stall when an EPSV answer arrives very fast (docs/edge-cases.md).
curl_phase() { # case contender op run bytes
    local line pre total
    line="$(grep '^curl-times ' "$T/log/last.out" | tail -n1)" || return 0
    read -r _ pre total <<<"$line"
    record "$1" "$2" "$3" "$4" data_mib_s "$(python3 -c "print(f'{$5/1048576/max($total-$pre,1e-6):.2f}')")" MiB/s
    record "$1" "$2" "$3" "$4" pretransfer_s "$pre" s
}
# Times "$@" and records seconds and MiB/s for BYTES; extra: files count for files/s.
measure() { # case contender op run bytes files -- command...
    local case=$1 who=$2 op=$3 run=$4 bytes=$5 files=$6
    shift 7
    sync
    local t0=$EPOCHREALTIME
    if ! "$@" >"$T/log/last.out" 2>&1; then
        cat "$T/log/last.out" >&2
        servers_alive
        if [ "$who" = ringftp ] && ! kill -0 "$RINGFTPD_PID" 2>/dev/null && [ "${RETRIED:-0}" = 0 ]; then
            # Stopped from outside (see servers_alive's log): restart it and measure again, once.
            log "restarting ringftpd and measuring again"
            start_ringftpd
            RETRIED=1 measure "$case" "$who" "$op" "$run" "$bytes" "$files" -- "$@"
            return
        fi
        die "case $case $who $op run $run failed: $*"
    fi
    local t1=$EPOCHREALTIME
    local secs
    secs="$(python3 -c "print(f'{$t1-$t0:.4f}')")"
    record "$case" "$who" "$op" "$run" seconds "$secs" s
    record "$case" "$who" "$op" "$run" mib_s "$(python3 -c "print(f'{$bytes/1048576/$secs:.2f}')")" MiB/s
    if [ "$files" -gt 0 ]; then
        record "$case" "$who" "$op" "$run" files_s "$(python3 -c "print(f'{$files/$secs:.1f}')")" files/s
    fi
    case "$who" in curl | curl-ringftpd | curl-s3 | curl-ringftpd-s3) curl_phase "$case" "$who" "$op" "$run" "$bytes" ;; esac
    log "  $case $op $who run $run: ${secs}s"
}
# Says which server died, with the end of its log (called when a case fails).
servers_alive() {
    if [ -n "$RINGFTPD_PID" ] && ! kill -0 "$RINGFTPD_PID" 2>/dev/null; then
        wait "$RINGFTPD_PID" 2>/dev/null
        log "ringftpd (pid $RINGFTPD_PID) is gone, exit status $?; end of its log:"
        tail -n 20 "$RINGFTPD_LOG" >&2
    fi
    kill -0 "$VSFTPD_PID" 2>/dev/null || log "vsftpd (pid $VSFTPD_PID) is gone; see $T/log/vsftpd.log"
}
check_size() { # file bytes
    local got
    got="$(stat -c %s "$1" 2>/dev/null || echo missing)"
    [ "$got" = "$2" ] || die "$1: size $got, expected $2"
}
check_count() { # dir n
    local got
    got="$(find "$1" -type f | wc -l)"
    [ "$got" = "$2" ] || die "$1: $got files, expected $2"
}

SSH_OPTS=(-q -P "$SSH_PORT" -i "$T/etc/client_key" -o BatchMode=yes -o StrictHostKeyChecking=no
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
batch() { # name lines...: writes a batch file, prints its path
    local f="$T/etc/$1.batch"
    shift
    printf '%s\n' "$@" >"$f"
    echo "$f"
}
# One client action, the same for every contender: DIRECTION (get|put|getr|putr), local path,
# remote path.
run_client() { # contender direction local remote
    local who=$1 dir=$2 loc=$3 rem=$4 b append=""
    # vsftpd truncates a STOR target with ftruncate(), which a device refuses ("500 OOPS"):
    # into the null device it gets APPE, which does not truncate.
    [ "$rem" = devnull ] && append=--append
    case "$who" in
        ringftp|sftp|sftp-aes128gcm)
            case "$dir" in
                get) b="$(batch "$who" "get $rem $loc")" ;;
                put) b="$(batch "$who" "put $loc $rem")" ;;
                getr) b="$(batch "$who" "get -r $rem $loc")" ;;
                putr) b="$(batch "$who" "put -r $loc $rem")" ;;
            esac
            case "$who" in
                ringftp) "$RINGFTP" -P "$RING_PORT" --netrc-file "$T/etc/netrc" -b "$b" "$BENCH_USER@127.0.0.1" ;;
                sftp) sftp "${SSH_OPTS[@]}" -b "$b" "$BENCH_USER@127.0.0.1" ;;
                sftp-aes128gcm) sftp "${SSH_OPTS[@]}" -o Ciphers=aes128-gcm@openssh.com -b "$b" "$BENCH_USER@127.0.0.1" ;;
            esac
            ;;
        curl | curl-ringftpd)
            # curl against vsftpd, and the same curl against ringftpd (the server alone compared).
            local port=$FTP_PORT
            [ "$who" = curl-ringftpd ] && port=$RING_PORT
            case "$dir" in
                # -w: curl's own timer, for the data phase alone (see curl_phase).
                get) curl -sS --fail --netrc-file "$T/etc/netrc" -w "$CURL_TIMES" -o "$loc" "ftp://127.0.0.1:$port/$rem" ;;
                put) curl -sS --fail --netrc-file "$T/etc/netrc" -w "$CURL_TIMES" -T "$loc" $append "ftp://127.0.0.1:$port/$rem" ;;
                *) die "curl has no recursive transfer" ;;
            esac
            ;;
        lftp | lftp-pget | lftp-par | lftp-tls-par)
            # lftp -> vsftpd; lftp-pget: pget -n 4 -> ringftpd (case 5, the same server as
            # ringftp's segments); lftp-par: mirror --parallel=4 -> vsftpd (case 6);
            # lftp-tls-par: mirror --parallel=4 over FTPS (AUTH TLS, PROT P) -> the
            # ringftpd --tls required of case 9 (its self-signed certificate not verified).
            local s="$T/etc/lftp.script" port=$FTP_PORT par="" tls="set ftp:ssl-allow no"
            [ "$who" = lftp-pget ] && port=$RING_PORT
            [ "$who" = lftp-par ] && par="--parallel=4"
            if [ "$who" = lftp-tls-par ]; then
                port=$TLS_PORT par="--parallel=4"
                tls="set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no"
            fi
            {
                echo "set cmd:fail-exit yes; set net:max-retries 1; $tls"
                echo "set ftp:passive-mode yes; set xfer:clobber yes; set cmd:interactive no"
                echo "open -u $BENCH_USER,$PASSWORD -p $port 127.0.0.1"
                case "$who:$dir" in
                    lftp-pget:get) echo "pget -n 4 $rem -o $loc" ;;
                    *:get) echo "get $rem -o $loc" ;;
                    *:put) echo "put $loc -o $rem" ;;
                    *:getr) echo "mirror $par $rem $loc" ;;
                    *:putr) echo "mirror -R $par $loc $rem" ;;
                esac
            } >"$s"
            chmod 600 "$s"
            lftp -f "$s"
            ;;
        ringftp-tls | ringftp-tls-1 | ringftp-tls-stream)
            # Cases 7 and 9: FTPS (AUTH TLS, PROT P) against its own ringftpd, its certificate
            # accepted once into a private known_hosts; with the client's default parallel
            # transfers, over one connection (-1), and with block mode off (-stream: one new
            # data connection, so one TLS handshake, per file).
            local n=4 mode=()
            [ "$who" = ringftp-tls-1 ] && n=1
            [ "$who" = ringftp-tls-stream ] && mode=(--no-block-mode)
            case "$dir" in
                get) b="$(batch "$who" "get $rem $loc")" ;;
                put) b="$(batch "$who" "put $loc $rem")" ;;
                getr) b="$(batch "$who" "get -r $rem $loc")" ;;
                putr) b="$(batch "$who" "put -r $loc $rem")" ;;
            esac
            "$RINGFTP" -P "$TLS_PORT" --parallel "$n" "${mode[@]}" -o "UserKnownHostsFile=$T/etc/known_hosts" \
                -o StrictHostKeyChecking=accept-new --netrc-file "$T/etc/netrc" -b "$b" "$BENCH_USER@127.0.0.1"
            ;;
        ringftp-s3 | ringftp-s3-1)
            # Case 8: ringftp (default streams; -1: --parallel 1) -> the ringftpd whose root is
            # the S3 bucket.
            local n=4
            [ "$who" = ringftp-s3-1 ] && n=1
            case "$dir" in
                get) b="$(batch "$who" "get $rem $loc")" ;;
                put) b="$(batch "$who" "put $loc $rem")" ;;
                *) die "case 8 has no recursive transfer" ;;
            esac
            "$RINGFTP" -P "$S3FTP_PORT" --parallel "$n" --netrc-file "$T/etc/netrc" -b "$b" "$BENCH_USER@127.0.0.1"
            ;;
        curl-ringftpd-s3)
            # Case 8: curl -> the same ringftpd on S3 (one stream, the server alone).
            case "$dir" in
                get) curl -sS --fail --netrc-file "$T/etc/netrc" -w "$CURL_TIMES" -o "$loc" "ftp://127.0.0.1:$S3FTP_PORT/$rem" ;;
                put) curl -sS --fail --netrc-file "$T/etc/netrc" -w "$CURL_TIMES" -T "$loc" "ftp://127.0.0.1:$S3FTP_PORT/$rem" ;;
                *) die "curl has no recursive transfer" ;;
            esac
            ;;
        curl-s3)
            # Case 8: curl straight to the S3 endpoint, GET and PUT of the same object: the
            # storage's own limit. Signed (SigV4, the dummy credentials ringftpd also uses):
            # moto takes an unsigned PUT but refuses an unsigned GET of a private object.
            case "$dir" in
                get) curl -sS --fail "${S3_SIGN[@]}" -w "$CURL_TIMES" -o "$loc" "$S3_URL/$S3_BUCKET/$rem" ;;
                put) curl -sS --fail "${S3_SIGN[@]}" -w "$CURL_TIMES" -T "$loc" "$S3_URL/$S3_BUCKET/$rem" ;;
                *) die "curl has no recursive transfer" ;;
            esac
            ;;
        ringftp-1 | ringftp-par | ringftp-par-vsftpd | ringftp-par-stream)
            # ringftp with parallel transfers off (--parallel 1) and on (4 connections; big
            # files in segments), against ringftpd, and against vsftpd (case 6);
            # -stream: block mode off (--no-block-mode, a new data connection per file), to
            # show what MODE B brings against the same server.
            local port=$RING_PORT n=4 mode=()
            [ "$who" = ringftp-1 ] && n=1
            [ "$who" = ringftp-par-vsftpd ] && port=$FTP_PORT
            [ "$who" = ringftp-par-stream ] && mode=(--no-block-mode)
            case "$dir" in
                get) b="$(batch "$who" "get $rem $loc")" ;;
                put) b="$(batch "$who" "put $loc $rem")" ;;
                getr) b="$(batch "$who" "get -r $rem $loc")" ;;
                putr) b="$(batch "$who" "put -r $loc $rem")" ;;
            esac
            "$RINGFTP" -P "$port" --parallel "$n" "${mode[@]}" --netrc-file "$T/etc/netrc" -b "$b" "$BENCH_USER@127.0.0.1"
            ;;
        dd)
            # The same bytes written into the same filesystem's page cache by dd, beside the
            # uploads in the same run: what writeback lets any writer do at that moment.
            case "$dir" in
                put) dd if="$loc" of="$T/srv/$rem" bs=1M status=none ;;
                *) die "dd only writes" ;;
            esac
            ;;
        *) die "unknown contender $who" ;;
    esac
}
# Rotates the contender list by the run number, so each one goes first in turn.
rotate() { # run items...
    local r=$1
    shift
    local n=$# i
    local items=("$@")
    for ((i = 0; i < n; i++)); do echo "${items[$(((i + r) % n))]}"; done
}
iperf() { # case op run [-R]
    local j="$T/log/iperf.json"
    sync
    iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -n "$BIG_BYTES" -J ${4:+"$4"} >"$j" || die "iperf3 failed"
    python3 - "$j" "$CSV" "$1" "$2" "$3" <<'EOF'
import json, sys
j, csv, case, op, run = sys.argv[1:]
r = json.load(open(j))["end"]["sum_received"]
with open(csv, "a") as f:
    f.write(f"{case},iperf3,{op},{run},seconds,{r['seconds']:.4f},s\n")
    f.write(f"{case},iperf3,{op},{run},mib_s,{r['bytes'] / 1048576 / r['seconds']:.2f},MiB/s\n")
EOF
    log "  $1 $2 iperf3 run $3"
}

# ---------------------------------------------------------------------------------------------
# Case 1: one big file, get and put, into a real file and into /dev/null.
# ---------------------------------------------------------------------------------------------
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
if want_case 1; then
C1=(ringftp sftp sftp-aes128gcm curl lftp curl-ringftpd)
log "case 1: ${BIG_MIB} MiB get/put, $RUNS run(s)"
for run in $(seq "$RUNS"); do
    for op in get-file get-null put-file put-null; do
        for who in $(rotate "$run" "${C1[@]}" iperf3); do
            skipped "$who" && continue
            if [ "$who" = iperf3 ]; then
                case "$op" in
                    get-null) iperf 1 "$op" "$run" -R ;;
                    put-null) iperf 1 "$op" "$run" ;;
                esac
                continue
            fi
            case "$op" in
                get-file)
                    measure 1 "$who" "$op" "$run" "$BIG_BYTES" 0 -- run_client "$who" get "$T/local/got.bin" big.bin
                    check_size "$T/local/got.bin" "$BIG_BYTES"
                    [ "$run" = 1 ] && { cmp -s "$T/local/got.bin" "$T/srv/big.bin" || die "$who get: content differs"; }
                    rm -f "$T/local/got.bin" ;;
                get-null)
                    measure 1 "$who" "$op" "$run" "$BIG_BYTES" 0 -- run_client "$who" get /dev/null big.bin ;;
                put-file)
                    measure 1 "$who" "$op" "$run" "$BIG_BYTES" 0 -- run_client "$who" put "$T/local/up.bin" "up-$who.bin"
                    check_size "$T/srv/up-$who.bin" "$BIG_BYTES"
                    [ "$run" = 1 ] && { cmp -s "$T/srv/up-$who.bin" "$T/local/up.bin" || die "$who put: content differs"; }
                    rm -f "$T/srv/up-$who.bin" ;;
                put-null)
                    # lftp only appends after a successful SIZE, which vsftpd refuses for a device;
                    # ringftpd refuses to open anything but regular files (by design).
                    case "$who" in lftp | ringftp | curl-ringftpd) continue ;; esac
                    measure 1 "$who" "$op" "$run" "$BIG_BYTES" 0 -- run_client "$who" put "$T/local/up.bin" devnull
                    [ -c "$T/srv/devnull" ] || die "$who put replaced the null device" ;;
            esac
        done
    done
done

fi

# ---------------------------------------------------------------------------------------------
# Case 2: get -r and put -r of many small files.
# ---------------------------------------------------------------------------------------------
# Cases 2, 6 and 9: get -r of the served small files and put -r of the local ones by each
# contender, every copy checked (its file count; in run 1 its content) and then moved aside,
# never deleted, until the temp dir goes at the end: right after thousands of deletions, ext4
# spends ~0.7 ms in every file creation skipping recently freed inodes (recently_deleted() in
# find_inode_bit, seen with perf), which would time the bench's own cleanup instead of the
# contenders (and, deleted at the end of one case, the first contenders of the next).
check_tree() { # copy original run
    check_count "$1" "$SMALL_N"
    [ "$3" = 1 ] || return 0
    diff -r "$1" "$2" >/dev/null || die "$1: content differs from $2"
}
small_files() { # case contenders...
    local c=$1 run op who dest
    shift
    mkdir -p "$T/trash"
    for run in $(seq "$RUNS"); do
        for op in get-r put-r; do
            for who in $(rotate "$run" "$@"); do
                skipped "$who" && continue
                case "$op" in
                    get-r)
                        dest="$T/local/got-small"
                        measure "$c" "$who" "$op" "$run" "$SMALL_BYTES" "$SMALL_N" -- run_client "$who" getr "$dest" small
                        check_tree "$dest" "$T/srv/small" "$run"
                        mv "$dest" "$T/trash/got-small$c-$who-$run" ;;
                    put-r)
                        dest="$T/srv/up-small$c-$who"
                        measure "$c" "$who" "$op" "$run" "$SMALL_BYTES" "$SMALL_N" -- run_client "$who" putr "$T/local/small" "up-small$c-$who"
                        check_tree "$dest" "$T/local/small" "$run"
                        mv "$dest" "$T/trash/up-small$c-$who-$run" ;;
                esac
            done
        done
    done
}
if want_case 2; then
C2=(ringftp sftp lftp)
log "case 2: $SMALL_N x $SMALL_KIB KiB get -r/put -r, $RUNS run(s)"
small_files 2 "${C2[@]}"

fi

# ---------------------------------------------------------------------------------------------
# Case 3: many clients at once, each downloading its own file (load generator).
# ---------------------------------------------------------------------------------------------
if want_case 3; then
log "case 3: $C3_CLIENTS clients x $C3_MIB MiB, $RUNS run(s)"
loadgen() { # contender port subcommand args...
    local who=$1 port=$2 sub=$3
    shift 3
    "$LOADGEN" "$sub" --addr "127.0.0.1:$port" --user "$BENCH_USER" --password-file "$T/etc/password" \
        --contender "$who" "$@" >>"$CSV" 2>"$T/log/loadgen.err" || { cat "$T/log/loadgen.err" >&2; servers_alive; die "ringftp-bench $sub $who failed"; }
}
for run in $(seq "$RUNS"); do
    for who in $(rotate "$run" ringftpd vsftpd); do
        skipped "$who" && continue
        port=$RING_PORT
        [ "$who" = vsftpd ] && port=$FTP_PORT
        loadgen "$who" "$port" download --run "$run" --clients "$C3_CLIENTS" --pattern 'c3/f{i}.bin' \
            --expect-bytes "$((C3_MIB * 1024 * 1024))" --op "get-${C3_CLIENTS}x${C3_MIB}MiB"
        log "  3 $who run $run: $(grep "^3,$who,.*,$run,mib_s," "$CSV" | cut -d, -f6) MiB/s"
    done
done

fi

# ---------------------------------------------------------------------------------------------
# Case 4: idle logged-in sessions (ringftpd restarted before each run, so memory starts clean).
# vsftpd is measured with fewer sessions: it forks two processes per session.
# ---------------------------------------------------------------------------------------------
if want_case 4; then
# A server that grows without bound must not take the machine down: stop opening sessions
# once it holds a third of the memory available now.
MEM_CAP_MIB=$(($(awk '/MemAvailable/ {print $2}' /proc/meminfo) / 1024 / 3))
log "case 4: $C4_SESSIONS idle sessions on ringftpd ($C4_VSFTPD on vsftpd), $RUNS run(s)"
for run in $(seq "$RUNS"); do
    if ! skipped ringftpd; then
        stop_ringftpd
        start_ringftpd
        loadgen ringftpd "$RING_PORT" idle --run "$run" --sessions "$C4_SESSIONS" --server-pid "$RINGFTPD_PID" \
            --op "idle-$C4_SESSIONS" --max-server-mib "$MEM_CAP_MIB"
        log "  4 ringftpd run $run: $(grep "^4,ringftpd,.*,$run,\(rss_per_session\|logins_per_s\|login_list_ms_median\)," "$CSV" | cut -d, -f5,6 | tr '\n' ' ')"
    fi
    skipped vsftpd && continue
    loadgen vsftpd "$FTP_PORT" idle --run "$run" --sessions "$C4_VSFTPD" --server-pid "$VSFTPD_PID" \
        --op "idle-$C4_VSFTPD" --max-server-mib "$MEM_CAP_MIB"
    log "  4 vsftpd run $run: $(grep "^4,vsftpd,.*,$run,\(pss_per_session\|logins_per_s\|login_list_ms_median\)," "$CSV" | cut -d, -f5,6 | tr '\n' ' ')"
done

fi

# ---------------------------------------------------------------------------------------------
# Case 5: one big file over several connections (segments), beside lftp pget -n 4 against the
# same server (ringftpd), ringftp over one connection, and dd writing the same bytes (put).
# ---------------------------------------------------------------------------------------------
if want_case 5; then
C5=(ringftp-par ringftp-1 lftp-pget dd)
log "case 5: ${BIG_MIB} MiB get/put over 4 connections, $RUNS run(s)"
for run in $(seq "$RUNS"); do
    for op in get-file put-file; do
        for who in $(rotate "$run" "${C5[@]}"); do
            skipped "$who" && continue
            case "$op:$who" in
                get-file:dd | put-file:lftp-pget) continue ;;
                get-file:*)
                    measure 5 "$who" "$op" "$run" "$BIG_BYTES" 0 -- run_client "$who" get "$T/local/got.bin" big.bin
                    check_size "$T/local/got.bin" "$BIG_BYTES"
                    [ "$run" = 1 ] && { cmp -s "$T/local/got.bin" "$T/srv/big.bin" || die "$who get: content differs"; }
                    rm -f "$T/local/got.bin" ;;
                put-file:*)
                    measure 5 "$who" "$op" "$run" "$BIG_BYTES" 0 -- run_client "$who" put "$T/local/up.bin" "up-$who.bin"
                    check_size "$T/srv/up-$who.bin" "$BIG_BYTES"
                    [ "$run" = 1 ] && { cmp -s "$T/srv/up-$who.bin" "$T/local/up.bin" || die "$who put: content differs"; }
                    rm -f "$T/srv/up-$who.bin" ;;
            esac
        done
    done
done
fi

# ---------------------------------------------------------------------------------------------
# Case 6: many small files with several in flight: ringftp (4 connections; block mode where
# the server has it, and --no-block-mode) against ringftpd and vsftpd, beside lftp
# mirror --parallel=4 against vsftpd.
# ---------------------------------------------------------------------------------------------
if want_case 6; then
C6=(ringftp-par ringftp-par-stream ringftp-par-vsftpd lftp-par)
log "case 6: $SMALL_N x $SMALL_KIB KiB get -r/put -r, 4 in flight, $RUNS run(s)"
small_files 6 "${C6[@]}"
fi

# ---------------------------------------------------------------------------------------------
# Case 7: one big file over FTPS (AUTH TLS, PROT P: ringftpd --tls required, so nothing moves in
# the clear) beside OpenSSH sftp with aes128-gcm, the same run, alternated. Target: >= 2x.
# ---------------------------------------------------------------------------------------------
# The FTPS server of cases 7 and 9.
if want_case 7 || want_case 9; then
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -days 2 \
    -keyout "$T/etc/tls-key.pem" -out "$T/etc/tls-cert.pem" 2>/dev/null || die "openssl req failed"
TLS_LOG="$T/log/server-tls.log"
"$RINGFTPD" serve --listen 127.0.0.1:0 --root "$T/srv" --users "$T/etc/server.users" \
    --idle-timeout 3600 --tls required --tls-cert "$T/etc/tls-cert.pem" --tls-key "$T/etc/tls-key.pem" 2>"$TLS_LOG" &
TLS_PID=$!
PIDS+=("$TLS_PID")
TLS_PORT=""
for _ in $(seq 100); do
    kill -0 "$TLS_PID" 2>/dev/null || { cat "$TLS_LOG" >&2; die "ringftpd --tls required exited at start"; }
    TLS_PORT="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TLS_LOG" | head -n1)"
    [ -n "$TLS_PORT" ] && break
    sleep 0.1
done
[ -n "$TLS_PORT" ] || die "ringftpd --tls required did not say 'listening on'; see $TLS_LOG"
fi
if want_case 7; then
C7=(ringftp-tls ringftp-tls-1 sftp-aes128gcm)
log "case 7: ${BIG_MIB} MiB get/put over TLS (ringftpd :$TLS_PORT), $RUNS run(s)"
for run in $(seq "$RUNS"); do
    for op in get-file put-file; do
        for who in $(rotate "$run" "${C7[@]}"); do
            skipped "$who" && continue
            case "$op" in
                get-file)
                    measure 7 "$who" "$op" "$run" "$BIG_BYTES" 0 -- run_client "$who" get "$T/local/got.bin" big.bin
                    check_size "$T/local/got.bin" "$BIG_BYTES"
                    [ "$run" = 1 ] && { cmp -s "$T/local/got.bin" "$T/srv/big.bin" || die "$who get: content differs"; }
                    rm -f "$T/local/got.bin" ;;
                put-file)
                    measure 7 "$who" "$op" "$run" "$BIG_BYTES" 0 -- run_client "$who" put "$T/local/up.bin" "up-$who.bin"
                    check_size "$T/srv/up-$who.bin" "$BIG_BYTES"
                    [ "$run" = 1 ] && { cmp -s "$T/srv/up-$who.bin" "$T/local/up.bin" || die "$who put: content differs"; }
                    rm -f "$T/srv/up-$who.bin" ;;
            esac
        done
    done
done
grep -q "^\[127.0.0.1\]:$TLS_PORT ECDSA SHA256:" "$T/etc/known_hosts" || die "case 7: the certificate was not recorded"
fi

# ---------------------------------------------------------------------------------------------
# Case 8: one file on S3. ringftpd with an S3 root (`--root s3://BUCKET`) on a local moto server
# (moto's S3 server mode from PyPI, started here), beside ringftpd on its local root in the same
# run, and beside curl straight to the S3 endpoint (GET/PUT of the same object) as the limit of
# the storage itself.
# ---------------------------------------------------------------------------------------------
if want_case 8; then
if ! python3 -c 'import moto.server, flask, flask_cors' 2>/dev/null; then
    log "installing moto[server] from PyPI"
    python3 -m pip install -q 'moto[server]>=5.0' || die "pip install moto[server] failed"
fi
S3_BYTES=$((S3_MIB * 1024 * 1024))
S3_BUCKET=ringbench
# Dummy credentials: moto accepts any. Only the S3 ringftpd and curl-s3 see them.
S3_KEY=ringbench-key
S3_SECRET=ringbench-secret
S3_SIGN=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEY:$S3_SECRET")
MOTO_PORT="$(free_port)"
python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$T/log/moto.log" 2>&1 &
PIDS+=($!)
wait_port "$MOTO_PORT" "${PIDS[-1]}" "moto (S3)"
S3_URL="http://127.0.0.1:$MOTO_PORT"
curl -sS --fail "${S3_SIGN[@]}" -X PUT "$S3_URL/$S3_BUCKET" -o /dev/null || die "case 8: cannot create the bucket"
head -c "$S3_BYTES" /dev/urandom >"$T/local/s3.bin"
cp "$T/local/s3.bin" "$T/srv/s3.bin"
chown "$BENCH_USER:" "$T/srv/s3.bin"
curl -sS --fail "${S3_SIGN[@]}" -T "$T/local/s3.bin" "$S3_URL/$S3_BUCKET/s3.bin" -o /dev/null || die "case 8: cannot seed the object"
S3FTP_LOG="$T/log/server-s3.log"
AWS_ACCESS_KEY_ID="$S3_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET" \
    "$RINGFTPD" serve --listen 127.0.0.1:0 --root "s3://$S3_BUCKET" --s3-endpoint "$S3_URL" --s3-region us-east-1 \
    --users "$T/etc/server.users" --idle-timeout 3600 --tls off 2>"$S3FTP_LOG" &
S3FTP_PID=$!
PIDS+=("$S3FTP_PID")
S3FTP_PORT=""
for _ in $(seq 100); do
    kill -0 "$S3FTP_PID" 2>/dev/null || { cat "$S3FTP_LOG" >&2; die "ringftpd --root s3://$S3_BUCKET exited at start"; }
    S3FTP_PORT="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$S3FTP_LOG" | head -n1)"
    [ -n "$S3FTP_PORT" ] && break
    sleep 0.1
done
[ -n "$S3FTP_PORT" ] || die "ringftpd on S3 did not say 'listening on'; see $S3FTP_LOG"
# The object as the S3 endpoint has it: its size (HEAD), and in run 1 its bytes against LOCAL.
s3_check() { # key local run
    local len
    len="$(curl -sS --fail "${S3_SIGN[@]}" -I "$S3_URL/$S3_BUCKET/$1" | tr -d '\r' | sed -n 's/^[Cc]ontent-[Ll]ength: //p')"
    [ "$len" = "$S3_BYTES" ] || die "case 8: s3://$S3_BUCKET/$1 has ${len:-no} bytes, expected $S3_BYTES"
    if [ "$3" = 1 ]; then
        curl -sS --fail "${S3_SIGN[@]}" -o "$T/local/s3-check.bin" "$S3_URL/$S3_BUCKET/$1"
        cmp -s "$T/local/s3-check.bin" "$2" || die "case 8: s3://$S3_BUCKET/$1: content differs"
        rm -f "$T/local/s3-check.bin"
    fi
}
C8=(ringftp-s3 ringftp-s3-1 curl-ringftpd-s3 ringftp curl-s3)
log "case 8: ${S3_MIB} MiB get/put on S3 (moto :$MOTO_PORT, ringftpd :$S3FTP_PORT), $RUNS run(s)"
for run in $(seq "$RUNS"); do
    for op in get-file put-file; do
        for who in $(rotate "$run" "${C8[@]}"); do
            skipped "$who" && continue
            case "$op" in
                get-file)
                    measure 8 "$who" "$op" "$run" "$S3_BYTES" 0 -- run_client "$who" get "$T/local/got.bin" s3.bin
                    check_size "$T/local/got.bin" "$S3_BYTES"
                    [ "$run" = 1 ] && { cmp -s "$T/local/got.bin" "$T/local/s3.bin" || die "$who get: content differs"; }
                    rm -f "$T/local/got.bin" ;;
                put-file)
                    measure 8 "$who" "$op" "$run" "$S3_BYTES" 0 -- run_client "$who" put "$T/local/s3.bin" "up-$who.bin"
                    if [ "$who" = ringftp ]; then
                        check_size "$T/srv/up-$who.bin" "$S3_BYTES"
                        [ "$run" = 1 ] && { cmp -s "$T/srv/up-$who.bin" "$T/local/s3.bin" || die "$who put: content differs"; }
                        rm -f "$T/srv/up-$who.bin"
                    else
                        s3_check "up-$who.bin" "$T/local/s3.bin" "$run"
                        # moto keeps every object in memory: drop it before the next one.
                        curl -sS --fail "${S3_SIGN[@]}" -X DELETE "$S3_URL/$S3_BUCKET/up-$who.bin" -o /dev/null
                    fi ;;
            esac
        done
    done
done
fi

# ---------------------------------------------------------------------------------------------
# Case 9: many small files over FTPS (PROT P), 4 in flight: ringftp with block mode (one TLS
# data connection per worker, kept) and without it (a handshake per file), beside lftp
# mirror --parallel=4 over FTPS against the same ringftpd, and sftp aes128-gcm.
# ---------------------------------------------------------------------------------------------
if want_case 9; then
C9=(ringftp-tls ringftp-tls-stream lftp-tls-par sftp-aes128gcm)
log "case 9: $SMALL_N x $SMALL_KIB KiB get -r/put -r over TLS (ringftpd :$TLS_PORT), $RUNS run(s)"
small_files 9 "${C9[@]}"
fi

# ---------------------------------------------------------------------------------------------
# Summary.
# ---------------------------------------------------------------------------------------------
{
    echo "skipped=${SKIP//,/ }"
    echo "cases=${CASES:-all}"
    echo "mode=$MODE runs=$RUNS big_mib=$BIG_MIB small_n=$SMALL_N small_kib=$SMALL_KIB c3_clients=$C3_CLIENTS c3_mib=$C3_MIB c4_sessions=$C4_SESSIONS c4_vsftpd=$C4_VSFTPD s3_mib=$S3_MIB"
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host=$HOST"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) x $(nproc)"
    echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    echo "load=1/5/15-min load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "fs=$(df -T "$T" | awk 'NR==2 {print $2" on "$1}')"
    echo "commit=${BENCH_COMMIT:-$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
    echo "openssh=$(ssh -V 2>&1)"
    echo "vsftpd=$(dpkg-query -W -f='${Version}' vsftpd 2>/dev/null || echo unknown)"
    echo "curl=$(curl --version | head -n1 | cut -d' ' -f1-2)"
    echo "lftp=$(lftp --version | head -n1)"
    echo "iperf3=$(iperf3 --version | head -n1)"
    echo "moto=$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo none)"
} >"$OUT/machine.txt"
python3 "$REPO/bench/summarize.py" "$OUT"
log "results: $OUT/summary.md, $OUT/results.csv, $OUT/chart.svg"
cat "$OUT/summary.md"
