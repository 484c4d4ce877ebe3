//! `copy`/`cp oldpath newpath`: FTP has no server-side copy, so this reports
//! what sftp reports for a server without the copy-data extension.

use super::{error, CmdErr, CmdResult, Ctx, Invocation};
use crate::messages;

pub fn run(_ctx: &mut Ctx, _inv: &Invocation) -> CmdResult {
    error(messages::NO_COPY);
    Err(CmdErr::Failed)
}
