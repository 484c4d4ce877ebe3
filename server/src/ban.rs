//! Bans across sessions, like proftpd's mod_ban: a client address with
//! `ban_after` failed logins within `ban_window` is refused with 421 for
//! `ban_time`, at connect and at PASS (sessions it opened before the ban).
//!
//! Shared by all workers: one small map behind a `Mutex`, locked for a lookup
//! and never across an await. It holds at most [`MAX_ENTRIES`] addresses, so
//! an attacker with many addresses cannot grow it without bound: expired
//! entries are dropped when it is full, then the least recently touched one
//! that is not banned (a ban is evicted only when the whole map is bans).
//!
//! The window is mod_ban's: it starts at an address's first failure and the
//! count starts again once it has passed. IPv6 clients are counted per /64,
//! the block one customer gets; IPv4 per address (NAT users share one ban).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringftp_proto::reply::Reply;

use crate::data::canonical_ip;

/// Most addresses tracked at once (about 1 MB).
pub const MAX_ENTRIES: usize = 10_000;

/// What bans and per-address limits count by: the IPv4 address (IPv4-mapped
/// IPv6 unmapped), or the /64 of an IPv6 address.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

struct Entry {
    /// Start of the current window.
    first: Instant,
    failures: u32,
    banned_until: Option<Instant>,
    touched: Instant,
}

pub struct Bans {
    after: u32,
    window: Duration,
    time: Duration,
    table: Mutex<HashMap<IpAddr, Entry>>,
}

impl Bans {
    /// `after` failures within `window` ban for `time`; `after == 0` disables bans.
    pub fn new(after: u32, window: Duration, time: Duration) -> Bans {
        Bans {
            after,
            window,
            time,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// The admission check, called with the session's client address when the
    /// session starts (and again at PASS): the 421 to send when it is banned.
    pub fn refusal(&self, ip: IpAddr) -> Option<Reply> {
        let left = self.banned_for(ip, Instant::now())?;
        let secs = left.as_secs().max(1);
        Some(Reply::new(
            421,
            format!("Too many failed logins from your address; try again in {secs} seconds."),
        ))
    }

    /// Counts a failed login from `ip`; true when it starts a ban (logged here,
    /// with the address and the count, never the password).
    pub fn failed(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let banned = self.failed_at(ip, now);
        if banned {
            tracing::warn!(
                peer = %client_key(ip),
                failures = self.after,
                window_secs = self.window.as_secs(),
                ban_secs = self.time.as_secs(),
                "address banned after failed logins"
            );
        }
        banned
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn banned_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        if self.after == 0 {
            return None;
        }
        let key = client_key(ip);
        let mut table = self.lock();
        let until = table.get(&key)?.banned_until?;
        if until > now {
            return Some(until - now);
        }
        // Served its time: it starts from nothing.
        table.remove(&key);
        None
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) -> bool {
        if self.after == 0 {
            return false;
        }
        let key = client_key(ip);
        let mut table = self.lock();
        if !table.contains_key(&key) && table.len() >= MAX_ENTRIES {
            self.make_room(&mut table, now);
        }
        let e = table.entry(key).or_insert(Entry {
            first: now,
            failures: 0,
            banned_until: None,
            touched: now,
        });
        e.touched = now;
        if let Some(until) = e.banned_until {
            if until > now {
                return false;
            }
            e.banned_until = None;
            e.failures = 0;
        }
        if e.failures == 0 || now.duration_since(e.first) > self.window {
            e.first = now;
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        if e.failures >= self.after {
            e.banned_until = Some(now + self.time);
            return true;
        }
        false
    }

    fn live(&self, e: &Entry, now: Instant) -> bool {
        match e.banned_until {
            Some(until) => until > now,
            None => now.duration_since(e.first) <= self.window,
        }
    }

    fn make_room(&self, table: &mut HashMap<IpAddr, Entry>, now: Instant) {
        table.retain(|_, e| self.live(e, now));
        if table.len() < MAX_ENTRIES {
            return;
        }
        let oldest = table
            .iter()
            .min_by_key(|(_, e)| (e.banned_until.is_some(), e.touched))
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            table.remove(&k);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const MIN: Duration = Duration::from_secs(60);

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn bans_after_n_failures_within_the_window_then_expires() {
        let bans = Bans::new(3, 10 * MIN, 60 * MIN);
        let t0 = Instant::now();
        let ip = v4(0x0a00_0001);
        assert!(!bans.failed_at(ip, t0));
        assert!(!bans.failed_at(ip, t0 + MIN));
        assert_eq!(bans.banned_for(ip, t0 + MIN), None);
        assert!(bans.failed_at(ip, t0 + 2 * MIN), "third failure bans");
        assert_eq!(bans.banned_for(ip, t0 + 2 * MIN), Some(60 * MIN));
        assert_eq!(bans.banned_for(ip, t0 + 61 * MIN), Some(MIN));
        assert_eq!(bans.banned_for(v4(0x0a00_0002), t0 + 3 * MIN), None);
        // Failures while banned do not extend it.
        assert!(!bans.failed_at(ip, t0 + 30 * MIN));
        assert_eq!(bans.banned_for(ip, t0 + 62 * MIN), None, "expired");
        assert_eq!(bans.len(), 0, "an expired ban is dropped");
        assert!(!bans.failed_at(ip, t0 + 63 * MIN), "counting starts again");
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_ban() {
        let bans = Bans::new(3, 10 * MIN, 60 * MIN);
        let t0 = Instant::now();
        let ip = v4(7);
        for i in 0..20 {
            assert!(!bans.failed_at(ip, t0 + i * 6 * MIN), "failure {i}");
        }
    }

    #[test]
    fn zero_disables() {
        let bans = Bans::new(0, MIN, MIN);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(!bans.failed_at(v4(1), t0));
        }
        assert_eq!(bans.banned_for(v4(1), t0), None);
        assert_eq!(bans.len(), 0);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let bans = Bans::new(2, MIN, MIN);
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(!bans.failed_at(a, t0));
        assert!(bans.failed_at(b, t0), "same /64");
        assert!(bans.banned_for(a, t0).is_some());
        assert_eq!(bans.banned_for(other, t0), None);
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(!bans.failed_at(mapped, t0));
        assert!(bans.failed_at("192.0.2.1".parse().unwrap(), t0));
    }

    #[test]
    fn bounded_and_bans_are_evicted_last() {
        let bans = Bans::new(2, MIN, 60 * MIN);
        let t0 = Instant::now();
        let banned = v4(u32::MAX);
        bans.failed_at(banned, t0);
        assert!(bans.failed_at(banned, t0));
        for i in 0..(MAX_ENTRIES as u32 * 2) {
            bans.failed_at(v4(i), t0 + Duration::from_millis(u64::from(i)));
            assert!(bans.len() <= MAX_ENTRIES);
        }
        assert!(bans.banned_for(banned, t0 + MIN).is_some(), "ban kept");
        // Once the window has passed, stale counts make room without a scan for the oldest.
        bans.failed_at(v4(0xdead), t0 + 10 * MIN);
        assert_eq!(bans.len(), 2, "only the ban and the new entry are live");
    }
}
