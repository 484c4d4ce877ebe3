//! CCC (RFC 4217 12.2): "Clear Command Channel" would return the control
//! connection to plaintext after login. Not offered: it would expose every
//! later command, and `proto` has no such verb, so the session answers the
//! unknown verb CCC with this 502 instead of 500.

use ringftp_proto::reply::Reply;

/// The verb as `proto` reports it when unknown.
pub const VERB: &str = "CCC";

pub fn refuse() -> Reply {
    Reply::new(
        502,
        "CCC not supported: the control connection stays protected.",
    )
}
