//! Server memory from `/proc`: `VmRSS` and `RssAnon` of a process, and the same summed (with
//! `Pss`) over the process and all its descendants, for servers that fork per session (vsftpd).

use std::fs;

/// Memory of a process tree, in KiB (as `/proc` reports it).
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeMem {
    /// Number of processes in the tree.
    pub procs: u64,
    /// Sum of `VmRSS`.
    pub rss_kib: u64,
    /// Sum of `RssAnon` (heap, stacks, anonymous mappings: what sessions allocate).
    pub anon_kib: u64,
    /// Sum of `Pss` (shared pages divided among the processes that map them).
    pub pss_kib: u64,
}

/// Reads one `Name:   123 kB` field of a `/proc` file.
fn field_kib(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The parent PID from `/proc/PID/stat` (field 4, after the parenthesised command name).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.get(stat.rfind(')')? + 1..)?;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and every live descendant.
fn tree(pid: u32) -> Vec<u32> {
    let mut all: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            if let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                if let Some(pp) = parent_of(p) {
                    all.push((p, pp));
                }
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while let Some(&cur) = out.get(i) {
        out.extend(all.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    out
}

/// Memory of `pid` and its descendants; processes that vanish while reading are skipped.
pub fn tree_mem(pid: u32) -> TreeMem {
    let mut m = TreeMem::default();
    for p in tree(pid) {
        let Ok(status) = fs::read_to_string(format!("/proc/{p}/status")) else {
            continue;
        };
        m.procs += 1;
        m.rss_kib += field_kib(&status, "VmRSS").unwrap_or(0);
        m.anon_kib += field_kib(&status, "RssAnon").unwrap_or(0);
        let rollup = fs::read_to_string(format!("/proc/{p}/smaps_rollup")).unwrap_or_default();
        m.pss_kib += field_kib(&rollup, "Pss").unwrap_or(0);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory() {
        let m = tree_mem(std::process::id());
        assert!(m.procs >= 1);
        assert!(m.rss_kib > 0);
        assert!(m.pss_kib > 0);
    }

    #[test]
    fn parses_fields() {
        let t = "Name:\tx\nVmRSS:\t  1234 kB\nRssAnon:\t 56 kB\n";
        assert_eq!(field_kib(t, "VmRSS"), Some(1234));
        assert_eq!(field_kib(t, "RssAnon"), Some(56));
        assert_eq!(field_kib(t, "Pss"), None);
    }

    #[test]
    fn sees_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let t = tree(std::process::id());
        assert!(t.contains(&child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
