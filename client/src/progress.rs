//! sftp's progress meter (OpenSSH progressmeter.c): file name, percent,
//! bytes, rate, ETA or `- stalled -`, redrawn once a second on stdout, and
//! only when this process owns the terminal's foreground.

use std::io::Write;
use std::time::Instant;

const DEFAULT_WINSIZE: usize = 80;
const MAX_WINSIZE: usize = 512;
const STALL_TIME: f64 = 5.0;
const UNITS: &[u8] = b" KMGT";

/// One running meter.
pub struct Meter {
    file: String,
    start: Instant,
    last_update: Instant,
    start_pos: u64,
    end_pos: u64,
    cur_pos: u64,
    stalled: f64,
    bytes_per_second: f64,
    win_size: usize,
    last_refresh: Instant,
    shown: bool,
}

/// `progress_meter_path`: the last path component, or the whole path.
pub fn meter_name(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) if i + 1 < path.len() => path.get(i + 1..).unwrap_or(path),
        _ => path,
    }
}

fn can_output() -> bool {
    // SAFETY: plain libc queries without pointers.
    unsafe { libc::getpgrp() == libc::tcgetpgrp(libc::STDOUT_FILENO) }
}

fn screen_width() -> usize {
    // SAFETY: ioctl TIOCGWINSZ writes into a valid winsize.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if rc != -1 && ws.ws_col != 0 {
        (ws.ws_col as usize).min(MAX_WINSIZE)
    } else {
        DEFAULT_WINSIZE
    }
}

/// format_size: "%4lld%c%s" with 1024 steps while >= 10000.
pub fn format_size(mut bytes: u64) -> String {
    let mut i = 0;
    while bytes >= 10000 && i + 1 < UNITS.len() {
        bytes = (bytes + 512) / 1024;
        i += 1;
    }
    let u = UNITS.get(i).copied().unwrap_or(b' ') as char;
    format!("{:4}{}{}", bytes, u, if i > 0 { "B" } else { " " })
}

/// format_rate: "%3lld.%1lld%c%s".
pub fn format_rate(bytes: u64) -> String {
    let mut bytes = bytes.saturating_mul(100);
    let mut i = 0;
    while bytes >= 100 * 1000 && i + 1 < UNITS.len() {
        bytes = (bytes + 512) / 1024;
        i += 1;
    }
    if i == 0 {
        i += 1;
        bytes = (bytes + 512) / 1024;
    }
    let u = UNITS.get(i).copied().unwrap_or(b' ') as char;
    format!(
        "{:3}.{}{}{}",
        (bytes + 5) / 100,
        (bytes + 5) / 10 % 10,
        u,
        if i > 0 { "B" } else { " " }
    )
}

impl Meter {
    /// start_progress_meter: draws the first line at once.
    pub fn start(file: &str, size: u64, pos: u64) -> Meter {
        let now = Instant::now();
        let mut m = Meter {
            file: file.to_string(),
            start: now,
            last_update: now,
            start_pos: pos,
            end_pos: size,
            cur_pos: 0,
            stalled: 0.0,
            bytes_per_second: 0.0,
            win_size: screen_width() + 1,
            last_refresh: now,
            shown: false,
        };
        m.refresh(pos);
        m
    }

    /// Called often; redraws once a second.
    pub fn update(&mut self, pos: u64) {
        if self.last_refresh.elapsed().as_secs_f64() >= 1.0 {
            self.refresh(pos);
        }
    }

