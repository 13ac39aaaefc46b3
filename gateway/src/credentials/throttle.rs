//! Sign-in throttling: two keyed GCRA limiters (`governor`), one per account email and one per
//! client address. Every attempt takes one cell of each before its password is hashed, so a
//! flood of guesses costs neither an account's safety nor the node's CPU.
//!
//! The defaults ([`ThrottleConfig::default`]):
//! - per email: a burst of 10 attempts, then one more every 30 s (at most 120 guesses an hour
//!   against one account from anywhere, per node);
//! - per client address: a burst of 30 attempts, then one more every 2 s (30 a minute), enough
//!   for an office behind one NAT signing in at nine o'clock.
//!
//! The limiters live in each node's memory: a cluster of N nodes lets N times as many through.
//! Keys of idle limiters are dropped every [`RETAIN_EVERY`] checks.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Checks between two sweeps of idle keys.
pub const RETAIN_EVERY: u64 = 4096;

/// The quotas of both limiters: a burst, then one attempt more per period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    pub per_account_burst: NonZeroU32,
    pub per_account_period: Duration,
    pub per_address_burst: NonZeroU32,
    pub per_address_period: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_account_burst: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            per_account_period: Duration::from_secs(30),
            per_address_burst: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            per_address_period: Duration::from_secs(2),
        }
    }
}

/// Both limiters.
pub struct Throttle {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("accounts", &self.per_account.len())
            .field("addresses", &self.per_address.len())
            .finish()
    }
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        let quota = |burst: NonZeroU32, period: Duration| {
            // A zero period would mean no limit at all: the smallest one instead.
            Quota::with_period(period.max(Duration::from_nanos(1)))
                .unwrap_or_else(|| Quota::per_second(burst))
                .allow_burst(burst)
        };
        Self {
            per_account: DefaultKeyedRateLimiter::keyed(quota(
                config.per_account_burst,
                config.per_account_period,
            )),
            per_address: DefaultKeyedRateLimiter::keyed(quota(
                config.per_address_burst,
                config.per_address_period,
            )),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one attempt at `account` from `address`: `Err(retry_after)` when a limiter refuses
    /// (the address is asked first; an attempt it refuses costs the account nothing).
    pub fn attempt(&self, account: &str, address: IpAddr) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.per_account.retain_recent();
            self.per_address.retain_recent();
        }
        let clock = DefaultClock::default();
        let at_least = Duration::from_millis(1);
        self.per_address
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(clock.now()).max(at_least))?;
        self.per_account
            .check_key(&account.to_owned())
            .map_err(|not_until| not_until.wait_time_from(clock.now()).max(at_least))
    }
}
