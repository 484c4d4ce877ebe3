//! `pwd` and `lpwd`.

use super::{error, say, strerror, CmdErr, CmdResult, Ctx};
use crate::messages;

pub fn remote(ctx: &Ctx) -> CmdResult {
    say(&messages::remote_working_dir(&ctx.pwd));
    Ok(())
}

pub fn local() -> CmdResult {
    match std::env::current_dir() {
        Ok(p) => {
            say(&messages::local_working_dir(&p.to_string_lossy()));
            Ok(())
        }
        Err(e) => {
            error(&messages::local_cwd_failed(&strerror(&e)));
            Err(CmdErr::Failed)
        }
    }
}
