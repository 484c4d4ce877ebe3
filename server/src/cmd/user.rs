//! USER (RFC 959 4.1.1): "The argument field is a Telnet string identifying
//! the user." Always answered 331, whether the name exists or not, so names
//! cannot be probed; PASS gives the same 530 for both.

use ringftp_proto::reply::Reply;

use crate::session::{Session, State};

pub fn run(s: &mut Session, name: String) -> Reply {
    if let State::LoggedIn(login) = &mut s.state {
        // The kept data connection closes and the mode returns to S, as
        // after REIN.
        login.kept = None;
        login.block = false;
        if login.user == name {
            return Reply::new(331, "Any password will do as you are already logged in.");
        }
        return Reply::new(530, "Can't change to another user.");
    }
    s.state = State::AwaitPass { user: name };
    Reply::new(331, "Please specify the password.")
}
