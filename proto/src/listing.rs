//! Directory listings, both directions: `LIST` lines in the style of `ls -l` and `MLSx` fact lines
//! (RFC 3659 section 7), plus the `YYYYMMDDHHMMSS` time values of `MDTM`, `MFMT` and `modify=`.
//!
//! All times are unix seconds, UTC. The server formats [`FileInfo`] values; the client parses the
//! lines of any common server (vsftpd, pure-ftpd, proftpd, IIS's MS-DOS style, ours) back into them.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// What kind of directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FileKind {
    /// A regular file.
    #[default]
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A device, FIFO, socket or an unknown kind.
    Other,
}

/// One directory entry, as both listing formats describe it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FileInfo {
    /// The entry's name (not a path).
    pub name: String,
    /// File, directory, link or other.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, unix seconds UTC.
    pub mtime: i64,
    /// Permission bits only (`0o7777`), 0 when unknown.
    pub mode: u32,
    /// Hard link count, 0 when unknown.
    pub nlink: u64,
    /// Owner name, or the number as text.
    pub owner: String,
    /// Group name, or the number as text.
    pub group: String,
    /// Numeric owner, when known.
    pub uid: Option<u32>,
    /// Numeric group, when known.
    pub gid: Option<u32>,
    /// Where a symlink points, when known.
    pub link_target: Option<String>,
    /// RFC 3659 `perm` fact, e.g. `"adfrw"` or `"elcmp"`.
    pub perm: Option<String>,
}

/// Why a listing line or time value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    /// An MLSx line without a name after the facts.
    #[error("MLSx line has no name")]
    NoName,
    /// A known fact with a value that does not parse.
    #[error("bad value for fact {0:?}")]
    BadFact(String),
    /// Not a `YYYYMMDDHHMMSS[.sss]` time value, or not a real date.
    #[error("bad time value {0:?}")]
    BadTime(String),
}

/// Half a Gregorian year: older entries show the year instead of the time, as `ls -l` does.
const SIX_MONTHS: i64 = 31_556_952 / 2;

fn datetime(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn month_abbr(m: Month) -> &'static str {
    match m {
        Month::January => "Jan",
        Month::February => "Feb",
        Month::March => "Mar",
        Month::April => "Apr",
        Month::May => "May",
        Month::June => "Jun",
        Month::July => "Jul",
        Month::August => "Aug",
        Month::September => "Sep",
        Month::October => "Oct",
        Month::November => "Nov",
        Month::December => "Dec",
    }
}

fn month_from_abbr(s: &str) -> Option<Month> {
    const ALL: [Month; 12] = [
        Month::January,
        Month::February,
        Month::March,
        Month::April,
        Month::May,
        Month::June,
        Month::July,
        Month::August,
        Month::September,
        Month::October,
        Month::November,
        Month::December,
    ];
    ALL.into_iter()
        .find(|&m| month_abbr(m).eq_ignore_ascii_case(s))
}

