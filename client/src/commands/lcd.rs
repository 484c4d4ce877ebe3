//! `lcd`/`lchdir`: change the local directory; `~` expands to $HOME.

use super::{error, strerror, CmdErr, CmdResult, Invocation};
use crate::messages;

/// tilde_expand_filename for the current user.
pub fn tilde_expand(p: &str) -> String {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/".into());
    if p == "~" {
        home
    } else if let Some(rest) = p.strip_prefix("~/") {
        format!("{}/{}", home.trim_end_matches('/'), rest)
    } else {
        p.to_string()
    }
}

pub fn run(inv: &Invocation) -> CmdResult {
    let p = match inv.path1.as_deref() {
        None | Some("") => "~",
        Some(p) => p,
    };
    let path = tilde_expand(p);
    if let Err(e) = std::env::set_current_dir(&path) {
        error(&messages::lcd_failed(&path, &strerror(&e)));
        return Err(CmdErr::Failed);
    }
    Ok(())
}
