//! The users file and password checks.
//!
//! The file is TOML, one `[[user]]` table per account, passwords stored as argon2id PHC
//! strings. It is written atomically (temporary file in the same directory, fsync, rename)
//! with mode 0600:
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password = "$argon2id$v=19$m=9216,t=4,p=1$..."
//! home = "alice"        # optional, relative to the served root; default: the root itself
//! read_only = false     # optional
//! ```

use std::collections::BTreeMap;
use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// argon2id memory cost in KiB. With [`ARGON2_T`] and [`ARGON2_P`] this is one of OWASP's
/// equivalent argon2id configurations (m=9 MiB, t=4, p=1; "Password Storage Cheat Sheet").
/// Measured on the 2-core build machine (release build, one verification each):
///
/// | m (KiB) | t | time   |
/// |---------|---|--------|
/// | 47104   | 1 | 49 ms  |
/// | 19456   | 2 | 20 ms  |
/// | 12288   | 3 | 12.5 ms|
/// | 9216    | 4 | 12 ms  |
/// | 7168    | 5 | 11 ms  |
///
/// m=9216 t=4 costs about what the others cost, with more memory per guess than the 7 MiB
/// variant. On the bench machine later (another VM of the same kind) one check took 17.5 ms
/// with freshly allocated memory and 13.3 ms with it in huge pages, as `check` does now:
/// about 110 logins/s on two cores with everything else the server does (bench case 4).
/// Existing hashes keep the parameters they were made with (verification reads them from
/// the PHC string).
pub const ARGON2_M_KIB: u32 = 9_216;
/// argon2id iterations; see [`ARGON2_M_KIB`].
pub const ARGON2_T: u32 = 4;
/// argon2id lanes; see [`ARGON2_M_KIB`].
pub const ARGON2_P: u32 = 1;

/// One account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// The argon2id hash as a PHC string, never the password itself.
    pub password: String,
    /// The home directory relative to the served root; `None` is the root itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    #[serde(default)]
    pub read_only: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &"<argon2 hash>")
            .field("home", &self.home)
            .field("read_only", &self.read_only)
            .finish()
    }
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    user: Vec<User>,
}

/// Problems with the users file or an account in it.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("user '{0}' already exists")]
    Duplicate(String),
    #[error("no such user '{0}'")]
    NotFound(String),
    #[error("invalid user name '{0}': use 1-32 characters from A-Z a-z 0-9 . _ -, not starting with '-'")]
    BadName(String),
    #[error("invalid home directory '{0}': it must be relative to the served root, without '..'")]
    BadHome(String),
    #[error("user '{0}': the password is not an argon2 PHC string")]
    BadHash(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// All accounts, by name.
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    users: BTreeMap<String, User>,
    /// The hash unknown names are checked against when the file's accounts use other
    /// argon2 parameters than the current ones (see [`UserDb::verify`]).
    dummy: Option<String>,
}

