//! The command line: `ringftpd [serve] [FLAGS]`, `ringftpd user add|del|list|passwd`
//! and `ringftpd fingerprint`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::config::{default_users_file, ServeArgs};
use crate::users::{generate_password, hash_password, valid_name, User, UserDb, UsersError};

/// An FTP server for Linux on io_uring with zero-copy transfers.
#[derive(Debug, clap::Parser)]
#[command(
    name = "ringftpd",
    version,
    about,
    long_about = "An FTP server for Linux on io_uring with zero-copy (splice) transfers.\n\n\
        Without a subcommand it serves, like `ringftpd serve`. On the first start without a\n\
        users file it creates one user and prints the password once.",
    after_help = "Examples:\n  \
        ringftpd --root ~/ftp                      serve ~/ftp on port 2121\n  \
        sudo ringftpd                              serve /srv/ftp on port 21\n  \
        ringftpd user add alice --home alice       add a user confined to <root>/alice\n  \
        ringftpd serve --config /etc/ringftpd/ringftpd.toml",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The subcommands. `Serve` is large, but it is parsed once per process.
#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Serve files (the default)
    Serve(ServeArgs),
    /// Manage the users file
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Print the fingerprint of the TLS certificate the server uses
    Fingerprint(FingerprintArgs),
}

/// Which certificate `ringftpd fingerprint` shows: as `serve` would find it.
#[derive(Debug, Clone, clap::Args)]
pub struct FingerprintArgs {
    /// The settings file serve reads (its tls_cert, or its users file's directory)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The users file; the self-signed certificate is beside it [default: as for serve]
    #[arg(long, value_name = "FILE", env = "RINGFTPD_USERS")]
    pub users: Option<PathBuf>,
    /// This certificate (PEM)
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
}

