//! libFuzzer target: bytes from a client, through the server's line framing and command
//! parser. The body is `ringftp_fuzz::control`, replayed on stable by proto's tests.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringftp_fuzz::control(data));