/// 1-32 characters from `[A-Za-z0-9._-]`, not starting with `-`.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A home is a relative path without `..` components (`.` and "" mean the root).
fn valid_home(home: &str) -> bool {
    !home.starts_with('/') && !home.contains('\0') && home.split('/').all(|c| c != "..")
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> UsersError + '_ {
    move |source| UsersError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl UserDb {
    /// An empty database.
    pub fn new() -> UserDb {
        UserDb::default()
    }

    /// Reads and validates the users file.
    pub fn load(path: &Path) -> Result<UserDb, UsersError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.mode() & 0o077 != 0 {
                tracing::warn!(file = %path.display(), "users file is readable by others; chmod 600 it");
            }
        }
        let parsed: UsersFile = toml::from_str(&text).map_err(|e| UsersError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        let mut db = UserDb::new();
        for user in parsed.user {
            let name = user.name.clone();
            db.add(user).map_err(|e| UsersError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            if let Some(u) = db.users.get(&name) {
                if PasswordHash::new(&u.password).is_err() {
                    return Err(UsersError::Parse {
                        path: path.to_path_buf(),
                        message: UsersError::BadHash(name).to_string(),
                    });
                }
            }
        }
        // Make the dummy hash now, so the first unknown name does not take twice as long.
        db.dummy = db.dummy_for_file();
        let _ = dummy_hash();
        Ok(db)
    }

    /// Writes the file atomically with mode 0600, creating its directory (0700) if needed.
    /// A replaced file keeps its owner and group (`sudo ringftpd user add` on the
    /// service's file leaves it readable by the service user).
    pub fn save(&self, path: &Path) -> Result<(), UsersError> {
        let file = UsersFile {
            user: self.users.values().cloned().collect(),
        };
        let text = toml::to_string(&file).map_err(|e| UsersError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err(&dir))?;
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "users.toml".to_string());
        let tag: u64 = rand::thread_rng().gen();
        let tmp = dir.join(format!(".{base}.tmp-{tag:016x}"));
        let write = || -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            if let Ok(old) = std::fs::metadata(path) {
                let new = f.metadata()?;
                if (old.uid(), old.gid()) != (new.uid(), new.gid()) {
                    // Only root may give a file away; others keep the old
                    // behaviour (the new file is theirs).
                    let _ = std::os::unix::fs::fchown(&f, Some(old.uid()), Some(old.gid()));
                }
            }
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            // Make the rename itself durable.
            std::fs::File::open(&dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            UsersError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        })
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Every account, sorted by name.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Adds an account; the name must be valid and new, the home relative.
    pub fn add(&mut self, mut user: User) -> Result<(), UsersError> {
        if !valid_name(&user.name) {
            return Err(UsersError::BadName(user.name));
        }
        if let Some(h) = &user.home {
            if !valid_home(h) {
                return Err(UsersError::BadHome(h.clone()));
            }
            let trimmed = h.trim_matches('/');
            user.home = if trimmed.is_empty() || trimmed == "." {
                None
            } else {
                Some(trimmed.to_string())
            };
        }
        if self.users.contains_key(&user.name) {
            return Err(UsersError::Duplicate(user.name));
        }
        self.users.insert(user.name.clone(), user);
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<(), UsersError> {
        self.users
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| UsersError::NotFound(name.to_string()))
    }

    /// Replaces the stored hash (`phc` must already be a PHC string, from [`hash_password`]).
    pub fn set_password(&mut self, name: &str, phc: String) -> Result<(), UsersError> {
        if PasswordHash::new(&phc).is_err() {
            return Err(UsersError::BadHash(name.to_string()));
        }
        let user = self
            .users
            .get_mut(name)
            .ok_or_else(|| UsersError::NotFound(name.to_string()))?;
        user.password = phc;
        Ok(())
    }

    /// Checks a login; BLOCKING (argon2, about 13 ms on the bench machine). An unknown name
    /// is checked against a dummy hash through the same `check`, so the time taken does not
    /// reveal which names exist: the dummy has the argon2 parameters most accounts of the
    /// file have (the current ones unless the file says otherwise), since the cost of a
    /// check is the cost of its parameters.
    pub fn verify(&self, name: &str, password: &str) -> Option<User> {
        match self.users.get(name) {
            Some(user) => check(&user.password, password).then(|| user.clone()),
            None => {
                let dummy: Option<&str> = match &self.dummy {
                    Some(d) => Some(d),
                    None => dummy_hash(),
                };
                if let Some(dummy) = dummy {
                    let _ = check(dummy, password);
                }
                None
            }
        }
    }

    /// A dummy hash with the parameters (algorithm, version, m, t, p, output length) most
    /// accounts share, when those are not the current ones; `None` otherwise.
    fn dummy_for_file(&self) -> Option<String> {
        let mut counts: BTreeMap<String, (usize, &str)> = BTreeMap::new();
        for u in self.users.values() {
            let Some(key) = cost_key(&u.password) else {
                continue;
            };
            counts.entry(key).or_insert((0, &u.password)).0 += 1;
        }
        let (key, (_, phc)) = counts.into_iter().max_by_key(|(_, (n, _))| *n)?;
        if Some(key) == dummy_hash().and_then(cost_key) {
            return None;
        }
        let hash = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&hash).ok()?;
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(algorithm, version, params)
            .hash_password(generate_password().as_bytes(), &salt)
            .map(|h| h.to_string())
            .ok()
    }
}

fn check(phc: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    // The parameters come from the hash itself.
    match check_in_huge_pages(&hash, password) {
        Some(ok) => ok,
        None => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
    }
}

