//! OPTS (RFC 2389 4): options for a command. UTF8 (RFC 2640) is always on;
//! OPTS MLST picks the facts MLST and MLSD report (RFC 3659 7.9).

use ringftp_proto::command::OptsArg;
use ringftp_proto::listing::FactSet;
use ringftp_proto::reply::Reply;

pub fn run(facts: &mut FactSet, arg: OptsArg) -> Reply {
    match arg {
        OptsArg::Utf8(true) => Reply::new(200, "Always in UTF8 mode."),
        OptsArg::Utf8(false) => {
            Reply::new(504, "UTF8 cannot be turned off; names are always UTF-8.")
        }
        OptsArg::Mlst(names) => {
            *facts = FactSet::from_names(&names);
            Reply::new(200, format!("MLST OPTS {}", facts.enabled_line()))
        }
        OptsArg::Other(_) => Reply::new(501, "Option not understood."),
    }
}