/// Unix seconds for a UTC calendar time, `None` if it is not a real date.
fn to_unix(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<i64> {
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// `ls -l` type and permission column: `"drwxr-xr-x"`, with `s`/`S`, `t`/`T` for the special bits.
pub fn mode_string(kind: FileKind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(match kind {
        FileKind::File => '-',
        FileKind::Dir => 'd',
        FileKind::Symlink => 'l',
        FileKind::Other => '?',
    });
    let bit = |m: u32| mode & m != 0;
    // (read, write, exec, special bit, special char when exec set)
    let triples = [
        (0o400, 0o200, 0o100, 0o4000, 's'),
        (0o040, 0o020, 0o010, 0o2000, 's'),
        (0o004, 0o002, 0o001, 0o1000, 't'),
    ];
    for (r, w, x, special, ch) in triples {
        s.push(if bit(r) { 'r' } else { '-' });
        s.push(if bit(w) { 'w' } else { '-' });
        s.push(match (bit(x), bit(special)) {
            (true, true) => ch,
            (false, true) => ch.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// Reads the nine permission characters back into bits; `None` if they are not `ls` characters.
fn parse_perm_chars(p: &str) -> Option<u32> {
    if p.len() != 9 {
        return None;
    }
    let mut mode = 0;
    let specials = [0o4000, 0o2000, 0o1000];
    for (i, c) in p.chars().enumerate() {
        let shift = 8 - i as u32;
        let special = specials.get(i / 3).copied().unwrap_or(0);
        let bit = 1 << shift;
        match (i % 3, c) {
            (_, '-') => {}
            (0, 'r') | (1, 'w') | (2, 'x') => mode |= bit,
            (2, 's') if i < 8 => mode |= bit | special,
            (2, 'S') if i < 8 => mode |= special,
            (2, 't') if i == 8 => mode |= bit | special,
            (2, 'T') if i == 8 => mode |= special,
            // Mandatory locking shows as 'l' or 'L' in the group exec place on some systems.
            (2, 'l' | 'L') if i == 5 => {}
            _ => return None,
        }
    }
    Some(mode)
}

/// Replaces line ends so a name can never break a listing into two lines.
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\r', '\n']) {
        s.replace(['\r', '\n'], "?").into()
    } else {
        s.into()
    }
}

fn id_text(name: &str, id: Option<u32>) -> String {
    if !name.is_empty() {
        name.replace(' ', "_")
    } else if let Some(id) = id {
        id.to_string()
    } else {
        "ftp".to_owned()
    }
}

/// One `LIST` line like GNU `ls -l` and vsftpd, without CRLF:
/// `"-rw-r--r--    1 alice    alice        1234 Nov 23 22:53 name"`. The date shows `HH:MM`
/// within six months before `now` (never for future times), else `"Mon dd  YYYY"`. Symlinks end
/// in `"name -> target"`. UTC.
pub fn format_list_line(info: &FileInfo, now: i64) -> String {
    let t = datetime(info.mtime);
    let mon = month_abbr(t.month());
    let day = t.day();
    // GNU ls, vsftpd and OpenSSH sftp all show the year for future times.
    let recent = info.mtime > now.saturating_sub(SIX_MONTHS) && info.mtime <= now;
    let date = if recent {
        format!("{mon} {day:02} {:02}:{:02}", t.hour(), t.minute())
    } else {
        format!("{mon} {day:02} {:>5}", t.year())
    };
    let mut line = format!(
        "{} {:>4} {:<8} {:<8} {:>8} {date} {}",
        mode_string(info.kind, info.mode),
        info.nlink.max(1),
        id_text(&info.owner, info.uid),
        id_text(&info.group, info.gid),
        info.size,
        one_line(&info.name),
    );
    if info.kind == FileKind::Symlink {
        if let Some(target) = &info.link_target {
            line.push_str(" -> ");
            line.push_str(&one_line(target));
        }
    }
    line
}

/// Parses one `LIST` line: unix `ls -l` style from vsftpd, pure-ftpd, proftpd and ours (names with
/// spaces, `a -> b` symlinks, year or `HH:MM`, with or without the group column), or MS-DOS style
/// (`11-23-23  10:53PM  <DIR>  name`). `"total N"`, blank and unreadable lines give `None`.
/// `HH:MM` dates get the most recent year that is not in the future (by the wall clock).
pub fn parse_list_line(line: &str) -> Option<FileInfo> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    parse_list_line_at(line, now)
}

/// [`parse_list_line`] with an explicit "now" (unix seconds) for dating `HH:MM` entries.
pub fn parse_list_line_at(line: &str, now: i64) -> Option<FileInfo> {
    let line = line.trim_end_matches(['\r', '\n']);
    let first = line.split_whitespace().next()?;
    if first.eq_ignore_ascii_case("total") {
        return None;
    }
    if first.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return parse_dos(line);
    }
    parse_unix(line, now)
}

/// Whitespace-separated tokens with their byte offsets.
fn tokens(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, line.get(s..i).unwrap_or_default()));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, line.get(s..).unwrap_or_default()));
    }
    out
}

