#!/usr/bin/env bash
# Build ringftpd and start it with working defaults, on a fresh Ubuntu/Debian machine.
#
#   ./scripts/serve.sh              # as a user: port 2121, serves ~/ftp
#   sudo ./scripts/serve.sh         # as root:   port 21,   serves /srv/ftp
#   ./scripts/serve.sh --help       # any ringftpd flags are passed through
#
# The first start creates one user and prints its password once.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v cc >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential curl ca-certificates
fi
if ! command -v cargo >/dev/null 2>&1; then
    if [ -f "$HOME/.cargo/env" ]; then
        . "$HOME/.cargo/env"
    else
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        . "$HOME/.cargo/env"
    fi
fi

cargo build --release --locked -p ringftpd

args=("$@")
if [ ${#args[@]} -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    mkdir -p "$HOME/ftp"
    args=(--root "$HOME/ftp")
fi
exec ./target/release/ringftpd "${args[@]}"