    fn refresh(&mut self, counter: u64) {
        self.last_refresh = Instant::now();
        if !can_output() {
            return;
        }
        let base = if self.cur_pos != 0 {
            self.cur_pos
        } else {
            self.start_pos
        };
        let mut transferred = counter.saturating_sub(base) as f64;
        self.cur_pos = counter;
        let now = Instant::now();
        let bytes_left = self.end_pos.saturating_sub(self.cur_pos);
        let elapsed = if bytes_left > 0 {
            now.duration_since(self.last_update).as_secs_f64()
        } else {
            transferred = self.end_pos.saturating_sub(self.start_pos) as f64;
            self.bytes_per_second = 0.0;
            now.duration_since(self.start).as_secs_f64()
        };
        let cur_speed = if elapsed != 0.0 {
            transferred / elapsed
        } else {
            transferred
        };
        if self.bytes_per_second != 0.0 {
            self.bytes_per_second = self.bytes_per_second * 0.9 + cur_speed * 0.1;
        } else {
            self.bytes_per_second = cur_speed;
        }
        // sftp keeps an int; truncate like C does.
        self.bytes_per_second = self.bytes_per_second.trunc();

        let mut buf = String::new();
        let file_len = self.win_size as i64 - 36;
        if file_len > 0 {
            let fl = file_len as usize;
            buf.push('\r');
            let name: String = self.file.chars().take(fl).collect();
            buf.push_str(&format!("{name:<fl$}"));
        }
        let percent = if self.end_pos == 0 || self.cur_pos == self.end_pos {
            100
        } else {
            ((self.cur_pos as f32 / self.end_pos as f32) * 100.0) as i64
        };
        buf.push_str(&format!(" {percent:3}% "));
        buf.push_str(&format_size(self.cur_pos));
        buf.push(' ');
        buf.push_str(&format_rate(self.bytes_per_second as u64));
        buf.push_str("/s ");
        if transferred == 0.0 {
            self.stalled += elapsed;
        } else {
            self.stalled = 0.0;
        }
        if self.stalled >= STALL_TIME {
            buf.push_str("- stalled -");
        } else if self.bytes_per_second == 0.0 && bytes_left > 0 {
            buf.push_str("  --:-- ETA");
        } else {
            let mut seconds = if bytes_left > 0 {
                (bytes_left as f64 / self.bytes_per_second) as i64
            } else {
                elapsed as i64
            };
            let hours = seconds / 3600;
            seconds -= hours * 3600;
            let minutes = seconds / 60;
            seconds -= minutes * 60;
            if hours != 0 {
                buf.push_str(&format!("{hours}:{minutes:02}:{seconds:02}"));
            } else {
                buf.push_str(&format!("  {minutes:02}:{seconds:02}"));
            }
            buf.push_str(if bytes_left > 0 { " ETA" } else { "    " });
        }
        // sftp writes exactly win_size - 1 bytes (padding with NULs in C is
        // never reached in practice because the line fills the width).
        let width = self.win_size - 1;
        let mut bytes: Vec<u8> = buf.into_bytes();
        bytes.truncate(width);
        while bytes.len() < width {
            bytes.push(b' ');
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&bytes);
        let _ = out.flush();
        self.last_update = now;
        self.shown = true;
    }

    /// stop_progress_meter: final redraw and newline.
    pub fn stop(mut self, pos: u64) {
        if !can_output() {
            return;
        }
        if self.cur_pos != self.end_pos || !self.shown {
            self.refresh(pos);
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_progressmeter_c() {
        assert_eq!(format_size(0), "   0  ");
        assert_eq!(format_size(9999), "9999  ");
        assert_eq!(format_size(10000), "  10KB");
        assert_eq!(format_size(1 << 20), "1024KB");
        assert_eq!(format_size(100 << 20), " 100MB");
    }

    #[test]
    fn rates_like_progressmeter_c() {
        assert_eq!(format_rate(0), "  0.0KB");
        assert_eq!(format_rate(1024), "  1.0KB");
        assert_eq!(format_rate(10 << 20), " 10.0MB");
    }

    #[test]
    fn meter_name_is_basename() {
        assert_eq!(meter_name("/a/b.txt"), "b.txt");
        assert_eq!(meter_name("b.txt"), "b.txt");
        assert_eq!(meter_name("/a/"), "/a/");
    }
}
