#!/bin/sh
# Start a private vsftpd on 127.0.0.1 for trying ringftp against a standard
# FTP server. Usage: client/scripts/vsftpd.sh [USER [PASSWORD]]
# Creates the local user (root only) if needed, writes a config into a temp
# dir, runs vsftpd in the foreground and prints "PORT <port> PID <pid> DIR <dir>".
# Stop it with: kill <pid>
set -eu
user=${1:-ringtest}
pass=${2:-ringpass}
if ! id "$user" >/dev/null 2>&1; then
    useradd -m -s /bin/sh "$user"
fi
echo "$user:$pass" | chpasswd
dir=$(mktemp -d /tmp/ringftp-vsftpd.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pmin=$(python3 -c 'import random; print(random.randint(40000,50000))')
mkdir -p "$dir/empty"
cat >"$dir/vsftpd.conf" <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=$port
background=NO
local_enable=YES
write_enable=YES
local_umask=022
anonymous_enable=NO
pasv_enable=YES
pasv_min_port=$pmin
pasv_max_port=$((pmin + 50))
seccomp_sandbox=NO
secure_chroot_dir=$dir/empty
pam_service_name=vsftpd
text_userdb_names=YES
force_dot_files=YES
xferlog_enable=NO
vsftpd_log_file=$dir/vsftpd.log
CONF
vsftpd "$dir/vsftpd.conf" &
pid=$!
sleep 0.3
echo "PORT $port PID $pid DIR $dir"
