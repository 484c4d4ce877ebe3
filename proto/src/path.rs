//! Virtual paths: what the client sees, always absolute, `/` being the user's root.
//!
//! [`normalize`] resolves an argument against the current directory with chroot semantics
//! (`..` at the root stays at the root). The server then opens the result beneath its root
//! directory handle (openat2 with RESOLVE_BENEATH), so symlinks cannot escape either; this module
//! only guarantees the string has no `.`/`..`/empty components.

/// Why a path argument was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path contains a NUL byte.
    #[error("path contains a NUL byte")]
    Nul,
    /// The path is empty.
    #[error("empty path")]
    Empty,
}

/// Resolves `arg` against the absolute virtual `cwd` (`"/"` or `"/a/b"`).
///
/// The result is absolute, starts with `/`, has no `.` or `..` components, no empty components
/// (`//`) and no trailing slash (except `"/"` itself). `..` at the root stays at the root.
/// An empty `arg` is [`PathError::Empty`]; a NUL in either is [`PathError::Nul`].
pub fn normalize(cwd: &str, arg: &str) -> Result<String, PathError> {
    if arg.contains('\0') || cwd.contains('\0') {
        return Err(PathError::Nul);
    }
    if arg.is_empty() {
        return Err(PathError::Empty);
    }
    let mut parts: Vec<&str> = Vec::new();
    let base = if arg.starts_with('/') { "" } else { cwd };
    for comp in base.split('/').chain(arg.split('/')) {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    let mut out = String::with_capacity(base.len() + arg.len() + 1);
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// The path relative to the root, for `openat` beneath the root handle: `"/a/b"` -> `"a/b"`,
/// `"/"` -> `"."`.
pub fn to_relative(abs: &str) -> &str {
    let rel = abs.trim_start_matches('/');
    if rel.is_empty() {
        "."
    } else {
        rel
    }
}

/// The parent of a normalised path: `"/a/b"` -> `"/a"`, `"/a"` -> `"/"`, `"/"` -> `"/"`.
pub fn parent(abs: &str) -> &str {
    match abs.rfind('/') {
        Some(0) | None => "/",
        Some(i) => abs.get(..i).unwrap_or("/"),
    }
}

/// The last component of a normalised path: `"/a/b"` -> `Some("b")`, `"/"` -> `None`.
pub fn file_name(abs: &str) -> Option<&str> {
    let name = match abs.rfind('/') {
        Some(i) => abs.get(i + 1..)?,
        None => abs,
    };
    (!name.is_empty()).then_some(name)
}

/// Joins an absolute directory and one name, without normalising: `("/a", "b")` -> `"/a/b"`,
/// `("/", "b")` -> `"/b"`.
pub fn join(dir: &str, name: &str) -> String {
    let mut out = String::with_capacity(dir.len() + name.len() + 1);
    out.push_str(dir);
    if !dir.ends_with('/') {
        out.push('/');
    }
    out.push_str(name);
    out
}

/// A path for a 257 reply (RFC 959 Appendix II): in double quotes, inner quotes doubled.
/// `/a"b` -> `"/a""b"`.
pub fn quote_257(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

/// Reads the path back from a 257 reply text (`"\"/a\"\"b\" created"` -> `/a"b`).
/// `None` when there is no complete quoted path.
pub fn parse_257(text: &str) -> Option<String> {
    let start = text.find('"')?;
    let mut chars = text.get(start + 1..)?.chars().peekable();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.next_if_eq(&'"').is_some() {
                out.push('"');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(cwd: &str, arg: &str) -> String {
        normalize(cwd, arg).unwrap()
    }

    #[test]
    fn relative_and_absolute() {
        assert_eq!(n("/", "a"), "/a");
        assert_eq!(n("/a/b", "c"), "/a/b/c");
        assert_eq!(n("/a/b", "/c"), "/c");
        assert_eq!(n("/a/b", "/"), "/");
        assert_eq!(n("/", "a b/ c "), "/a b/ c ");
        assert_eq!(n("/ä", "日本"), "/ä/日本");
    }

    #[test]
    fn dots() {
        assert_eq!(n("/a/b", "."), "/a/b");
        assert_eq!(n("/a/b", ".."), "/a");
        assert_eq!(n("/a/b", "../.."), "/");
        assert_eq!(n("/a/b", "./c/./d"), "/a/b/c/d");
        assert_eq!(n("/a/b", "c/../d"), "/a/b/d");
        assert_eq!(n("/", "..."), "/...");
        assert_eq!(n("/", "..a"), "/..a");
    }

    #[test]
    fn root_escapes_stay_at_root() {
        assert_eq!(n("/", ".."), "/");
        assert_eq!(n("/", "../../etc/passwd"), "/etc/passwd");
        assert_eq!(n("/a", "../../../b"), "/b");
        assert_eq!(n("/a", "/../.."), "/");
        assert_eq!(n("/", "a/../../.."), "/");
    }

    #[test]
    fn slashes() {
        assert_eq!(n("/", "a//b"), "/a/b");
        assert_eq!(n("/", "//a///b//"), "/a/b");
        assert_eq!(n("/a", "b/"), "/a/b");
        assert_eq!(n("/a/", "b"), "/a/b");
        assert_eq!(n("//a//", "."), "/a");
        assert_eq!(n("/", "///"), "/");
    }

    #[test]
    fn unnormalised_cwd_is_cleaned() {
        assert_eq!(n("/a/./b/../c", "d"), "/a/c/d");
        assert_eq!(n("", "x"), "/x");
    }

    #[test]
    fn errors() {
        assert_eq!(normalize("/", ""), Err(PathError::Empty));
        assert_eq!(normalize("/", "a\0b"), Err(PathError::Nul));
        assert_eq!(normalize("/\0", "a"), Err(PathError::Nul));
    }

    #[test]
    fn output_invariants() {
        for (cwd, arg) in [
            ("/", "x/./y/../../.."),
            ("/a/b", "..//./c/"),
            ("/", "./"),
            ("/q", "a/b/c/../../"),
        ] {
            let out = n(cwd, arg);
            assert!(out.starts_with('/'));
            assert!(out == "/" || !out.ends_with('/'));
            assert!(!out.contains("//"));
            assert!(out.split('/').all(|c| c != "." && c != ".."));
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(to_relative("/a/b"), "a/b");
        assert_eq!(to_relative("/"), ".");
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "/");
        assert_eq!(file_name("/a/b"), Some("b"));
        assert_eq!(file_name("/a"), Some("a"));
        assert_eq!(file_name("/"), None);
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(join("/", "b"), "/b");
        assert_eq!(join("/a", "b c"), "/a/b c");
    }

    #[test]
    fn quoting_257() {
        assert_eq!(quote_257("/a\"b"), "\"/a\"\"b\"");
        assert_eq!(quote_257("/"), "\"/\"");
        for p in ["/", "/a\"b", "/\"\"", "/sp ace", "/ünï", "/end\""] {
            assert_eq!(
                parse_257(&format!("{} is the current directory", quote_257(p))),
                Some(p.to_owned())
            );
        }
        assert_eq!(parse_257("257 \"/x\" created"), Some("/x".into()));
        assert_eq!(parse_257("\"/x\""), Some("/x".into()));
        assert_eq!(parse_257("no quotes"), None);
        assert_eq!(parse_257("\"unterminated"), None);
        assert_eq!(parse_257("\"ends in doubled\"\""), None);
    }

    /// Random paths (LCG): the invariants hold, the result is a fixed point, and it never
    /// climbs above the root.
    #[test]
    fn fuzz_normalize() {
        let mut state: u64 = 4242;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        let pieces = ["a", "b c", "..", ".", "/", "//", "ü", "...", "x/"];
        for _ in 0..20_000 {
            let mut gen =
                |n: usize| -> String { (0..n).map(|_| pieces[next() % pieces.len()]).collect() };
            let cwd = format!("/{}", gen(3));
            let arg = gen(6);
            let Ok(out) = normalize(&cwd, &arg) else {
                assert!(arg.is_empty());
                continue;
            };
            assert!(out.starts_with('/'), "{cwd} {arg} {out}");
            assert!(out == "/" || !out.ends_with('/'), "{out}");
            assert!(!out.contains("//"), "{out}");
            assert!(out.split('/').all(|c| c != "." && c != ".."), "{out}");
            assert_eq!(normalize("/", &out).as_deref(), Ok(out.as_str()));
            assert_eq!(normalize(&out, ".").as_deref(), Ok(out.as_str()));
            if let Some(name) = file_name(&out) {
                assert_eq!(join(parent(&out), name), out);
            } else {
                assert_eq!(out, "/");
            }
            assert!(!to_relative(&out).starts_with('/'));
        }
    }
}