fn is_num(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_unix(line: &str, now: i64) -> Option<FileInfo> {
    let toks = tokens(line);
    let &(_, perms) = toks.first()?;
    let mut chars = perms.chars();
    let kind = match chars.next()? {
        '-' | 'f' => FileKind::File,
        'd' => FileKind::Dir,
        'l' => FileKind::Symlink,
        'p' | 's' | 'c' | 'b' | 'D' | 'n' | '?' => FileKind::Other,
        _ => return None,
    };
    let rest = chars.as_str();
    let perm9 = rest.get(..9)?;
    // ACL / extended attribute markers after the permissions.
    if !matches!(rest.get(9..)?, "" | "+" | "." | "@") {
        return None;
    }
    let mode = parse_perm_chars(perm9)?;

    // Find "size Mon dd HH:MM|YYYY".
    let date_at = (2..toks.len().saturating_sub(2)).find(|&i| {
        let tok = |j: usize| toks.get(j).map_or("", |t| t.1);
        is_num(tok(i - 1))
            && month_from_abbr(tok(i)).is_some()
            && is_num(tok(i + 1))
            && (is_num(tok(i + 2)) || tok(i + 2).contains(':'))
    })?;
    let tok = |j: usize| toks.get(j).map_or("", |t| t.1);
    let size: u64 = tok(date_at - 1).parse().ok()?;
    let month = month_from_abbr(tok(date_at))? as u8;
    let day: u8 = tok(date_at + 1).parse().ok()?;
    let (ts, tt) = toks.get(date_at + 2).copied()?;
    let name_start = ts + tt.len() + 1;
    let full_name = line.get(name_start..).filter(|n| !n.is_empty())?;

    let mtime = if let Some((h, m)) = tt.split_once(':') {
        let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
        let year = datetime(now).year();
        // The latest year that does not put the entry more than a day in the future.
        [year + 1, year, year - 1]
            .into_iter()
            .filter_map(|y| to_unix(y, month, day, h, m, 0))
            .find(|&t| t <= now.saturating_add(86_400))?
    } else {
        to_unix(tt.parse().ok()?, month, day, 0, 0, 0)?
    };

    // Between the permissions and the size: [nlink] [owner [group]].
    let middle: Vec<&str> = toks
        .get(1..date_at - 1)
        .unwrap_or_default()
        .iter()
        .map(|t| t.1)
        .collect();
    let (nlink, ids) = match middle.split_first() {
        Some((n, ids)) if is_num(n) => (n.parse().unwrap_or(0), ids),
        _ => (0, middle.as_slice()),
    };
    let owner = ids.first().copied().unwrap_or_default().to_owned();
    let group = ids.get(1).copied().unwrap_or_default().to_owned();

    let (name, link_target) = match (kind, full_name.split_once(" -> ")) {
        (FileKind::Symlink, Some((n, t))) => (n.to_owned(), Some(t.to_owned())),
        _ => (full_name.to_owned(), None),
    };
    Some(FileInfo {
        name,
        kind,
        size,
        mtime,
        mode,
        nlink,
        uid: owner.parse().ok(),
        gid: group.parse().ok(),
        owner,
        group,
        link_target,
        perm: None,
    })
}

/// `MM-DD-YY[YY]  HH:MM[AM|PM]  <DIR>|size  name`
fn parse_dos(line: &str) -> Option<FileInfo> {
    let toks = tokens(line);
    let mut idx = 0;
    let mut next = || {
        let t = toks.get(idx).copied();
        idx += 1;
        t
    };
    let (_, date) = next()?;
    let (_, mut time) = next()?;
    let (mut ks, mut kt) = next()?;
    let mut pm = None;
    if kt.eq_ignore_ascii_case("AM") || kt.eq_ignore_ascii_case("PM") {
        pm = Some(kt.eq_ignore_ascii_case("PM"));
        (ks, kt) = next()?;
    }
    let upper = time.to_ascii_uppercase();
    if let Some(t) = upper.strip_suffix("AM") {
        pm = Some(false);
        time = time.get(..t.len())?;
    } else if let Some(t) = upper.strip_suffix("PM") {
        pm = Some(true);
        time = time.get(..t.len())?;
    }
    let mut d = date.split(['-', '/']);
    let (mo, dd, yy) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() {
        return None;
    }
    let (month, day): (u8, u8) = (mo.parse().ok()?, dd.parse().ok()?);
    let year: i32 = match yy.len() {
        2 => {
            let y: i32 = yy.parse().ok()?;
            if y < 70 {
                2000 + y
            } else {
                1900 + y
            }
        }
        4 => yy.parse().ok()?,
        _ => return None,
    };
    let (h, m) = time.split_once(':')?;
    let (mut hour, minute): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    let mtime = to_unix(year, month, day, hour, minute, 0)?;
    let (kind, size) = if kt.eq_ignore_ascii_case("<DIR>") {
        (FileKind::Dir, 0)
    } else {
        (FileKind::File, kt.replace(',', "").parse().ok()?)
    };
    let name = line.get(ks + kt.len()..)?.trim_start();
    if name.is_empty() {
        return None;
    }
    Some(FileInfo {
        name: name.to_owned(),
        kind,
        size,
        mtime,
        ..FileInfo::default()
    })
}

/// Which MLSx facts are reported (RFC 3659 section 7.8, chosen with `OPTS MLST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FactSet {
    /// `type=`
    pub type_: bool,
    /// `size=`
    pub size: bool,
    /// `modify=`
    pub modify: bool,
    /// `perm=`
    pub perm: bool,
    /// `unix.mode=`
    pub unix_mode: bool,
    /// `unix.owner=`
    pub unix_owner: bool,
    /// `unix.group=`
    pub unix_group: bool,
    /// `unix.nlink=`: the hard link count, the second column of `ls -l` (as pure-ftpd and
    /// others send it; RFC 3659 7.5.7 leaves OS-specific facts to the `OS.` or OS name prefix).
    pub unix_nlink: bool,
}

/// The fact names in the order they are listed and formatted.
const FACT_NAMES: [&str; 8] = [
    "type",
    "size",
    "modify",
    "perm",
    "unix.mode",
    "unix.owner",
    "unix.group",
    "unix.nlink",
];

impl FactSet {
    /// Every supported fact.
    pub fn all() -> FactSet {
        FactSet {
            type_: true,
            size: true,
            modify: true,
            perm: true,
            unix_mode: true,
            unix_owner: true,
            unix_group: true,
            unix_nlink: true,
        }
    }

    /// What a new session reports: all facts.
    pub fn default_set() -> FactSet {
        FactSet::all()
    }

    /// No facts at all (`OPTS MLST` with an empty list).
    pub fn none() -> FactSet {
        FactSet {
            type_: false,
            size: false,
            modify: false,
            perm: false,
            unix_mode: false,
            unix_owner: false,
            unix_group: false,
            unix_nlink: false,
        }
    }

    /// The facts named (case-insensitive); unknown names are ignored (RFC 3659 section 7.9).
    pub fn from_names(names: &[String]) -> FactSet {
        let mut set = FactSet::none();
        for n in names {
            if let Some(flag) = set.flag_mut(&n.trim().to_ascii_lowercase()) {
                *flag = true;
            }
        }
        set
    }

    fn flags(&self) -> [bool; 8] {
        [
            self.type_,
            self.size,
            self.modify,
            self.perm,
            self.unix_mode,
            self.unix_owner,
            self.unix_group,
            self.unix_nlink,
        ]
    }