/// argon2's verification with its working memory (9 MiB with the current parameters) in
/// transparent huge pages. The plain path allocates it per check, and the kernel then
/// faults in and zeroes some 2,300 small pages: about a quarter of a login's CPU time on
/// the bench machine (17.5 ms -> 13.3 ms per check), which decides how many logins per
/// second two cores can take. Memory kept between checks would save the same, but would
/// stay resident for good. `None` when this path cannot be used (not argon2, or no memory
/// from mmap); the caller then verifies the plain way.
fn check_in_huge_pages(hash: &PasswordHash<'_>, password: &str) -> Option<bool> {
    let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(hash).ok()?;
    let expected = hash.hash?;
    let mut salt_buf = [0u8; 64];
    let salt = hash.salt?.decode_b64(&mut salt_buf).ok()?;
    let mut memory = HugeBlocks::new(params.block_count())?;
    let mut out = [0u8; 64];
    let out = out.get_mut(..expected.len())?;
    let ok = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, out, memory.blocks())
        .is_ok();
    // Output's comparison is constant-time.
    Some(ok && argon2::password_hash::Output::new(out).ok()? == expected)
}

/// Zeroed, 2 MiB-aligned anonymous memory for argon2's blocks, with `MADV_HUGEPAGE`;
/// unmapped on drop.
struct HugeBlocks {
    map: *mut libc::c_void,
    map_len: usize,
    blocks: *mut argon2::Block,
    count: usize,
}

impl HugeBlocks {
    const HUGE: usize = 2 << 20;

    fn new(count: usize) -> Option<HugeBlocks> {
        let bytes = count.checked_mul(std::mem::size_of::<argon2::Block>())?;
        if bytes == 0 {
            return None;
        }
        // One extra huge page of room to align the start.
        let map_len = bytes.div_ceil(Self::HUGE).checked_add(1)? * Self::HUGE;
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return None;
        }
        let skip = (Self::HUGE - (map as usize) % Self::HUGE) % Self::HUGE;
        // SAFETY: `skip` < HUGE and the mapping is `bytes` + at least HUGE long.
        let start = unsafe { map.cast::<u8>().add(skip) };
        // SAFETY: advice on memory inside our own mapping; failure only loses the speed-up.
        unsafe { libc::madvise(start.cast(), bytes, libc::MADV_HUGEPAGE) };
        Some(HugeBlocks {
            map,
            map_len,
            blocks: start.cast(),
            count,
        })
    }

    fn blocks(&mut self) -> &mut [argon2::Block] {
        // SAFETY: `blocks` is 2 MiB-aligned (more than Block's 64), `count` blocks long
        // inside the mapping, zeroed by the kernel (a valid Block: plain integers), and
        // borrowed mutably through `self` only.
        unsafe { std::slice::from_raw_parts_mut(self.blocks, self.count) }
    }
}

impl Drop for HugeBlocks {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing borrows any more.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

/// What decides the cost of checking a hash: everything but the salt and the hash value.
fn cost_key(phc: &str) -> Option<String> {
    let h = PasswordHash::new(phc).ok()?;
    Some(format!(
        "{}/{:?}/{}/{}",
        h.algorithm,
        h.version,
        h.params,
        h.hash.map_or(0, |o| o.len())
    ))
}

/// A hash of a random password with the current parameters, made once.
fn dummy_hash() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password(&generate_password()).ok())
        .as_deref()
}

fn hasher() -> Result<Argon2<'static>, UsersError> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None)
        .map_err(|e| UsersError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// argon2id with a random salt, as a PHC string; parameters: [`ARGON2_M_KIB`].
pub fn hash_password(password: &str) -> Result<String, UsersError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UsersError::Hash(e.to_string()))
}

