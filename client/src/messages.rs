//! Every user-visible message, worded exactly as OpenSSH 9.2 `sftp` words it.
//!
//! Keeping them in one place makes it easy to compare against the recorded
//! reference output (`client/tests/reference/`). Functions return owned
//! strings so callers print them with `eprintln!`/`println!` unchanged.

/// The text of `help`: sftp 9.2's layout, commands and words, except where sftp's text would
/// promise what FTP cannot do (chgrp, chown, copy/cp, ln, symlink, version): those say what
/// the command does over FTP (the reference comparison hides exactly these, rule H1 of
/// client/tests/reference/normalize.py).
pub const HELP: &str = "Available commands:
bye                                Quit sftp
cd path                            Change remote directory to 'path'
chgrp [-h] grp path                Change group of file 'path' to 'grp'
                                   (SITE CHGRP; most FTP servers refuse it)
chmod [-h] mode path               Change permissions of file 'path' to 'mode'
chown [-h] own path                Change owner of file 'path' to 'own'
                                   (SITE CHOWN; most FTP servers refuse it)
copy oldpath newpath               Copy remote file (FTP has no copy: fails)
cp oldpath newpath                 Copy remote file (FTP has no copy: fails)
df [-hi] [path]                    Display statistics for current directory or
                                   filesystem containing 'path'
exit                               Quit sftp
get [-afpR] remote [local]         Download file
help                               Display this help text
lcd path                           Change local directory to 'path'
lls [ls-options [path]]            Display local directory listing
lmkdir path                        Create local directory
ln [-s] oldpath newpath            Symlink remote file with -s (SITE SYMLINK);
                                   FTP has no hard links
lpwd                               Print local working directory
ls [-1afhlnrSt] [path]             Display remote directory listing
lumask umask                       Set local umask to 'umask'
mkdir path                         Create remote directory
progress                           Toggle display of progress meter
put [-afpR] local [remote]         Upload file
pwd                                Display remote working directory
quit                               Quit sftp
reget [-fpR] remote [local]        Resume download file
rename oldpath newpath             Rename remote file
reput [-fpR] local [remote]        Resume upload file
rm path                            Delete remote file
rmdir path                         Remove remote directory
symlink oldpath newpath            Symlink remote file (SITE SYMLINK)
version                            Print sftp's version line, for scripts
                                   (the connection is FTP)
!command                           Execute 'command' in local shell
!                                  Escape to local shell
?                                  Synonym for help
";

/// The prompt.
pub const PROMPT: &str = "sftp> ";

/// `version`: sftp prints the SFTP protocol version. We keep the exact line
/// because scripts parse it (see the report in the README of the client).
pub const VERSION: &str = "SFTP protocol version 3";

/// Printed by the SIGINT handler while a command runs (sftp's cmd_interrupt).
pub const INTERRUPT: &[u8] = b"\rInterrupt  \n";

pub const INVALID_COMMAND: &str = "Invalid command.";
pub const UNTERMINATED_QUOTE: &str = "Unterminated quoted argument";
pub const TOO_MANY_ARGS: &str = "Too many arguments.";
pub const STRING_TOO_LONG: &str = "string too long";
pub const CONNECTION_CLOSED: &str = "Connection closed.";
pub const PERMISSION_DENIED_RETRY: &str = "Permission denied, please try again.";
pub const PROGRESS_ON: &str = "Progress meter enabled";
pub const PROGRESS_OFF: &str = "Progress meter disabled";
pub const NO_HARDLINK: &str = "Server does not support hardlink@openssh.com extension";
pub const NO_COPY: &str = "Server does not support copy-data extension";
pub const NO_STATVFS: &str = "Server does not support statvfs@openssh.com extension";
pub const NO_SYMLINK: &str = "This server does not support the symlink operation";
pub const CD_CANT_CHECK: &str = "Can't change directory: Can't check target";

