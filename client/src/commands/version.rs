//! `version`: sftp's exact line (scripts parse it).

use super::{say, CmdResult};
use crate::messages;

pub fn run() -> CmdResult {
    say(messages::VERSION);
    Ok(())
}
