#!/usr/bin/env bash
# Build the Debian package: both binaries (release), the man pages and shell
# completions generated from their clap definitions (xtask), then cargo-deb.
#
#   ./scripts/deb.sh            # -> target/debian/ringftpd_VERSION-1_ARCH.deb
#
# Needs cargo-deb (`cargo install cargo-deb --locked`) and gzip.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "deb.sh: cargo-deb is not installed: cargo install cargo-deb --locked" >&2
    exit 2
fi
target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -p ringftpd -p ringftp
rm -rf "$target/release/dist"
cargo run --quiet --locked -p xtask -- dist "$target/release/dist" >/dev/null
gzip -9n "$target/release/dist"/man/*
cargo deb --locked -p ringftpd --no-build --strip --output "$target/debian/"