pub fn invalid_flag(cmd: &str, flag: char) -> String {
    format!("{cmd}: Invalid flag -{flag}")
}
pub fn need_path(cmd: &str) -> String {
    format!("You must specify a path after a {cmd} command.")
}
pub fn need_one_path(cmd: &str) -> String {
    format!("You must specify at least one path after a {cmd} command.")
}
pub fn need_two_paths(cmd: &str) -> String {
    format!("You must specify two paths after a {cmd} command.")
}
pub fn need_numeric(cmd: &str) -> String {
    format!("You must supply a numeric argument to the {cmd} command.")
}
pub fn connected(host: &str) -> String {
    format!("Connected to {host}.")
}
pub fn password_prompt(user: &str, host: &str) -> String {
    format!("{user}@{host}'s password: ")
}
pub fn permission_denied_final(user: &str, host: &str) -> String {
    format!("{user}@{host}: Permission denied (password).")
}
pub fn changing_to(dir: &str) -> String {
    format!("Changing to: {dir}")
}
pub fn fetching(src: &str, dst: &str) -> String {
    format!("Fetching {src} to {dst}")
}
pub fn resuming(src: &str, dst: &str) -> String {
    format!("Resuming {src} to {dst}")
}
pub fn uploading(src: &str, dst: &str) -> String {
    format!("Uploading {src} to {dst}")
}
pub fn resuming_upload(src: &str, dst: &str) -> String {
    format!("Resuming upload of {src} to {dst}")
}
pub fn file_not_found(path: &str) -> String {
    format!("File \"{path}\" not found.")
}
pub fn multiple_get_not_dir(dst: &str) -> String {
    format!("Multiple source paths, but destination \"{dst}\" is not a directory")
}
pub fn multiple_put_not_dir(dst: &str) -> String {
    format!("Multiple paths match, but destination \"{dst}\" is not a directory")
}
pub fn stat_local(path: &str, err: &str) -> String {
    format!("stat {path}: {err}")
}
pub fn stat_remote(status: &str) -> String {
    format!("stat remote: {status}")
}
pub fn remote_open(path: &str, status: &str) -> String {
    format!("remote open \"{path}\": {status}")
}
pub fn open_local(path: &str, err: &str) -> String {
    format!("open local \"{path}\": {err}")
}
pub fn write_local(path: &str, err: &str) -> String {
    format!("write local \"{path}\": {err}")
}
pub fn read_remote(path: &str, status: &str) -> String {
    format!("read remote \"{path}\" : {status}")
}
pub fn write_remote(path: &str, status: &str) -> String {
    format!("write remote \"{path}\": {status}")
}
pub fn not_regular_download(path: &str) -> String {
    format!("download {path}: not a regular file")
}
pub fn not_regular_download_dir(path: &str) -> String {
    format!("download \"{path}\": not a regular file")
}
pub fn local_not_regular(path: &str) -> String {
    format!("local \"{path}\" is not a regular file")
}
pub fn resume_larger_local(path: &str) -> String {
    format!("Unable to resume download of \"{path}\": local file is larger than remote")
}
pub fn resume_upload_larger(path: &str) -> String {
    format!("resume \"{path}\": destination file same size or larger")
}
pub fn not_modified(path: &str) -> String {
    format!("File \"{path}\" was not modified")
}
pub fn local_chmod(path: &str, err: &str) -> String {
    format!("local chmod \"{path}\": {err}")
}
pub fn local_set_times(path: &str, err: &str) -> String {
    format!("local set times \"{path}\": {err}")
}
pub fn local_sync(path: &str, err: &str) -> String {
    format!("local sync \"{path}\": {err}")
}
pub fn retrieving(dir: &str) -> String {
    format!("Retrieving {dir}")
}
pub fn entering(dir: &str) -> String {
    format!("Entering {dir}")
}
pub fn max_depth(depth: usize) -> String {
    format!("Maximum directory depth exceeded: {depth} levels")
}
pub fn not_a_directory(path: &str) -> String {
    format!("\"{path}\" is not a directory")
}
pub fn exists_not_dir(path: &str) -> String {
    format!("\"{path}\" exists but is not a directory")
}
pub fn local_mkdir(path: &str, err: &str) -> String {
    format!("mkdir {path}: {err}")
}
pub fn remote_readdir_failed(path: &str) -> String {
    format!("remote readdir \"{path}\" failed")
}
pub fn download_failed(src: &str, dst: &str) -> String {
    format!("Download of file {src} to {dst} failed")
}
pub fn upload_failed(src: &str, dst: &str) -> String {
    format!("upload \"{src}\" to \"{dst}\" failed")
}
pub fn local_opendir(path: &str, err: &str) -> String {
    format!("local opendir \"{path}\": {err}")
}
pub fn local_not_regular_in_dir(name: &str) -> String {
    format!("{name}: not a regular file")
}
pub fn cant_ls_not_found(path: &str) -> String {
    format!("Can't ls: \"{path}\" not found")
}
pub fn couldnt_read_dir(status: &str) -> String {
    format!("Couldn't read directory: {status}")
}
pub fn cd_not_dir(path: &str) -> String {
    format!("Can't change directory: \"{path}\" is not a directory")
}
pub fn remote_working_dir(path: &str) -> String {
    format!("Remote working directory: {path}")
}
pub fn local_working_dir(path: &str) -> String {
    format!("Local working directory: {path}")
}
pub fn local_cwd_failed(err: &str) -> String {
    format!("Couldn't get local cwd: {err}")
}
pub fn lcd_failed(path: &str, err: &str) -> String {
    format!("Couldn't change local directory to \"{path}\": {err}")
}
pub fn lmkdir_failed(path: &str, err: &str) -> String {
    format!("Couldn't create local directory \"{path}\": {err}")
}
pub fn local_umask(mask: u32) -> String {
    format!("Local umask: {mask:03o}")
}
pub fn removing(path: &str) -> String {
    format!("Removing {path}")
}
pub fn remote_delete(path: &str, status: &str) -> String {
    format!("remote delete {path}: {status}")
}
pub fn remote_mkdir(path: &str, status: &str) -> String {
    format!("remote mkdir \"{path}\": {status}")
}
pub fn remote_rmdir(path: &str, status: &str) -> String {
    format!("remote rmdir \"{path}\": {status}")
}
pub fn remote_rename(old: &str, new: &str, status: &str) -> String {
    format!("remote rename \"{old}\" to \"{new}\": {status}")
}
pub fn remote_symlink(old: &str, new: &str, status: &str) -> String {
    format!("remote symlink file \"{old}\" to \"{new}\": {status}")
}
pub fn remote_setstat(path: &str, status: &str) -> String {
    format!("remote setstat \"{path}\": {status}")
}
pub fn changing_mode(path: &str) -> String {
    format!("Changing mode on {path}")
}
pub fn changing_owner(path: &str) -> String {
    format!("Changing owner on {path}")
}
pub fn changing_group(path: &str) -> String {
    format!("Changing group on {path}")
}
pub fn shell_status(code: i32) -> String {
    format!("Shell exited with status {code}")
}
pub const SHELL_ABNORMAL: &str = "Shell exited abnormally";
pub fn shell_exec_failed(shell: &str, err: &str) -> String {
    format!("Couldn't execute \"{shell}\": {err}")
}
pub fn connect_failed(host: &str, port: u16, err: &str) -> String {
    format!("ringftp: connect to host {host} port {port}: {err}")
}
pub fn resolve_failed(host: &str, err: &str) -> String {
    format!("ringftp: Could not resolve hostname {host}: {err}")
}
pub fn no_stat_info(path: &str) -> String {
    format!("no stat information for {path}")
}

