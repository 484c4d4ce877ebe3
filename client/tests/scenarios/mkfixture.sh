#!/usr/bin/env bash
# Builds the scenario fixture: the remote tree (served by sshd/sftp-server when
# recording the reference, by ringftpd or vsftpd when testing ringftp) and the
# local tree (the client's working directory). Both the recorder
# (client/tests/reference/record.sh) and the pytest harness (tests/client/)
# call this same script, so the trees are identical byte for byte, mode for
# mode and mtime for mtime.
#
# usage: mkfixture.sh REMOTE_DIR LOCAL_DIR   (both must exist and be empty)
#
# Remote tree                       Local tree
#   a.txt        "alpha\n"            up1.txt      "upload one\n"
#   b.txt        "bravo two\n"        up2.txt      "upload two\n"
#   c.log        "charlie\n"          notes.md     "# notes\n"
#   space name.txt                    partial.bin  = remote partial.bin, full
#   .hidden      "secret\n"           big.bin      1000-byte head of remote big.bin
#   .hrc         "rc\n"               ldir/x.txt, ldir/deep/y.txt
#   big.bin      `seq 1 60000` (348894 B) ltarget/  (empty dir)
#   partial.bin  1000-byte head of the local one (local: `seq 100000 140000`)
#   dir/one.txt, dir/sub/two.txt
#   empty/       (empty dir)
#   target/      (empty dir)
#
# Every file is 0644, every directory 0755, every mtime 2023-11-23 22:53:00
# local time (old enough that `ls -l` prints the year, so the dates are stable
# and compared verbatim). The top directories themselves are left alone: the
# recorder needs the remote top owned by root with mode 0755 for ChrootDirectory.
set -euo pipefail

if [[ $# -ne 2 || ! -d $1 || ! -d $2 ]]; then
    echo "usage: $0 REMOTE_DIR LOCAL_DIR" >&2
    exit 2
fi
R=$1
L=$2
STAMP='2023-11-23 22:53:00'

# Remote.
printf 'alpha\n' >"$R/a.txt"
printf 'bravo two\n' >"$R/b.txt"
printf 'charlie\n' >"$R/c.log"
printf 'a name with a space\n' >"$R/space name.txt"
printf 'secret\n' >"$R/.hidden"
printf 'rc\n' >"$R/.hrc"
seq 1 60000 >"$R/big.bin"
mkdir "$R/dir" "$R/dir/sub" "$R/empty" "$R/target"
printf 'one\n' >"$R/dir/one.txt"
printf 'two\n' >"$R/dir/sub/two.txt"

# Local.
printf 'upload one\n' >"$L/up1.txt"
printf 'upload two\n' >"$L/up2.txt"
printf '# notes\n' >"$L/notes.md"
seq 100000 140000 >"$L/partial.bin"
head -c 1000 "$L/partial.bin" >"$R/partial.bin"
head -c 1000 "$R/big.bin" >"$L/big.bin"
mkdir "$L/ldir" "$L/ldir/deep" "$L/ltarget"
printf 'x\n' >"$L/ldir/x.txt"
printf 'y\n' >"$L/ldir/deep/y.txt"

for top in "$R" "$L"; do
    find "$top" -mindepth 1 -type f -exec chmod 0644 {} +
    find "$top" -mindepth 1 -type d -exec chmod 0755 {} +
    # Children before parents, so creating nothing afterwards keeps the stamps.
    find "$top" -mindepth 1 -depth -exec touch -h -d "$STAMP" {} +
done