/// `ringftpd fingerprint`: prints `BITS SHA256:... PATH (TYPE)` as
/// `ssh-keygen -l -f` does. Exit 1 when there is no certificate yet, 2 when
/// it cannot be read.
pub fn run_fingerprint(args: &FingerprintArgs) -> i32 {
    let path = match crate::config::Config::certificate_path(
        args.config.as_deref(),
        args.users.as_deref(),
        args.tls_cert.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ringftpd: {e}");
            return 2;
        }
    };
    if matches!(std::fs::symlink_metadata(&path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    {
        eprintln!(
            "ringftpd: no TLS certificate at {} yet: `ringftpd serve` makes it on its first start",
            path.display()
        );
        return 1;
    }
    match crate::cert::host_key_of_file(&path) {
        Ok((key, bits)) => {
            let bits = bits.map_or_else(|| "?".to_string(), |b| b.to_string());
            println!(
                "{bits} {} {} ({})",
                key.fingerprint,
                path.display(),
                key.key_type
            );
            0
        }
        Err(e) => {
            eprintln!("ringftpd: {e}");
            2
        }
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum UserAction {
    /// Add a user (asks for the password twice)
    Add {
        /// 1-32 characters from A-Z a-z 0-9 . _ -
        name: String,
        /// The users file [default: as for serve]
        #[arg(long, value_name = "FILE", env = "RINGFTPD_USERS")]
        users: Option<PathBuf>,
        /// Read the password from one line of standard input
        #[arg(long)]
        password_stdin: bool,
        /// Home directory relative to the served root (the user is confined to it)
        #[arg(long, value_name = "DIR")]
        home: Option<String>,
        /// The user may read but never change anything
        #[arg(long)]
        read_only: bool,
    },
    /// Delete a user
    Del {
        name: String,
        /// The users file [default: as for serve]
        #[arg(long, value_name = "FILE", env = "RINGFTPD_USERS")]
        users: Option<PathBuf>,
    },
    /// List users: name, home, rw|ro
    List {
        /// The users file [default: as for serve]
        #[arg(long, value_name = "FILE", env = "RINGFTPD_USERS")]
        users: Option<PathBuf>,
    },
    /// Change a user's password
    Passwd {
        name: String,
        /// The users file [default: as for serve]
        #[arg(long, value_name = "FILE", env = "RINGFTPD_USERS")]
        users: Option<PathBuf>,
        /// Read the password from one line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
}

/// How a `user` subcommand failed: the message, and 1 (refused) or 2 (usage / I/O).
struct Failure(i32, String);

impl From<UsersError> for Failure {
    fn from(e: UsersError) -> Failure {
        let code = match e {
            UsersError::Duplicate(_) | UsersError::NotFound(_) => 1,
            _ => 2,
        };
        Failure(code, e.to_string())
    }
}

/// Runs a `user` subcommand; returns the process exit code (0 ok, 1 refused, e.g. the user
/// exists, 2 usage or I/O error), printing one line to stderr on error. The password comes
/// from the terminal without echo, asked twice, or with `--password-stdin` from one line of
/// standard input (trailing newline stripped; an empty password is refused).
pub fn run_user(action: &UserAction) -> i32 {
    match user_action(action) {
        Ok(()) => 0,
        Err(Failure(code, msg)) => {
            eprintln!("ringftpd: {msg}");
            code
        }
    }
}

fn users_path(users: &Option<PathBuf>) -> PathBuf {
    users.clone().unwrap_or_else(default_users_file)
}

/// The database in `path`, or an empty one when the file does not exist yet.
fn load_or_new(path: &Path) -> Result<UserDb, UsersError> {
    match UserDb::load(path) {
        Err(UsersError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(UserDb::new())
        }
        other => other,
    }
}

fn user_action(action: &UserAction) -> Result<(), Failure> {
    match action {
        UserAction::Add {
            name,
            users,
            password_stdin,
            home,
            read_only,
        } => {
            let path = users_path(users);
            if !valid_name(name) {
                return Err(UsersError::BadName(name.clone()).into());
            }
            let mut db = load_or_new(&path)?;
            if db.get(name).is_some() {
                return Err(UsersError::Duplicate(name.clone()).into());
            }
            let password = read_password(*password_stdin)?;
            let phc = hash_password(&password)?;
            db.add(User {
                name: name.clone(),
                password: phc,
                home: home.clone(),
                read_only: *read_only,
            })?;
            db.save(&path)?;
            println!("added user '{name}' to {}", path.display());
            Ok(())
        }
        UserAction::Del { name, users } => {
            let path = users_path(users);
            let mut db = UserDb::load(&path)?;
            db.remove(name)?;
            db.save(&path)?;
            println!("deleted user '{name}' from {}", path.display());
            Ok(())
        }
        UserAction::List { users } => {
            let db = UserDb::load(&users_path(users))?;
            for u in db.users() {
                let home = u.home.as_deref().unwrap_or(".");
                let access = if u.read_only { "ro" } else { "rw" };
                println!("{}\t{home}\t{access}", u.name);
            }
            Ok(())
        }
        UserAction::Passwd {
            name,
            users,
            password_stdin,
        } => {
            let path = users_path(users);
            let mut db = UserDb::load(&path)?;
            if db.get(name).is_none() {
                return Err(UsersError::NotFound(name.clone()).into());
            }
            let password = read_password(*password_stdin)?;
            db.set_password(name, hash_password(&password)?)?;
            db.save(&path)?;
            println!("changed the password of '{name}'");
            Ok(())
        }
    }
}

fn read_password(from_stdin: bool) -> Result<String, Failure> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure(2, format!("cannot read the password from stdin: {e}")))?;
        strip_newline(line)
    } else {
        let io = |e: std::io::Error| Failure(2, format!("cannot read the password: {e}"));
        let first = rpassword::prompt_password("Password: ").map_err(io)?;
        let second = rpassword::prompt_password("Retype password: ").map_err(io)?;
        if first != second {
            return Err(Failure(1, "Passwords do not match.".to_string()));
        }
        first
    };
    if password.is_empty() {
        return Err(Failure(1, "empty password refused".to_string()));
    }
    Ok(password)
}

fn strip_newline(mut line: String) -> String {
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    line
}

/// First start with no users file: creates one user (named `$SUDO_USER`, else `$USER`, else
/// `ftp`; `ftp` too when that name is invalid) with a generated password, saves the file
/// (0600) and returns (name, password) so that `main` can print it once. `None` when the file
/// already exists. Never creates a user without a password.
pub fn bootstrap_users(path: &Path) -> Result<Option<(String, String)>, UsersError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(UsersError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    let name = ["SUDO_USER", "USER"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|n| !n.is_empty())
        .filter(|n| valid_name(n))
        .unwrap_or_else(|| "ftp".to_string());
    let password = generate_password();
    let mut db = UserDb::new();
    db.add(User {
        name: name.clone(),
        password: hash_password(&password)?,
        home: None,
        read_only: false,
    })?;
    db.save(path)?;
    tracing::info!(user = %name, file = %path.display(), "created the first user");
    Ok(Some((name, password)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bare_flags_mean_serve() {
        let cli =
            Cli::try_parse_from(["ringftpd", "--root", "/tmp", "--listen", "127.0.0.1:0"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.root.as_deref(), Some(Path::new("/tmp")));
        assert_eq!(cli.serve.listen, vec!["127.0.0.1:0".parse().unwrap()]);
        let cli = Cli::try_parse_from([
            "ringftpd",
            "serve",
            "--listen",
            "127.0.0.1:1",
            "--listen",
            "[::1]:2",
            "--passive-ports",
            "50000-50010",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.listen.len(), 2);
        assert_eq!(args.passive_ports, Some(50000..=50010));
        assert!(Cli::try_parse_from(["ringftpd", "--passive-ports", "80-90"]).is_err());
        assert!(Cli::try_parse_from(["ringftpd", "--root", "/x", "user", "list"]).is_err());
    }

    #[test]
    fn user_subcommands_parse() {
        let cli = Cli::try_parse_from([
            "ringftpd",
            "user",
            "add",
            "carol",
            "--users",
            "/tmp/u.toml",
            "--password-stdin",
            "--home",
            "alice",
            "--read-only",
        ])
        .unwrap();
        match cli.command {
            Some(Command::User {
                action:
                    UserAction::Add {
                        name,
                        users,
                        password_stdin,
                        home,
                        read_only,
                    },
            }) => {
                assert_eq!(name, "carol");
                assert_eq!(users, Some(PathBuf::from("/tmp/u.toml")));
                assert!(password_stdin && read_only);
                assert_eq!(home.as_deref(), Some("alice"));
            }
            other => panic!("{other:?}"),
        }
        for sub in [
            &["del", "x"][..],
            &["list"],
            &["passwd", "x", "--password-stdin"],
        ] {
            let mut argv = vec!["ringftpd", "user"];
            argv.extend_from_slice(sub);
            assert!(Cli::try_parse_from(argv).is_ok(), "{sub:?}");
        }
    }

    #[test]
    fn list_and_del_through_run_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let mut db = UserDb::new();
        db.add(User {
            name: "alice".into(),
            password: hash_password("pw").unwrap(),
            home: None,
            read_only: false,
        })
        .unwrap();
        db.save(&path).unwrap();
        let users = Some(path.clone());
        let del = |name: &str| {
            run_user(&UserAction::Del {
                name: name.into(),
                users: users.clone(),
            })
        };
        assert_eq!(del("nobody"), 1);
        assert_eq!(del("alice"), 0);
        assert!(UserDb::load(&path).unwrap().is_empty());
        let missing = Some(dir.path().join("none.toml"));
        assert_eq!(run_user(&UserAction::List { users: missing }), 2);
        assert_eq!(
            run_user(&UserAction::Add {
                name: "-bad".into(),
                users: users.clone(),
                password_stdin: true,
                home: None,
                read_only: false
            }),
            2
        );
    }

    #[test]
    fn bootstrap_creates_one_user_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/users.toml");
        let (name, password) = bootstrap_users(&path).unwrap().unwrap();
        assert!(valid_name(&name));
        assert_eq!(password.len(), 20);
        let db = UserDb::load(&path).unwrap();
        assert_eq!(db.len(), 1);
        assert!(db.verify(&name, &password).is_some());
        assert!(db.verify(&name, "").is_none());
        assert_eq!(bootstrap_users(&path).unwrap(), None);
    }

    #[test]
    fn newline_stripping() {
        assert_eq!(strip_newline("pw\n".into()), "pw");
        assert_eq!(strip_newline("pw\r\n".into()), "pw");
        assert_eq!(strip_newline("pw".into()), "pw");
        assert_eq!(strip_newline(" pw \n\n".into()), " pw \n");
    }
}
