//! A minimal blocking FTP control connection, built on `ringftp_proto` for encoding and parsing.
//!
//! Only what the load generator needs: greeting, login, `TYPE I`, passive data connections (EPSV,
//! falling back to PASV) and transfers that read the data connection to its end and discard it.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ringftp_proto::addr;
use ringftp_proto::command::{Command, EpsvArg, Password, TransferType};
use ringftp_proto::reply::{parse_reply, Reply};

/// Every blocking read or write gives up after this long: a stuck server fails the run.
pub const IO_TIMEOUT: Duration = Duration::from_secs(120);

/// One control connection.
pub struct Control {
    stream: TcpStream,
    buf: Vec<u8>,
    peer: SocketAddr,
}

impl Control {
    /// Connects and reads the 220 greeting.
    pub fn connect(addr: SocketAddr) -> Result<Control> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let mut c = Control {
            stream,
            buf: Vec::with_capacity(512),
            peer: addr,
        };
        let greeting = c.reply()?;
        if greeting.code != 220 {
            bail!("greeting: {greeting}");
        }
        Ok(c)
    }

    /// Reads the next complete reply.
    pub fn reply(&mut self) -> Result<Reply> {
        loop {
            if let Some((reply, used)) = parse_reply(&self.buf)? {
                self.buf.drain(..used);
                return Ok(reply);
            }
            let mut chunk = [0u8; 1024];
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    bail!("no complete reply within {IO_TIMEOUT:?}")
                }
                Err(e) => return Err(e).context("read reply"),
            };
            if n == 0 {
                bail!("server closed the control connection");
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    /// Sends a command and reads its first reply.
    pub fn cmd(&mut self, cmd: &Command) -> Result<Reply> {
        self.stream
            .write_all(cmd.encode().as_bytes())
            .with_context(|| format!("send {}", cmd.verb()))?;
        self.reply()
    }

    /// USER, PASS (expects 230), then TYPE I.
    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let r = self.cmd(&Command::User(user.to_owned()))?;
        match r.code {
            230 => {}
            331 => {
                let r = self.cmd(&Command::Pass(Password::new(password.to_owned())))?;
                if r.code != 230 {
                    bail!("PASS: {r}");
                }
            }
            _ => bail!("USER: {r}"),
        }
        let r = self.cmd(&Command::Type(TransferType::Image))?;
        if !r.is_success() {
            bail!("TYPE I: {r}");
        }
        Ok(())
    }

    /// Opens a passive data connection: EPSV, or PASV if EPSV is refused.
    pub fn passive(&mut self) -> Result<TcpStream> {
        let r = self.cmd(&Command::Epsv(EpsvArg::Any))?;
        let target = if r.code == 229 {
            SocketAddr::new(self.peer.ip(), addr::parse_epsv(&r.text())?)
        } else {
            let r = self.cmd(&Command::Pasv)?;
            if r.code != 227 {
                bail!("PASV: {r}");
            }
            SocketAddr::V4(addr::parse_pasv(&r.text())?)
        };
        let data = TcpStream::connect(target).with_context(|| format!("data connect {target}"))?;
        data.set_read_timeout(Some(IO_TIMEOUT))?;
        Ok(data)
    }

    /// Runs a command that sends data to us (RETR, LIST): reads the data connection to its end
    /// into `scratch`, discarding it, and returns the byte count after the final 2xx reply.
    pub fn download(&mut self, cmd: &Command, scratch: &mut [u8]) -> Result<u64> {
        let mut data = self.passive()?;
        let r = self.cmd(cmd)?;
        if r.code != 150 && r.code != 125 {
            bail!("{}: {r}", cmd.verb());
        }
        let mut total = 0u64;
        loop {
            let n = data.read(scratch).context("read data connection")?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        drop(data);
        let r = self.reply()?;
        if !r.is_success() {
            bail!("{} final reply: {r}", cmd.verb());
        }
        Ok(total)
    }

    /// Sends QUIT and reads the 221, ignoring errors (the server may close first).
    pub fn quit(mut self) {
        let _ = self.cmd(&Command::Quit);
    }
}
