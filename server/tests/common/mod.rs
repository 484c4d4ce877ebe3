//! What the black-box tests of the built `ringftpd` share: a minimal FTP
//! client over real sockets (replies parsed by proto, EPSV data connections)
//! and reproducible test bytes. Each test binary uses part of it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ringftp_proto::addr::parse_epsv;
use ringftp_proto::reply::{parse_reply, Reply};

pub struct Ftp {
    pub ctl: TcpStream,
    buf: Vec<u8>,
}

impl Ftp {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> Ftp {
        let ctl = TcpStream::connect(addr).unwrap();
        ctl.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut f = Ftp {
            ctl,
            buf: Vec::new(),
        };
        assert_eq!(f.reply().code, 220);
        f
    }

    /// Logged in as `user` (password "secret"), TYPE I.
    pub fn login_as(addr: SocketAddr, user: &str) -> Ftp {
        let mut f = Ftp::connect(addr);
        assert_eq!(f.cmd(&format!("USER {user}")).code, 331);
        let r = f.cmd("PASS secret");
        assert_eq!(r.code, 230, "{r:?}");
        assert_eq!(f.cmd("TYPE I").code, 200);
        f
    }

    pub fn login(addr: SocketAddr) -> Ftp {
        Ftp::login_as(addr, "alice")
    }

    pub fn reply(&mut self) -> Reply {
        loop {
            if let Some((r, used)) = parse_reply(&self.buf).unwrap() {
                self.buf.drain(..used);
                return r;
            }
            let mut chunk = [0u8; 4096];
            let n = self.ctl.read(&mut chunk).unwrap();
            assert!(n > 0, "server closed the control connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn cmd(&mut self, line: &str) -> Reply {
        self.ctl
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }

    pub fn data(&mut self) -> TcpStream {
        let r = self.cmd("EPSV");
        assert_eq!(r.code, 229, "{r:?}");
        let port = parse_epsv(&r.text()).unwrap();
        let ip = self.ctl.peer_addr().unwrap().ip();
        TcpStream::connect((ip, port)).unwrap()
    }

    pub fn stor(&mut self, name: &str, body: &[u8]) -> Reply {
        let mut d = self.data();
        let r = self.cmd(&format!("STOR {name}"));
        if r.code != 150 {
            return r;
        }
        d.write_all(body).unwrap();
        drop(d);
        self.reply()
    }

    pub fn retr(&mut self, name: &str) -> Result<Vec<u8>, Reply> {
        let mut d = self.data();
        let r = self.cmd(&format!("RETR {name}"));
        if r.code != 150 {
            return Err(r);
        }
        let mut v = Vec::new();
        d.read_to_end(&mut v).unwrap();
        let r = self.reply();
        if r.code != 226 {
            return Err(r);
        }
        Ok(v)
    }

    pub fn listing(&mut self, cmd: &str) -> (Reply, String) {
        let mut d = self.data();
        let r = self.cmd(cmd);
        if r.code != 150 {
            return (r, String::new());
        }
        let mut v = Vec::new();
        d.read_to_end(&mut v).unwrap();
        (self.reply(), String::from_utf8(v).unwrap())
    }
}

/// Reproducible bytes (xorshift) for byte-for-byte checks.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
