//! `lmkdir`: create a local directory (mode 0777 & ~umask).

use std::os::unix::fs::DirBuilderExt;

use super::{error, strerror, CmdErr, CmdResult, Invocation};
use crate::messages;

pub fn run(inv: &Invocation) -> CmdResult {
    let p = inv.path1.as_deref().unwrap_or("");
    if let Err(e) = std::fs::DirBuilder::new().mode(0o777).create(p) {
        error(&messages::lmkdir_failed(p, &strerror(&e)));
        return Err(CmdErr::Failed);
    }
    Ok(())
}