    fn flag_mut(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "type" => &mut self.type_,
            "size" => &mut self.size,
            "modify" => &mut self.modify,
            "perm" => &mut self.perm,
            "unix.mode" => &mut self.unix_mode,
            "unix.owner" => &mut self.unix_owner,
            "unix.group" => &mut self.unix_group,
            "unix.nlink" => &mut self.unix_nlink,
            _ => return None,
        })
    }

    /// The FEAT line body: every supported fact, enabled ones starred:
    /// `"type*;size*;modify*;perm*;unix.mode*;unix.owner*;unix.group*;unix.nlink*;"`.
    pub fn feat_line(&self) -> String {
        FACT_NAMES
            .iter()
            .zip(self.flags())
            .map(|(n, on)| {
                if on {
                    format!("{n}*;")
                } else {
                    format!("{n};")
                }
            })
            .collect()
    }

    /// Only the enabled facts, `"type;size;"`: the text of the `200 MLST OPTS` reply
    /// (RFC 3659 section 7.9).
    pub fn enabled_line(&self) -> String {
        FACT_NAMES
            .iter()
            .zip(self.flags())
            .filter(|(_, on)| *on)
            .map(|(n, _)| format!("{n};"))
            .collect()
    }
}

impl Default for FactSet {
    fn default() -> Self {
        FactSet::default_set()
    }
}

/// One MLSx entry without CRLF and without MLST's leading space:
/// `"type=file;size=12;modify=20231123225300;perm=adfrw;unix.mode=0644;unix.owner=alice;unix.group=alice;unix.nlink=1; name"`.
/// Symlinks are `type=OS.unix=symlink`, other special files `type=OS.unix=other`. Facts with
/// unknown values (no `perm`, no owner) are left out; `size` is not given for directories.
pub fn format_mlsx(info: &FileInfo, facts: &FactSet) -> String {
    let mut s = String::with_capacity(128);
    if facts.type_ {
        s.push_str(match info.kind {
            FileKind::File => "type=file;",
            FileKind::Dir => "type=dir;",
            FileKind::Symlink => "type=OS.unix=symlink;",
            FileKind::Other => "type=OS.unix=other;",
        });
    }
    if facts.size && info.kind != FileKind::Dir {
        s.push_str(&format!("size={};", info.size));
    }
    if facts.modify {
        s.push_str(&format!("modify={};", format_time_val(info.mtime)));
    }
    if facts.perm {
        if let Some(p) = &info.perm {
            s.push_str(&format!("perm={};", fact_value(p)));
        }
    }
    if facts.unix_mode {
        s.push_str(&format!("unix.mode={:04o};", info.mode & 0o7777));
    }
    if facts.unix_owner {
        if let Some(o) = id_fact(&info.owner, info.uid) {
            s.push_str(&format!("unix.owner={o};"));
        }
    }
    if facts.unix_group {
        if let Some(g) = id_fact(&info.group, info.gid) {
            s.push_str(&format!("unix.group={g};"));
        }
    }
    if facts.unix_nlink && info.nlink > 0 {
        s.push_str(&format!("unix.nlink={};", info.nlink));
    }
    s.push(' ');
    s.push_str(&one_line(&info.name));
    s
}

