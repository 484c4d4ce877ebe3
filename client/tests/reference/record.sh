#!/usr/bin/env bash
# Records the reference behaviour of the real OpenSSH sftp for every scenario
# in client/tests/scenarios/*.sftp, so the ringftp tests (tests/client/) can
# compare ringftp's output with it. Anyone can re-run it to regenerate:
#
#     client/tests/reference/record.sh [SCENARIO_NAME...]
#
# It starts a PRIVATE sshd on a free loopback port with its own sshd_config,
# host key and user key in a temp dir (nothing system-wide changes, except that
# sshd insists on its privilege-separation directory /run/sshd, created empty
# if missing, as the Debian package does). The user is the current user. When
# run as root the session is confined with ChrootDirectory to the remote tree,
# so sftp sees the tree at "/" exactly as an FTP client sees the server root;
# this is how the committed references were made. As another user there is no
# chroot: sftp starts in the tree through `host:DIR` and the tree prefix is
# rewritten to "/" by normalize.py (good enough for a look, not canonical).
#
# Scenario kinds, by file name:
#   NAME.sftp        `sftp -b NAME.sftp`        (batch mode)
#   stdin_NAME.sftp  `sftp < NAME.sftp`         (commands piped, not batch mode)
#   pty_NAME.sftp    typed on a terminal by pty_run.py, then Ctrl-D
#   argv_NAME.sftp   one line of arguments replacing the destination, with
#                    @HOST@ for user@127.0.0.1 (`sftp @HOST@:a.txt`), stdin empty
# Each run starts from a fresh fixture (scenarios/mkfixture.sh) with the local
# tree as the working directory. Results:
#   reference/NAME.out   [stdout] ... [stderr] ... [exit N] (or [terminal] for pty
#                        runs), normalised by normalize.py
#   reference/NAME.tree  the remote and local trees afterwards (normalize.py --tree)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${REF_OUT:-$HERE}   # where NAME.out/NAME.tree go (tests set it to a temp dir)
SCEN=$(cd "$HERE/../scenarios" && pwd)
SSHD=${SSHD:-/usr/sbin/sshd}
SFTP=${SFTP:-sftp}
export LC_ALL=C TZ=UTC TERM=xterm

for tool in "$SSHD" "$SFTP" ssh-keygen python3; do
    command -v "$tool" >/dev/null || { echo "record.sh: $tool not found" >&2; exit 2; }
done
python3 -c 'import pexpect' 2>/dev/null || { echo "record.sh: python3 pexpect missing" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringftp-rec.XXXXXX")
SSHD_PID=
cleanup() {
    if [[ -n $SSHD_PID ]]; then kill "$SSHD_PID" 2>/dev/null || true; wait "$SSHD_PID" 2>/dev/null || true; fi
    if [[ -n ${BASE:-} && -d ${BASE:-} ]]; then rm -rf "$BASE"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

USER_NAME=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
    # ChrootDirectory wants every path component owned by root and not
    # writable by group or others, so not under /tmp (mode 1777).
    BASE=$(mktemp -d /run/ringftp-ref.XXXXXX)
    CHROOT=yes
    mkdir -p /run/sshd
else
    BASE=$WORK/trees
    mkdir "$BASE"
    CHROOT=no
    echo "record.sh: not root, recording without chroot (references will not be canonical)" >&2
fi
R=$BASE/remote
L=$BASE/local

ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/user_key"
cp "$WORK/user_key.pub" "$WORK/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat >"$WORK/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $PORT
HostKey $WORK/host_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers $USER_NAME
PrintMotd no
Subsystem sftp internal-sftp
LogLevel VERBOSE
CFG
if [[ $CHROOT == yes ]]; then
    printf 'ChrootDirectory %s\nForceCommand internal-sftp\n' "$R" >>"$WORK/sshd_config"
fi

"$SSHD" -t -f "$WORK/sshd_config"
"$SSHD" -D -f "$WORK/sshd_config" -E "$WORK/sshd.log" &
SSHD_PID=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    kill -0 "$SSHD_PID" 2>/dev/null || { cat "$WORK/sshd.log" >&2; exit 1; }
    sleep 0.1
done

SFTP_ARGS=(-F /dev/null -P "$PORT" -i "$WORK/user_key"
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o LogLevel=ERROR -o IdentitiesOnly=yes -o BatchMode=yes)
DEST=$USER_NAME@127.0.0.1
NORM_ARGS=(--local "$L")
if [[ $CHROOT == no ]]; then
    DEST=$DEST:$R
    NORM_ARGS+=(--remote "$R")
fi

fresh_fixture() {
    rm -rf "$R" "$L"
    mkdir -m 0755 "$R" "$L"
    "$SCEN/mkfixture.sh" "$R" "$L"
}

if [[ $# -gt 0 ]]; then
    files=()
    for n in "$@"; do files+=("$SCEN/${n%.sftp}.sftp"); done
else
    files=("$SCEN"/*.sftp)
fi

status=0
for file in "${files[@]}"; do
    name=$(basename "$file" .sftp)
    fresh_fixture
    raw=$WORK/$name.raw
    set +e
    case $name in
    pty_*)
        (cd "$L" && python3 "$HERE/pty_run.py" "$file" -- "$SFTP" "${SFTP_ARGS[@]}" "$DEST") >"$raw.term" 2>&1
        rc=$?
        streams=("terminal=$raw.term")
        ;;
    argv_*)
        # One line: the destination argument(s), @HOST@ standing for user@127.0.0.1.
        read -r -a extra <"$file"
        extra=("${extra[@]//@HOST@/$DEST}")
        (cd "$L" && "$SFTP" "${SFTP_ARGS[@]}" "${extra[@]}" </dev/null) >"$raw.out" 2>"$raw.err"
        rc=$?
        streams=("stdout=$raw.out" "stderr=$raw.err")
        ;;
    stdin_*)
        (cd "$L" && "$SFTP" "${SFTP_ARGS[@]}" "$DEST" <"$file") >"$raw.out" 2>"$raw.err"
        rc=$?
        streams=("stdout=$raw.out" "stderr=$raw.err")
        ;;
    *)
        (cd "$L" && "$SFTP" "${SFTP_ARGS[@]}" -b "$file" "$DEST" </dev/null) >"$raw.out" 2>"$raw.err"
        rc=$?
        streams=("stdout=$raw.out" "stderr=$raw.err")
        ;;
    esac
    set -e
    python3 "$HERE/normalize.py" "${NORM_ARGS[@]}" --exit "$rc" --doc "${streams[@]}" >"$OUT/$name.out"
    python3 "$HERE/normalize.py" --tree "$R" "$L" >"$OUT/$name.tree"
    if [[ -n ${KEEP_RAW:-} ]]; then cp "$raw".* "$OUT/"; fi
    echo "recorded $name (exit $rc)"
done

if grep -q 'fatal\|error:' "$WORK/sshd.log"; then
    echo "record.sh: sshd log has errors:" >&2
    cat "$WORK/sshd.log" >&2
    status=1
fi
exit $status
