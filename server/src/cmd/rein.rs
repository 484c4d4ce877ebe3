//! REIN (RFC 959 4.1.1): "terminates a USER, flushing all I/O and account
//! information"; the connection stays open for a new USER. The login's
//! state goes with it: a data connection kept open in block mode closes and
//! the mode is S again.

use ringftp_proto::reply::Reply;

use crate::session::{Session, State};

pub fn run(s: &mut Session) -> Reply {
    s.state = State::AwaitUser;
    Reply::new(220, "Session reinitialized; log in with USER.")
}
