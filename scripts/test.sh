#!/usr/bin/env bash
# Run every test: formatting, lints, unit and integration tests, a quick bench run
# and the black-box suites (Python ftplib, curl, lftp, pexpect, OpenSSH sftp).
# Needs: cargo, python3 with pytest and pexpect, curl, lftp, vsftpd, sshd, haproxy
# (`.ci/run` installs them on Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo build"
cargo build --workspace --bins --locked
step "cargo test"
cargo test --workspace --locked
if [ -x bench/compare_sftp.sh ]; then
    step "bench --quick (proves the bench runs; asserts nothing about speed)"
    bench/compare_sftp.sh --quick
fi
# Last, so that its summary line ("N passed") closes the output.
step "black-box tests (pytest)"
python3 -m pytest tests -q -p no:cacheprovider