// Host authenticity (ssh's sshconnect.c texts, OpenSSH 9.2), for the TLS
// certificate's key; see hostcheck.rs.

pub const HOST_KEY_FAILED: &str = "Host key verification failed.";
pub const NOT_KNOWN_BY_OTHER_NAMES: &str = "This key is not known by any other names.";
pub const KNOWN_BY_OTHER_NAMES: &str =
    "This host key is known by the following other names/addresses:";
pub const CONTINUE_CONNECTING: &str =
    "Are you sure you want to continue connecting (yes/no/[fingerprint])? ";
pub const TYPE_YES_NO_FP: &str = "Please type 'yes', 'no' or the fingerprint: ";
pub const PASSWORD_AUTH_DISABLED: &str =
    "Password authentication is disabled to avoid man-in-the-middle attacks.";

/// `'HOST (IP)'` as ssh shows it: `[ip]:port` beside `[host]:port`.
pub fn authenticity(host: &str, ip: &str) -> String {
    format!("The authenticity of host '{host} ({ip})' can't be established.")
}
pub fn key_fingerprint_is(kind: &str, fp: &str) -> String {
    format!("{kind} key fingerprint is {fp}.")
}
pub fn known_as(file: &str, line: usize, host: &str) -> String {
    format!("    {file}:{line}: {host}")
}
pub fn permanently_added(host: &str, kind: &str) -> String {
    format!("Warning: Permanently added '{host}' ({kind}) to the list of known hosts.")
}
pub fn add_failed(path: &str) -> String {
    format!("Failed to add the host to the list of known hosts ({path}).")
}
pub fn no_key_known_strict(kind: &str, host: &str) -> String {
    format!("No {kind} host key is known for {host} and you have requested strict checking.")
}
pub fn key_changed_strict(host: &str) -> String {
    format!("Host key for {host} has changed and you have requested strict checking.")
}
pub fn tls_gone_strict(host: &str) -> String {
    format!("TLS for {host} is gone and you have requested strict checking.")
}