/// Letters and digits that cannot be mistaken for each other (no 0/O, 1/l/I).
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// 20 characters from an unambiguous alphabet, from the OS random source (~116 bits).
pub fn generate_password() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| {
            let i = rng.gen_range(0..ALPHABET.len());
            char::from(ALPHABET.get(i).copied().unwrap_or(b'x'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn user(name: &str, pw: &str) -> User {
        User {
            name: name.to_string(),
            password: hash_password(pw).unwrap(),
            home: None,
            read_only: false,
        }
    }

    /// The huge-page path answers exactly what argon2's own verification answers, for the
    /// current parameters, other parameters, the other argon2 variants and wrong passwords.
    #[test]
    fn huge_page_check_agrees_with_argon2() {
        let mut phcs = vec![hash_password("right horse").unwrap()];
        for (alg, m, t) in [
            (Algorithm::Argon2id, 19_456, 2),
            (Algorithm::Argon2i, 4_096, 3),
            (Algorithm::Argon2d, 8, 1),
        ] {
            let salt = SaltString::generate(&mut OsRng);
            let params = Params::new(m, t, 1, Some(24)).unwrap();
            let phc = Argon2::new(alg, Version::V0x13, params)
                .hash_password(b"right horse", &salt)
                .unwrap()
                .to_string();
            phcs.push(phc);
        }
        for phc in &phcs {
            let hash = PasswordHash::new(phc).unwrap();
            for (pw, want) in [
                ("right horse", true),
                ("right hors", false),
                ("", false),
                ("right horse ", false),
            ] {
                let plain = Argon2::default()
                    .verify_password(pw.as_bytes(), &hash)
                    .is_ok();
                assert_eq!(plain, want, "{phc} {pw:?}");
                assert_eq!(check_in_huge_pages(&hash, pw), Some(want), "{phc} {pw:?}");
                assert_eq!(check(phc, pw), want, "{phc} {pw:?}");
            }
        }
        assert!(!check("$argon2id$v=19$m=9216,t=4,p=1$bm90IGEgaGFzaA", "x"));
        assert!(!check("not a phc string", "x"));
    }

    #[test]
    fn round_trip_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf/ringftpd/users.toml");
        let mut db = UserDb::new();
        db.add(user("alice", "wonderland")).unwrap();
        let mut bob = user("bob", "builder");
        bob.home = Some("bob/".to_string());
        bob.read_only = true;
        db.add(bob).unwrap();
        db.save(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let pmeta = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(pmeta.permissions().mode() & 0o777, 0o700);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("[[user]]"), "{text}");
        assert!(text.contains("$argon2id$v=19$m=9216,t=4,p=1$"), "{text}");
        assert!(!text.contains("wonderland"));
        let back = UserDb::load(&path).unwrap();
        let names: Vec<_> = back.users().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        let b = back.get("bob").unwrap();
        assert_eq!(b.home.as_deref(), Some("bob"));
        assert!(b.read_only);
        assert_eq!(back.get("alice").unwrap().home, None);
        // saving again over an existing file keeps 0600 and leaves no temporary files
        back.save(&path).unwrap();
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn verify_good_bad_unknown() {
        let mut db = UserDb::new();
        db.add(user("alice", "wonderland")).unwrap();
        let ok = db.verify("alice", "wonderland").unwrap();
        assert_eq!(ok.name, "alice");
        assert!(db.verify("alice", "Wonderland").is_none());
        assert!(db.verify("alice", "").is_none());
        assert!(db.verify("mallory", "wonderland").is_none());
        assert!(db.verify("", "").is_none());
        db.set_password("alice", hash_password("new").unwrap())
            .unwrap();
        assert!(db.verify("alice", "wonderland").is_none());
        assert!(db.verify("alice", "new").is_some());
        assert!(matches!(
            db.set_password("alice", "plain".to_string()),
            Err(UsersError::BadHash(_))
        ));
        assert!(matches!(
            db.set_password("nobody", hash_password("x").unwrap()),
            Err(UsersError::NotFound(_))
        ));
    }

    #[test]
    fn unknown_user_costs_like_a_known_one() {
        let mut db = UserDb::new();
        db.add(user("alice", "wonderland")).unwrap();
        let _ = db.verify("warmup", "x"); // builds the dummy hash
                                          // Interleaved, and the fastest of each kept, so other load does not decide.
        let once = |name: &str| {
            let t = std::time::Instant::now();
            let _ = db.verify(name, "wrong");
            t.elapsed()
        };
        let (mut known, mut unknown) = (std::time::Duration::MAX, std::time::Duration::MAX);
        for _ in 0..8 {
            known = known.min(once("alice"));
            unknown = unknown.min(once("mallory"));
        }
        // A skipped hash makes the ratio ~0.01; the wide band is for a loaded machine, where
        // a factor of 2 between two minima was seen (the statistical check over the network
        // is tests/server/test_srv_attack.py::test_login_time_same_for_existing_and_unknown_user).
        let ratio = unknown.as_secs_f64() / known.as_secs_f64();
        assert!(
            (0.25..4.0).contains(&ratio),
            "known {known:?} unknown {unknown:?}"
        );
    }

    /// Accounts made with other parameters (an older ringftpd, another tool): unknown names
    /// are checked against a dummy with those parameters, not the current ones.
    #[test]
    fn dummy_follows_the_files_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let mut db = UserDb::new();
        let old = |pw: &str| {
            let salt = SaltString::generate(&mut OsRng);
            let params = Params::new(19_456, 2, 1, None).unwrap();
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(pw.as_bytes(), &salt)
                .unwrap()
                .to_string()
        };
        for (name, phc) in [
            ("a", old("x")),
            ("b", old("y")),
            ("c", hash_password("z").unwrap()),
        ] {
            db.add(User {
                name: name.to_string(),
                password: phc,
                home: None,
                read_only: false,
            })
            .unwrap();
        }
        db.save(&path).unwrap();
        let back = UserDb::load(&path).unwrap();
        let dummy = back
            .dummy
            .as_deref()
            .expect("a dummy for the file's parameters");
        assert_eq!(cost_key(dummy), cost_key(&back.get("a").unwrap().password));
        assert!(back.verify("nobody", "x").is_none());
        assert!(back.verify("a", "x").is_some());
        // With the current parameters the shared dummy is used.
        let mut cur = UserDb::new();
        cur.add(user("d", "w")).unwrap();
        cur.save(&path).unwrap();
        assert!(UserDb::load(&path).unwrap().dummy.is_none());
        assert_eq!(
            dummy_hash().and_then(cost_key),
            cost_key(&cur.get("d").unwrap().password)
        );
    }

    #[test]
    fn names_duplicates_and_homes() {
        let mut db = UserDb::new();
        for bad in ["", "-x", "a b", "ä", "a/b", &"x".repeat(33), "a:b"] {
            assert!(
                matches!(db.add(user(bad, "p")), Err(UsersError::BadName(_))),
                "{bad:?}"
            );
        }
        for good in ["a", "A.b_c-d", &"x".repeat(32), "9lives", "x-"] {
            db.add(user(good, "p")).unwrap();
        }
        assert!(matches!(
            db.add(user("a", "p")),
            Err(UsersError::Duplicate(_))
        ));
        for bad in ["/abs", "../up", "a/../../b"] {
            let mut u = user("homer", "p");
            u.home = Some(bad.to_string());
            assert!(matches!(db.add(u), Err(UsersError::BadHome(_))), "{bad:?}");
        }
        db.remove("a").unwrap();
        assert!(matches!(db.remove("a"), Err(UsersError::NotFound(_))));
    }

    #[test]
    fn load_errors_name_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let missing = UserDb::load(&path).unwrap_err();
        assert!(matches!(missing, UsersError::Io { .. }));
        assert!(missing.to_string().contains("users.toml"));
        let hash = hash_password("p").unwrap();
        let cases = [
            ("[[user]]\nname = \"a\"\n", "password"),
            (
                &format!("[[user]]\nname = \"a\"\npassword = \"{hash}\"\nshell = \"x\"\n")[..],
                "shell",
            ),
            (
                &format!("[[user]]\nname = \"a\"\npassword = \"{hash}\"\n[[user]]\nname = \"a\"\npassword = \"{hash}\"\n")[..],
                "already exists",
            ),
            ("[[user]]\nname = \"a\"\npassword = \"hunter2\"\n", "PHC"),
            ("[[user]]\nname = \"-a\"\npassword = \"x\"\n", "invalid user name"),
            ("not toml [", ""),
        ];
        for (text, needle) in cases {
            std::fs::write(&path, text).unwrap();
            let e = UserDb::load(&path).unwrap_err();
            assert!(matches!(e, UsersError::Parse { .. }), "{e:?}");
            assert!(e.to_string().contains(needle), "{e} lacks {needle}");
        }
        std::fs::write(&path, "").unwrap();
        assert!(UserDb::load(&path).unwrap().is_empty());
    }

    #[test]
    fn generated_passwords() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert!(!a.contains(['0', 'O', '1', 'l', 'I']));
    }

    /// `sudo ringftpd user add` on the service's users file must leave it the
    /// service's. Needs root to give the file away; skipped otherwise.
    #[test]
    fn save_keeps_the_owner_of_a_replaced_file() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, "").unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let mut db = UserDb::load(&path).unwrap();
        db.add(User {
            name: "a".into(),
            password: hash_password("pw").unwrap(),
            home: None,
            read_only: false,
        })
        .unwrap();
        db.save(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(UserDb::load(&path).unwrap().len(), 1);
    }
}
