//! `progress`: toggle the progress meter.

use super::{say, CmdResult, Ctx};
use crate::messages;

pub fn run(ctx: &mut Ctx) -> CmdResult {
    ctx.showprogress = !ctx.showprogress;
    say(if ctx.showprogress {
        messages::PROGRESS_ON
    } else {
        messages::PROGRESS_OFF
    });
    Ok(())
}