/// A fact value cannot hold `;`, space or line ends.
fn fact_value(v: &str) -> String {
    v.chars()
        .map(|c| {
            if matches!(c, ';' | ' ' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn id_fact(name: &str, id: Option<u32>) -> Option<String> {
    if !name.is_empty() {
        Some(fact_value(name))
    } else {
        id.map(|i| i.to_string())
    }
}

/// Parses one MLSx line (tolerant: unknown facts ignored, fact names case-insensitive, missing
/// facts left at their defaults, one leading space allowed as MLST sends it). `type=cdir` and
/// `type=pdir` are returned as [`FileKind::Dir`] with the name as given; the caller skips them.
pub fn parse_mlsx(line: &str) -> Result<FileInfo, ListingError> {
    parse_mlsx_entry(line).map(|(info, _)| info)
}

/// One line of an `MLSD` listing for a client: `Ok(None)` for the `type=cdir` and `type=pdir`
/// entries (the listed directory and its parent, whatever name the server gives them).
pub fn parse_mlsd_line(line: &str) -> Result<Option<FileInfo>, ListingError> {
    parse_mlsx_entry(line).map(|(info, self_or_parent)| (!self_or_parent).then_some(info))
}

/// The entry and whether it is `type=cdir` or `type=pdir`.
fn parse_mlsx_entry(line: &str) -> Result<(FileInfo, bool), ListingError> {
    let mut self_or_parent = false;
    let line = line.trim_end_matches(['\r', '\n']);
    let line = line.strip_prefix(' ').unwrap_or(line);
    let (facts, name) = match line.split_once(' ') {
        Some(fn_) => fn_,
        // No space at all: a name without facts, unless it only looks like facts.
        None if line.contains('=') && line.ends_with(';') => return Err(ListingError::NoName),
        None => ("", line),
    };
    if name.is_empty() {
        return Err(ListingError::NoName);
    }
    let mut info = FileInfo {
        name: name.to_owned(),
        ..FileInfo::default()
    };
    // proftpd sends unix.owner=<uid> and unix.ownername=<name>; the name wins.
    let (mut owner_name, mut group_name) = (None, None);
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let Some((key, value)) = fact.split_once('=') else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        let bad = || ListingError::BadFact(key.clone());
        match key.as_str() {
            "type" => {
                let v = value.to_ascii_lowercase();
                info.kind = match v.as_str() {
                    "file" => FileKind::File,
                    "dir" => FileKind::Dir,
                    "cdir" | "pdir" => {
                        self_or_parent = true;
                        FileKind::Dir
                    }
                    _ if v == "os.unix=symlink" || v.starts_with("os.unix=slink") => {
                        if let Some((_, target)) = value.split_once(':') {
                            info.link_target = Some(target.to_owned());
                        }
                        FileKind::Symlink
                    }
                    _ => FileKind::Other,
                };
            }
            "size" | "sizd" => info.size = value.parse().map_err(|_| bad())?,
            "modify" => info.mtime = parse_time_val(value).map_err(|_| bad())?,
            "perm" => info.perm = Some(value.to_owned()),
            "unix.mode" => {
                let m = u32::from_str_radix(value, 8).map_err(|_| bad())?;
                info.mode = m & 0o7777;
            }
            "unix.owner" => {
                info.uid = value.parse().ok().or(info.uid);
                info.owner = value.to_owned();
            }
            "unix.group" => {
                info.gid = value.parse().ok().or(info.gid);
                info.group = value.to_owned();
            }
            "unix.ownername" => owner_name = Some(value),
            "unix.groupname" => group_name = Some(value),
            "unix.uid" => info.uid = Some(value.parse().map_err(|_| bad())?),
            "unix.gid" => info.gid = Some(value.parse().map_err(|_| bad())?),
            "unix.nlink" => info.nlink = value.parse().map_err(|_| bad())?,
            _ => {}
        }
    }
    if let Some(n) = owner_name {
        info.owner = n.to_owned();
    }
    if let Some(n) = group_name {
        info.group = n.to_owned();
    }
    Ok((info, self_or_parent))
}

/// `"YYYYMMDDHHMMSS"` in UTC, for `MDTM` replies and `modify=` (RFC 3659 section 2.3).
pub fn format_time_val(secs: i64) -> String {
    let t = datetime(secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Reads `"YYYYMMDDHHMMSS"` with an optional `".sss"` fraction (ignored) as UTC unix seconds.
pub fn parse_time_val(s: &str) -> Result<i64, ListingError> {
    let bad = || ListingError::BadTime(s.chars().take(40).collect());
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| main.get(r).and_then(|d| d.parse::<u16>().ok());
    let field = |r| num(r).and_then(|n| u8::try_from(n).ok());
    let year = i32::from(num(0..4).ok_or_else(bad)?);
    to_unix(
        year,
        field(4..6).ok_or_else(bad)?,
        field(6..8).ok_or_else(bad)?,
        field(8..10).ok_or_else(bad)?,
        field(10..12).ok_or_else(bad)?,
        field(12..14).ok_or_else(bad)?,
    )
    .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-23 22:53:00 UTC
    const T: i64 = 1_700_779_980;
    const NOW: i64 = T + 86_400;

    fn file(name: &str) -> FileInfo {
        FileInfo {
            name: name.into(),
            kind: FileKind::File,
            size: 1234,
            mtime: T,
            mode: 0o644,
            nlink: 1,
            owner: "alice".into(),
            group: "alice".into(),
            uid: None,
            gid: None,
            link_target: None,
            perm: None,
        }
    }

    #[test]
    fn time_values() {
        assert_eq!(format_time_val(T), "20231123225300");
        assert_eq!(format_time_val(0), "19700101000000");
        assert_eq!(parse_time_val("20231123225300"), Ok(T));
        assert_eq!(parse_time_val("20231123225300.123"), Ok(T));
        assert_eq!(parse_time_val("19700101000000"), Ok(0));
        assert_eq!(parse_time_val("19691231235959"), Ok(-1));
        for t in [0, T, -86_400 * 365 * 30, 4_102_444_800, 1] {
            assert_eq!(parse_time_val(&format_time_val(t)), Ok(t));
        }
        for bad in [
            "",
            "2023112322530",
            "202311232253000",
            "20231323225300",
            "20231132225300",
            "20230229000000",
            "20231123245300",
            "20231123226000",
            "2023112322530x",
            "20231123225300.",
            "20231123225300.1a",
            "+2023112322530",
        ] {
            assert!(
                matches!(parse_time_val(bad), Err(ListingError::BadTime(_))),
                "{bad}"
            );
        }
        assert_eq!(parse_time_val("20240229120000"), Ok(1_709_208_000));
    }

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(FileKind::Dir, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(FileKind::File, 0o644), "-rw-r--r--");
        assert_eq!(mode_string(FileKind::Symlink, 0o777), "lrwxrwxrwx");
        assert_eq!(mode_string(FileKind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(FileKind::File, 0o4644), "-rwSr--r--");
        assert_eq!(mode_string(FileKind::File, 0o2755), "-rwxr-sr-x");
        assert_eq!(mode_string(FileKind::File, 0o2745), "-rwxr-Sr-x");
        assert_eq!(mode_string(FileKind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(FileKind::Dir, 0o1776), "drwxrwxrwT");
        assert_eq!(mode_string(FileKind::Other, 0), "?---------");
        for m in 0..=0o7777 {
            let s = mode_string(FileKind::File, m);
            assert_eq!(parse_perm_chars(&s[1..]), Some(m), "{s}");
        }
    }

    #[test]
    fn list_line_format() {
        assert_eq!(
            format_list_line(&file("name"), NOW),
            "-rw-r--r--    1 alice    alice        1234 Nov 23 22:53 name"
        );
        let old = FileInfo {
            mtime: T - 400 * 86_400,
            ..file("old")
        };
        assert_eq!(
            format_list_line(&old, NOW),
            "-rw-r--r--    1 alice    alice        1234 Oct 19  2022 old"
        );
        let future = FileInfo {
            mtime: NOW + 7200,
            ..file("f")
        };
        assert!(format_list_line(&future, NOW).contains("Nov 25  2023 f"));
        let link = FileInfo {
            kind: FileKind::Symlink,
            mode: 0o777,
            link_target: Some("../target dir".into()),
            ..file("my link")
        };
        assert_eq!(
            format_list_line(&link, NOW),
            "lrwxrwxrwx    1 alice    alice        1234 Nov 23 22:53 my link -> ../target dir"
        );
        let numeric = FileInfo {
            owner: String::new(),
            group: String::new(),
            uid: Some(1000),
            gid: None,
            ..file("n")
        };
        assert!(format_list_line(&numeric, NOW).contains(" 1000     ftp "));
        let nl = file("a\nb");
        assert!(format_list_line(&nl, NOW).ends_with(" a?b"));
    }

    #[test]
    fn list_line_round_trips() {
        let cases = vec![
            file("plain.txt"),
            file("name with  spaces "),
            file(" leading"),
            file("Grüße 日本語.txt"),
            FileInfo {
                kind: FileKind::Dir,
                mode: 0o755,
                nlink: 3,
                size: 4096,
                ..file("dir")
            },
            FileInfo {
                mtime: 0,
                ..file("epoch")
            },
            // Dates shown with a year have no time of day.
            FileInfo {
                mtime: to_unix(2020, 11, 23, 0, 0, 0).unwrap(),
                ..file("old file")
            },
            FileInfo {
                mode: 0o4755,
                ..file("suid")
            },
            FileInfo {
                mode: 0o1777,
                kind: FileKind::Dir,
                ..file("tmp")
            },
            FileInfo {
                kind: FileKind::Symlink,
                mode: 0o777,
                link_target: Some("a b -> c".into()),
                ..file("l")
            },
            FileInfo {
                kind: FileKind::Other,
                mode: 0o600,
                ..file("fifo")
            },
            FileInfo {
                size: u64::MAX,
                ..file("huge")
            },
            FileInfo {
                owner: "1000".into(),
                uid: Some(1000),
                group: "50".into(),
                gid: Some(50),
                ..file("ids")
            },
        ];
        for info in cases {
            let line = format_list_line(&info, NOW);
            let back = parse_list_line_at(&line, NOW).unwrap_or_else(|| panic!("{line}"));
            // Minutes only in LIST; the samples have no seconds.
            assert_eq!(back, info, "{line}");
        }
    }

    #[test]
    fn list_parse_other_servers() {
        // vsftpd
        let v = parse_list_line_at(
            "drwxr-xr-x    2 ftp      ftp          4096 Nov 23 22:53 pub",
            NOW,
        )
        .unwrap();
        assert_eq!(
            (v.kind, v.name.as_str(), v.size, v.mtime, v.nlink),
            (FileKind::Dir, "pub", 4096, T, 2)
        );
        assert_eq!((v.owner.as_str(), v.group.as_str()), ("ftp", "ftp"));
        // pure-ftpd / proftpd style, single-space day and ACL marker.
        let p = parse_list_line_at(
            "-rw-r--r--+   1 1000       100          5 Jan  5  2021 a  b.txt",
            NOW,
        )
        .unwrap();
        assert_eq!(p.name, "a  b.txt");
        assert_eq!(p.uid, Some(1000));
        assert_eq!(p.gid, Some(100));
        assert_eq!(p.mtime, to_unix(2021, 1, 5, 0, 0, 0).unwrap());
        // No group column.
        let g = parse_list_line_at("-rw-------   1 bob    42 Mar 03 10:00 x", NOW).unwrap();
        assert_eq!(
            (g.owner.as_str(), g.group.as_str(), g.size),
            ("bob", "", 42)
        );
        assert_eq!(g.mtime, to_unix(2023, 3, 3, 10, 0, 0).unwrap());
        // HH:MM in a month after "now" means last year.
        let last = parse_list_line_at("-rw-r--r-- 1 a a 1 Dec 31 23:59 z", NOW).unwrap();
        assert_eq!(last.mtime, to_unix(2022, 12, 31, 23, 59, 0).unwrap());
        // A number that looks like a date inside the name does not confuse it.
        let tricky =
            parse_list_line_at("-rw-r--r-- 1 a a 7 Nov 23 22:53 5 Nov 23 22:53 x", NOW).unwrap();
        assert_eq!(tricky.name, "5 Nov 23 22:53 x");
        assert_eq!(tricky.size, 7);
        // Device file.
        let dev = parse_list_line_at(
            "crw-rw-rw-   1 root     root       1,   3 Nov 23 22:53 null",
            NOW,
        )
        .unwrap();
        assert_eq!((dev.kind, dev.name.as_str()), (FileKind::Other, "null"));
        // Symlink without target part.
        let l = parse_list_line_at("lrwxrwxrwx 1 a a 3 Nov 23 22:53 noarrow", NOW).unwrap();
        assert_eq!((l.kind, l.link_target), (FileKind::Symlink, None));
        // CRLF left on is ignored.
        assert_eq!(
            parse_list_line_at("-rw-r--r-- 1 a a 1 Nov 23 22:53 crlf\r\n", NOW)
                .unwrap()
                .name,
            "crlf"
        );
    }

    #[test]
    fn list_parse_dos() {
        let d = parse_list_line_at("11-23-23  10:53PM       <DIR>          My Dir", NOW).unwrap();
        assert_eq!(
            (d.kind, d.name.as_str(), d.mtime),
            (FileKind::Dir, "My Dir", T)
        );
        let f = parse_list_line_at("01-02-1999  12:05AM              1,234 a.txt", NOW).unwrap();
        assert_eq!(
            (f.kind, f.size, f.name.as_str()),
            (FileKind::File, 1234, "a.txt")
        );
        assert_eq!(f.mtime, to_unix(1999, 1, 2, 0, 5, 0).unwrap());
        let g = parse_list_line_at("11-23-23  10:53 PM  5 b", NOW).unwrap();
        assert_eq!((g.size, g.mtime), (5, T));
        let h = parse_list_line_at("11-23-23  22:53  5 c", NOW).unwrap();
        assert_eq!(h.mtime, T);
    }

    #[test]
    fn list_parse_rejects() {
        for bad in [
            "",
            "   ",
            "total 12",
            "TOTAL 0",
            "hello world",
            "-rw-r--r-- 1 a a x Nov 23 22:53 name",
            "-rw-r--r-- 1 a a 1 Nov 23 22:53",
            "-rw-r--r-- 1 a a 1 Nov 23 22:53 ",
            "-rw-r--r-- 1 a a 1 Foo 23 22:53 name",
            "-rw-r--r-- 1 a a 1 Feb 30  2023 name",
            "-rwxrwxrwz 1 a a 1 Nov 23 22:53 name",
            "-rw-r 1 a a 1 Nov 23 22:53 name",
            "xrw-r--r-- 1 a a 1 Nov 23 22:53 name",
            "13-40-23  10:53PM  <DIR>  d",
            "11-23-23  10:53PM  <DIR>",
            "11-23  10:53PM  <DIR> d",
        ] {
            assert_eq!(parse_list_line_at(bad, NOW), None, "{bad:?}");
        }
        // The wall-clock variant works too.
        assert!(parse_list_line("-rw-r--r-- 1 a a 1 Nov 23  2023 n").is_some());
    }

    #[test]
    fn fact_sets() {
        assert_eq!(
            FactSet::all().feat_line(),
            "type*;size*;modify*;perm*;unix.mode*;unix.owner*;unix.group*;unix.nlink*;"
        );
        assert_eq!(FactSet::default_set(), FactSet::all());
        let some = FactSet::from_names(&[
            "Type".into(),
            "SIZE".into(),
            "bogus".into(),
            "unix.group".into(),
        ]);
        assert_eq!(
            some.feat_line(),
            "type*;size*;modify;perm;unix.mode;unix.owner;unix.group*;unix.nlink;"
        );
        assert_eq!(some.enabled_line(), "type;size;unix.group;");
        assert_eq!(FactSet::from_names(&[]), FactSet::none());
        assert_eq!(FactSet::none().enabled_line(), "");
    }

    #[test]
    fn mlsx_format() {
        let f = FileInfo {
            perm: Some("adfrw".into()),
            size: 12,
            ..file("name")
        };
        assert_eq!(
            format_mlsx(&f, &FactSet::all()),
            "type=file;size=12;modify=20231123225300;perm=adfrw;unix.mode=0644;unix.owner=alice;unix.group=alice;unix.nlink=1; name"
        );
        // Read back, the link count included.
        let back = parse_mlsx(&format_mlsx(&f, &FactSet::all())).unwrap();
        assert_eq!(back.nlink, 1);
        let d = FileInfo {
            kind: FileKind::Dir,
            mode: 0o755,
            perm: Some("elcmp".into()),
            ..file("a dir")
        };
        assert_eq!(
            format_mlsx(&d, &FactSet::from_names(&["type".into(), "perm".into()])),
            "type=dir;perm=elcmp; a dir"
        );
        let l = FileInfo {
            kind: FileKind::Symlink,
            ..file("l")
        };
        assert!(format_mlsx(&l, &FactSet::all()).starts_with("type=OS.unix=symlink;size=1234;"));
        assert_eq!(format_mlsx(&f, &FactSet::none()), " name");
    }

    #[test]
    fn mlsx_round_trips() {
        let cases = vec![
            FileInfo {
                perm: Some("adfrw".into()),
                nlink: 0,
                ..file("plain")
            },
            FileInfo {
                nlink: 0,
                ..file("name; with = odd chars")
            },
            FileInfo {
                nlink: 0,
                ..file(" leading space")
            },
            FileInfo {
                nlink: 0,
                ..file("Grüße 日本語")
            },
            FileInfo {
                kind: FileKind::Dir,
                size: 0,
                mode: 0o755,
                nlink: 0,
                perm: Some("elcmp".into()),
                ..file("d")
            },
            FileInfo {
                kind: FileKind::Symlink,
                mode: 0o777,
                nlink: 0,
                ..file("s")
            },
            FileInfo {
                kind: FileKind::Other,
                nlink: 0,
                ..file("o")
            },
            FileInfo {
                owner: "1000".into(),
                uid: Some(1000),
                group: "1000".into(),
                gid: Some(1000),
                nlink: 0,
                ..file("numeric")
            },
            FileInfo {
                mtime: -1000,
                mode: 0o7777,
                nlink: 0,
                ..file("old")
            },
        ];
        for info in cases {
            let line = format_mlsx(&info, &FactSet::all());
            assert_eq!(parse_mlsx(&line), Ok(info.clone()), "{line}");
            // As MLST sends it, with a leading space, and with CRLF.
            assert_eq!(parse_mlsx(&format!(" {line}\r\n")), Ok(info), "{line}");
        }
    }

    #[test]
    fn mlsx_parse_tolerant() {
        let p = parse_mlsx(
            "Type=cdir;Sizd=4096;Modify=20231123225300;UNIX.mode=0755;x.unknown=1; /home",
        )
        .unwrap();
        assert_eq!(
            (p.kind, p.name.as_str(), p.size, p.mtime, p.mode),
            (FileKind::Dir, "/home", 4096, T, 0o755)
        );
        assert_eq!(parse_mlsx("type=pdir; ..").unwrap().kind, FileKind::Dir);
        assert_eq!(parse_mlsd_line("type=cdir;perm=el; /pub"), Ok(None));
        assert_eq!(parse_mlsd_line("Type=PDIR; .."), Ok(None));
        assert_eq!(
            parse_mlsd_line("type=dir; d").unwrap().map(|i| i.name),
            Some("d".into())
        );
        assert_eq!(
            parse_mlsd_line("type=file;size=x; f"),
            Err(ListingError::BadFact("size".into()))
        );
        let s = parse_mlsx("type=OS.unix=slink:/etc/x;size=5; lnk").unwrap();
        assert_eq!(
            (s.kind, s.link_target.as_deref()),
            (FileKind::Symlink, Some("/etc/x"))
        );
        let pro = parse_mlsx("modify=20231123225300.5;perm=r;type=file;unique=801U5;UNIX.group=50;UNIX.groupname=staff;UNIX.mode=0644;UNIX.owner=1000;UNIX.ownername=bob; f").unwrap();
        assert_eq!(
            (pro.owner.as_str(), pro.uid, pro.group.as_str(), pro.gid),
            ("bob", Some(1000), "staff", Some(50))
        );
        assert_eq!(
            parse_mlsx("nonsense;type=file; f").unwrap().kind,
            FileKind::File
        );
        assert_eq!(parse_mlsx(" just-a-name").unwrap().name, "just-a-name");
        let bare = parse_mlsx("type=file; x").unwrap();
        assert_eq!(
            (bare.size, bare.mtime, bare.mode, bare.perm),
            (0, 0, 0, None)
        );
    }

    #[test]
    fn mlsx_parse_errors() {
        assert_eq!(parse_mlsx("type=file;size=1;"), Err(ListingError::NoName));
        assert_eq!(parse_mlsx("type=file; "), Err(ListingError::NoName));
        assert_eq!(parse_mlsx(""), Err(ListingError::NoName));
        assert_eq!(
            parse_mlsx("size=abc; f"),
            Err(ListingError::BadFact("size".into()))
        );
        assert_eq!(
            parse_mlsx("modify=2023; f"),
            Err(ListingError::BadFact("modify".into()))
        );
        assert_eq!(
            parse_mlsx("unix.mode=999; f"),
            Err(ListingError::BadFact("unix.mode".into()))
        );
    }

    /// Random text (LCG) into the parsers never panics.
    #[test]
    fn fuzz_parsers() {
        let mut state: u64 = 12345;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u32
        };
        let pieces = [
            "-rw-r--r--",
            "drwxr-xr-x",
            " ",
            "  ",
            "1",
            "Nov",
            "23",
            "22:53",
            "2023",
            "->",
            "é",
            "type=",
            ";",
            "=",
            "file",
            "size=",
            "modify=",
            "20231123225300",
            ".",
            "<DIR>",
            "11-23-23",
            "10:53PM",
            "x",
            "99999999999999999999",
        ];
        for _ in 0..20_000 {
            let n = (next() % 14) as usize;
            let s: String = (0..n)
                .map(|_| pieces[(next() as usize) % pieces.len()])
                .collect();
            let _ = parse_list_line_at(&s, NOW);
            let _ = parse_mlsx(&s);
            let _ = parse_time_val(&s);
        }
    }
}
