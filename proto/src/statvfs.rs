//! The text of a `SITE STATVFS` reply (213): filesystem totals for sftp's
//! `df`, which FTP's AVBL (free bytes only) cannot give. Fields mirror
//! statvfs(3) and OpenSSH's statvfs@openssh.com reply:
//! `frsize=4096 blocks=100 bfree=40 bavail=30 files=10 ffree=5 favail=5`.

/// Filesystem statistics, in statvfs(3) units (`blocks` of `frsize` bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsStats {
    pub frsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub favail: u64,
}

impl FsStats {
    /// The reply text.
    pub fn encode(&self) -> String {
        format!(
            "frsize={} blocks={} bfree={} bavail={} files={} ffree={} favail={}",
            self.frsize, self.blocks, self.bfree, self.bavail, self.files, self.ffree, self.favail
        )
    }

    /// Parses a reply text; unknown keys are ignored, and every field above
    /// must be present.
    pub fn parse(text: &str) -> Option<FsStats> {
        let mut s = FsStats::default();
        let mut seen = 0u8;
        for word in text.split_whitespace() {
            let Some((k, v)) = word.split_once('=') else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else {
                return None;
            };
            let (slot, bit) = match k.to_ascii_lowercase().as_str() {
                "frsize" => (&mut s.frsize, 0),
                "blocks" => (&mut s.blocks, 1),
                "bfree" => (&mut s.bfree, 2),
                "bavail" => (&mut s.bavail, 3),
                "files" => (&mut s.files, 4),
                "ffree" => (&mut s.ffree, 5),
                "favail" => (&mut s.favail, 6),
                _ => continue,
            };
            *slot = v;
            seen |= 1 << bit;
        }
        (seen == 0x7f).then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = FsStats {
            frsize: 4096,
            blocks: 1 << 30,
            bfree: 12345,
            bavail: 1234,
            files: 99,
            ffree: 9,
            favail: 8,
        };
        assert_eq!(FsStats::parse(&s.encode()), Some(s));
        assert_eq!(FsStats::parse(&format!("x=1 {} y", s.encode())), Some(s));
    }

    #[test]
    fn incomplete_or_garbage() {
        assert_eq!(FsStats::parse(""), None);
        assert_eq!(FsStats::parse("frsize=4096 blocks=1"), None);
        assert_eq!(
            FsStats::parse("frsize=x blocks=1 bfree=1 bavail=1 files=1 ffree=1 favail=1"),
            None
        );
    }
}
