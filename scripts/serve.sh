#!/usr/bin/env bash
# Build ringftpd and start it with working defaults, on Ubuntu/Debian.
#
#   ./scripts/serve.sh              # as a user: port 2121, serves ~/ftp
#   sudo ./scripts/serve.sh         # as root:   port 21,   serves /srv/ftp
#   ./scripts/serve.sh --listen 127.0.0.1:2121   # ringftpd flags pass through;
#                                   # only --root (or a --config with root =)
#                                   # replaces the served directory
#   ./scripts/serve.sh --yes        # install missing build tools without asking
#   ./scripts/serve.sh --dry-run    # say what would be installed and run, do nothing
#
# Without Rust >= the workspace's rust-version, it offers (and says exactly)
# what to install: the distribution's packages when they are new enough (apt),
# else rustup into ~/.cargo. Nothing is installed without a yes; offline it
# stops with a message. The first start creates one user and prints its
# password once.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'serve.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# version_ge A B: A >= B (dotted numbers)
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

yes=0 dry=0 args=()
for a in "$@"; do
    case "$a" in
        --yes) yes=1 ;;
        --dry-run) dry=1 ;;
        *) args+=("$a") ;;
    esac
done

need=$(sed -n 's/^rust-version = "\([0-9.]*\)"/\1/p' Cargo.toml)
[ -n "$need" ] || die "cannot read rust-version from Cargo.toml"

# The toolchain: cargo/rustc on PATH (or rustup's ~/.cargo/env), new enough.
CARGO=cargo
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    . "$HOME/.cargo/env"
fi
have_rust() {
    local rustc=${1:-rustc} v
    command -v "$rustc" >/dev/null 2>&1 || return 1
    v=$("$rustc" --version 2>/dev/null | awk '{print $2}')
    [ -n "$v" ] && version_ge "${v%%-*}" "$need"
}
# Versioned distribution packages (Ubuntu's rustc-1.85 with cargo-1.85) that are installed.
for r in $(compgen -c rustc-1. 2>/dev/null | sort -Vr | uniq); do
    if ! have_rust rustc && have_rust "$r" && command -v "cargo-${r#rustc-}" >/dev/null 2>&1; then
        CARGO="cargo-${r#rustc-}"
        export RUSTC="$r"
        break
    fi
done

# apt's candidate version of a package ("" if none), without the epoch and revision.
apt_candidate() {
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}' |
        sed -e 's/^[0-9]*://' -e 's/[-+~].*//' -e '/(none)/d'
}

confirm() {
    [ "$yes" -eq 1 ] && return 0
    if [ ! -t 0 ]; then
        die "not asking without a terminal: rerun with --yes to install it, or install it yourself"
    fi
    local answer
    read -r -p "serve.sh: go ahead? [y/N] " answer
    case "$answer" in y | Y | yes) return 0 ;; *) die "nothing installed" ;; esac
}

online() { curl --proto '=https' --tlsv1.2 -sSf --max-time 10 -o /dev/null "$1" 2>/dev/null; }

offline_help() {
    die "cannot reach $1: this machine looks offline. Install Rust >= $need and a C" \
        "compiler (build-essential) by other means, or build elsewhere and copy" \
        "target/release/ringftpd here (or install the .deb: docs/deploy.md)."
}

# Error-Mode=any: a failed download fails the update (apt >= 2.3; older apt
# ignores the option and only a broken archive fails).
apt_install() {
    as_root apt-get update -qq -o APT::Update::Error-Mode=any ||
        offline_help "the package archive (apt-get update failed)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" ||
        die "apt-get install $* failed"
}

install_toolchain() {
    local found="none" pkgs=() pick="" best=""
    command -v rustc >/dev/null 2>&1 && found=$(rustc --version | awk '{print $2}')
    say "ringftpd needs Rust >= $need (found: $found)."
    command -v cc >/dev/null 2>&1 || pkgs+=(build-essential)
    command -v curl >/dev/null 2>&1 || pkgs+=(curl ca-certificates)
    if command -v apt-cache >/dev/null 2>&1; then
        local v
        v=$(apt_candidate rustc)
        if [ -n "$v" ] && version_ge "$v" "$need"; then pick="cargo rustc" best=$v; fi
        # Ubuntu ships newer compilers as rustc-1.NN / cargo-1.NN.
        for p in $(apt-cache pkgnames rustc-1. 2>/dev/null | grep -E '^rustc-1\.[0-9]+$' | sort -Vr); do
            v=${p#rustc-}
            if version_ge "$v" "$need" && { [ -z "$best" ] || version_ge "$v" "$best"; }; then
                pick="cargo-$v rustc-$v" best=$v
            fi
            break
        done
    fi
    if [ -n "$pick" ]; then
        # shellcheck disable=SC2206
        pkgs+=($pick)
        say "will install with apt-get (as root): ${pkgs[*]}"
        [ "$dry" -eq 1 ] && return 0
        confirm
        apt_install "${pkgs[@]}"
        case "$pick" in cargo-*) CARGO="cargo-$best" && export RUSTC="rustc-$best" ;; esac
        return 0
    fi
    if [ ${#pkgs[@]} -gt 0 ]; then
        say "will install with apt-get (as root): ${pkgs[*]}"
    fi
    say "the distribution has no Rust >= $need; will install rustup's stable toolchain" \
        "(minimal profile) into $HOME/.cargo and $HOME/.rustup, from https://sh.rustup.rs"
    [ "$dry" -eq 1 ] && return 0
    confirm
    online https://sh.rustup.rs || offline_help https://sh.rustup.rs
    [ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"
    local installer
    installer=$(mktemp)
    trap 'rm -f "$installer"' EXIT
    curl --proto '=https' --tlsv1.2 -sSf --max-time 120 -o "$installer" https://sh.rustup.rs ||
        offline_help https://sh.rustup.rs
    sh "$installer" -y --profile minimal --default-toolchain stable
    . "$HOME/.cargo/env"
    CARGO=cargo
}

toolchain_ok() {
    command -v cc >/dev/null 2>&1 || return 1
    command -v "$CARGO" >/dev/null 2>&1 || return 1
    have_rust "${RUSTC:-rustc}"
}
toolchain_ok || install_toolchain

# The served directory: only the user's --root (or a --config that sets root)
# replaces the default, and `user ...` takes no root at all.
root_given=0 config=""
prev=""
for a in "${args[@]}"; do
    case "$a" in
        --root | --root=*) root_given=1 ;;
        --config=*) config=${a#--config=} ;;
    esac
    [ "$prev" = --config ] && config=$a
    prev=$a
done
if [ -n "$config" ] && grep -Eq '^[[:space:]]*root[[:space:]]*=' "$config" 2>/dev/null; then
    root_given=1
fi
first=${args[0]:-}
if [ "$root_given" -eq 0 ] && [ "$first" != user ] && [ "$(id -u)" -ne 0 ]; then
    args+=(--root "$HOME/ftp")
    [ "$dry" -eq 1 ] || mkdir -p "$HOME/ftp"
fi

if [ "$dry" -eq 1 ]; then
    say "would build: $CARGO build --release --locked -p ringftpd"
    say "would run: ./target/release/ringftpd ${args[*]}"
    exit 0
fi
"$CARGO" build --release --locked -p ringftpd
exec ./target/release/ringftpd "${args[@]}"
