//! `lumask umask`: set the local umask.

use super::{say, CmdResult, Invocation};
use crate::messages;

pub fn run(inv: &Invocation) -> CmdResult {
    let mask = (inv.n_arg & 0o7777) as libc::mode_t;
    // SAFETY: umask only swaps the process's file mode creation mask.
    unsafe { libc::umask(mask) };
    say(&messages::local_umask(inv.n_arg as u32));
    Ok(())
}
