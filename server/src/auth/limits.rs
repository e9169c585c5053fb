//! Abuse limits: login and enrollment attempts per address, login failures per (username,
//! address), proposals and chat messages per user.
//!
//! Rates use `governor`'s keyed GCRA limiters. Failed logins are counted per (username,
//! address) pair (known usernames or not, so answers do not reveal which users exist): after
//! too many in a row that pair waits out the lockout. A username is never locked for every
//! address, since anyone could then keep its owner out by failing on purpose; guessing from
//! many addresses is slowed by each address's own rate. The state is kept in memory: a
//! restart forgives, which an attacker cannot trigger from outside.
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AuthConfig;

/// Most (username, address) pairs tracked for lockout; the stalest are dropped beyond it.
const MAX_TRACKED: usize = 10_000;

/// Refused for now; retry after the given time.
#[derive(Debug, Clone)]
pub struct Limited {
    /// What was limited, for the error message.
    pub what: String,
    /// When a retry may succeed.
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// The limiters of one server.
pub struct Limits {
    clock: DefaultClock,
    login_per_address: DefaultKeyedRateLimiter<IpAddr>,
    enroll_per_address: DefaultKeyedRateLimiter<IpAddr>,
    proposals: DefaultKeyedRateLimiter<String>,
    chat: DefaultKeyedRateLimiter<String>,
    failures: Mutex<HashMap<(String, IpAddr), Failures>>,
    max_failures: u32,
    lockout: Duration,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least 1"))
}

impl Limits {
    /// Limiters with the configured rates.
    pub fn new(c: &AuthConfig) -> Self {
        Limits {
            clock: DefaultClock::default(),
            login_per_address: RateLimiter::keyed(per_minute(c.login_attempts_per_minute)),
            // Enrollment is the other unauthenticated door: the same rate, its own buckets.
            enroll_per_address: RateLimiter::keyed(per_minute(c.login_attempts_per_minute)),
            proposals: RateLimiter::keyed(per_minute(c.proposals_per_minute)),
            chat: RateLimiter::keyed(per_minute(c.chat_messages_per_minute)),
            failures: Mutex::new(HashMap::new()),
            max_failures: c.login_max_failures.max(1),
            lockout: Duration::from_secs(c.lockout_secs),
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
        what: &str,
    ) -> Result<(), Limited> {
        limiter.check_key(key).map_err(|not_until| Limited {
            what: what.to_owned(),
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// One login attempt from `addr` for `username`: refused while the address is over its
    /// rate or this (username, address) pair is locked after repeated failures.
    pub fn login_attempt(&self, addr: IpAddr, username: &str) -> Result<(), Limited> {
        self.check(&self.login_per_address, &addr, "login attempts from this address")?;
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = failures.get(&(username.to_owned(), addr)).and_then(|f| f.locked_until) {
            let now = Instant::now();
            if until > now {
                return Err(Limited {
                    what: format!("logins for {username:?} from this address (held back after repeated failures)"),
                    retry_after: until - now,
                });
            }
        }
        Ok(())
    }

    /// Records a failed login for `username` from `addr`; holds the pair back after too many
    /// in a row. Returns whether it is now held back.
    pub fn login_failed(&self, addr: IpAddr, username: &str) -> bool {
        // A poisoned lock only means a panic elsewhere mid-update; the counts are still usable.
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if failures.len() >= MAX_TRACKED {
            let lockout = self.lockout;
            failures.retain(|_, f| now.duration_since(f.last) < lockout);
            // Still full within one lockout period: forget the stalest pair, so memory stays
            // bounded whatever an attacker sends.
            while failures.len() >= MAX_TRACKED {
                let Some(stalest) = failures.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| k.clone()) else {
                    break;
                };
                failures.remove(&stalest);
            }
        }
        let f = failures.entry((username.to_owned(), addr)).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        // A lockout that has ended starts a fresh count.
        if f.locked_until.is_some_and(|u| u <= now) || now.duration_since(f.last) > self.lockout {
            f.count = 0;
            f.locked_until = None;
        }
        f.count += 1;
        f.last = now;
        if f.count >= self.max_failures {
            f.locked_until = Some(now + self.lockout);
            return true;
        }
        false
    }

    /// A successful login clears the pair's failures.
    pub fn login_succeeded(&self, addr: IpAddr, username: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(username.to_owned(), addr));
    }

    /// One enrollment attempt from `addr`.
    pub fn enroll_attempt(&self, addr: IpAddr) -> Result<(), Limited> {
        self.check(&self.enroll_per_address, &addr, "enrollment attempts from this address")
    }

    /// One proposal by `user`.
    pub fn proposal(&self, user: &str) -> Result<(), Limited> {
        self.check(&self.proposals, &user.to_owned(), "proposals by this user")
    }

    /// One chat message by `user`.
    pub fn chat_message(&self, user: &str) -> Result<(), Limited> {
        self.check(&self.chat, &user.to_owned(), "chat messages by this user")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthConfig {
        AuthConfig {
            login_max_failures: 3,
            lockout_secs: 60,
            login_attempts_per_minute: 5,
            proposals_per_minute: 2,
            ..AuthConfig::default()
        }
    }

    #[test]
    fn repeated_failures_hold_back_the_pair_only_and_success_clears_them() {
        let l = Limits::new(&config());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(!l.login_failed(ip, "alice"));
        l.login_succeeded(ip, "alice");
        assert!(!l.login_failed(ip, "alice"));
        assert!(!l.login_failed(ip, "alice"));
        assert!(l.login_failed(ip, "alice"));
        let e = l.login_attempt(ip, "alice").unwrap_err();
        assert!(
            e.what.contains("alice") && e.retry_after > Duration::from_secs(50),
            "{e:?}"
        );
        assert!(l.login_attempt(ip, "bob").is_ok(), "other users are not held back");
        assert!(l.login_attempt(other, "alice").is_ok(), "nor the user from elsewhere");
    }

    #[test]
    fn failures_tracked_stay_bounded() {
        let l = Limits::new(&config());
        for i in 0..(MAX_TRACKED as u32 + 50) {
            l.login_failed(IpAddr::from(i.to_be_bytes()), "alice");
        }
        assert!(l.failures.lock().unwrap().len() <= MAX_TRACKED);
    }

    #[test]
    fn an_address_is_limited_across_usernames() {
        let l = Limits::new(&config());
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for i in 0..5 {
            l.login_attempt(ip, &format!("user{i}")).unwrap();
        }
        assert!(l.login_attempt(ip, "user9").is_err());
        assert!(l.login_attempt("10.0.0.10".parse().unwrap(), "user9").is_ok());
    }

    #[test]
    fn proposals_are_limited_per_user() {
        let l = Limits::new(&config());
        l.proposal("a").unwrap();
        l.proposal("a").unwrap();
        assert!(l.proposal("a").is_err());
        l.proposal("b").unwrap();
    }
}