const CHANGED_BANNER: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!";

/// How to remove line `line` of `file` (the file holds fingerprints, not
/// keys, so ssh-keygen -R cannot edit it).
fn remove_with(file: &str, line: usize) -> String {
    format!("  remove with:\n  sed -i '{line}d' \"{file}\"")
}

/// ssh's block for a key that is not the recorded one (without its last
/// "you have requested strict checking" line).
pub fn host_key_changed(kind: &str, fp: &str, file: &str, old_kind: &str, line: usize) -> String {
    format!(
        "{CHANGED_BANNER}\nIt is also possible that a host key has just been changed.\n\
         The fingerprint for the {kind} key sent by the remote host is\n{fp}.\n\
         Please contact your system administrator.\n\
         Add correct host key in {file} to get rid of this message.\n\
         Offending {old_kind} key in {file}:{line}\n{}",
        remove_with(file, line)
    )
}

/// The same block for a host that had TLS and now offers none (downgrade).
pub fn tls_downgrade(host: &str, file: &str, old_kind: &str, line: usize) -> String {
    format!(
        "{CHANGED_BANNER}\nIt is also possible that TLS has just been turned off on the server.\n\
         The remote host {host} no longer offers TLS; without it the password\n\
         and all files would travel in clear.\n\
         Please contact your system administrator.\n\
         If TLS was turned off on purpose, remove the host from {file}.\n\
         Offending {old_kind} key in {file}:{line}\n{}",
        remove_with(file, line)
    )
}

/// The one line for a server without TLS (never had it).
pub fn no_tls(host: &str) -> String {
    format!("Warning: {host} does not offer TLS; the password will be sent in clear.")
}
pub fn tls_failed(host: &str, err: &str) -> String {
    format!("ringftp: TLS handshake with {host} failed: {err}")
}
pub fn prot_refused(host: &str) -> String {
    format!("Warning: {host} refuses PROT P; file data will travel in clear.")
}
