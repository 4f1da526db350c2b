//! Per-IP rate limiting (CONTRACT §3): a fixed 60-second window, counted before the API key is checked.
//!
//! Windows are aligned on the clock (`unix_seconds / 60`), so every instance agrees on them and a window's
//! counter can expire with it. One instance counts in memory; with `REDIS_URL`, instances share counters in
//! Redis (`INCR` + `EXPIRE … NX`), so the limit holds across a fleet.
//!
//! CONTRACT §11: the in-memory table is bounded (`RATE_LIMIT_MAX_ADDRESSES`) by forgetting the addresses that
//! asked least, never by refusing unknown ones, so a flood of addresses cannot lock out a bystander; and a
//! Redis that does not answer within [`REDIS_DEADLINE`] lets the request through.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::extract::OriginalUri;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::AppState;
use super::client_ip::{ClientIp, client_ip};
use super::error::{error_shape, shaped_error_response};

pub const WINDOW_SECONDS: u64 = 60;
/// CONTRACT §11: the most a Redis outage may add to a request.
pub const REDIS_DEADLINE: Duration = Duration::from_millis(50);
/// After Redis failed, it is asked again after this long; meanwhile requests pass without waiting on it.
const REDIS_RETRY_AFTER: Duration = Duration::from_millis(500);

static LIMIT_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

pub struct RateLimiter {
    limit: u32,
    counters: Counters,
}

enum Counters {
    Memory(Mutex<MemoryWindow>),
    Redis {
        connection: ConnectionManager,
        key_prefix: String,
        /// Milliseconds since `started` before which Redis is not asked (it just failed); 0 when healthy.
        skip_until: AtomicU64,
        started: Instant,
    },
}

struct MemoryWindow {
    window: u64,
    counts: HashMap<IpAddr, u32>,
    max_addresses: usize,
}

/// The outcome for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitWindow {
    pub limit: u32,
    pub remaining: u32,
    /// Set when the request is refused: seconds until the window ends, at least 1.
    pub retry_after: Option<u64>,
}

impl RateLimiter {
    pub fn in_memory(limit: u32) -> Self {
        Self::in_memory_bounded(limit, DEFAULT_MAX_ADDRESSES)
    }

    /// Tracks at most `max_addresses` addresses per window (`RATE_LIMIT_MAX_ADDRESSES`).
    pub fn in_memory_bounded(limit: u32, max_addresses: usize) -> Self {
        let window = MemoryWindow { window: 0, counts: HashMap::new(), max_addresses: max_addresses.max(1) };
        RateLimiter { limit, counters: Counters::Memory(Mutex::new(window)) }
    }

    /// Counters in Redis. The connection is made on first use and remade after failures, so the server
    /// starts, and counting resumes, whenever Redis is there (CONTRACT §11).
    pub async fn redis(limit: u32, url: &str, key_prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("REDIS_URL is not a Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_DEADLINE))
            .set_response_timeout(Some(REDIS_DEADLINE))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .context("cannot set up the Redis connection (REDIS_URL)")?;
        let skip_until = AtomicU64::new(0);
        let counters =
            Counters::Redis { connection, key_prefix: key_prefix.to_owned(), skip_until, started: Instant::now() };
        Ok(RateLimiter { limit, counters })
    }

    /// Addresses tracked in memory now (0 with Redis): what the memory bound bounds.
    pub fn tracked_addresses(&self) -> usize {
        match &self.counters {
            Counters::Memory(state) => state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).counts.len(),
            Counters::Redis { .. } => 0,
        }
    }

    pub async fn check(&self, ip: IpAddr) -> RateLimitWindow {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let window = now / WINDOW_SECONDS;
        let seconds_left = (WINDOW_SECONDS - now % WINDOW_SECONDS).max(1);
        let key = bucket(ip);
        let count = match &self.counters {
            Counters::Memory(state) => count_in_memory(state, window, key),
            Counters::Redis { connection, key_prefix, skip_until, started } => {
                let allowed = RateLimitWindow { limit: self.limit, remaining: self.limit, retry_after: None };
                let elapsed = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                if elapsed() < skip_until.load(Ordering::Relaxed) {
                    return allowed;
                }
                let redis_key = format!("{key_prefix}:ratelimit:{key}:{window}");
                let counted = tokio::time::timeout(
                    REDIS_DEADLINE,
                    count_in_redis(connection.clone(), &redis_key, seconds_left + 1),
                )
                .await;
                match counted {
                    Ok(Ok(count)) => {
                        skip_until.store(0, Ordering::Relaxed);
                        count
                    }
                    failed => {
                        // Losing the limit for a moment is better than turning candidates away (fail open);
                        // Redis is asked again shortly, so counting resumes by itself.
                        let error = match failed {
                            Ok(Err(error)) => error.to_string(),
                            _ => format!("no answer within {REDIS_DEADLINE:?}"),
                        };
                        if skip_until.swap(elapsed() + REDIS_RETRY_AFTER.as_millis() as u64, Ordering::Relaxed) == 0 {
                            tracing::warn!(%error, "rate limit counter unavailable in Redis; requests allowed");
                        }
                        return allowed;
                    }
                }
            }
        };
        let limit = u64::from(self.limit);
        RateLimitWindow {
            limit: self.limit,
            remaining: limit.saturating_sub(count) as u32,
            retry_after: (count > limit).then_some(seconds_left),
        }
    }
}

/// IPv6 clients are counted per /64, the block a single subscriber usually holds: counting single IPv6
/// addresses would let one client rotate through billions of them.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let masked = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(masked.into())
        }
        v4 => v4,
    }
}

/// `RATE_LIMIT_MAX_ADDRESSES`' default: about 3 MiB of counters.
pub const DEFAULT_MAX_ADDRESSES: usize = 100_000;

fn count_in_memory(state: &Mutex<MemoryWindow>, window: u64, key: IpAddr) -> u64 {
    let mut state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if state.window != window {
        // A new window: every old counter is expired at once, which is what bounds memory over time.
        state.window = window;
        state.counts.clear();
    }
    if let Some(count) = state.counts.get_mut(&key) {
        *count = count.saturating_add(1);
        return u64::from(*count);
    }
    if state.counts.len() >= state.max_addresses {
        let max = state.max_addresses;
        forget_lightest(&mut state.counts, max);
    }
    state.counts.insert(key, 1);
    1
}

/// CONTRACT §11: frees a quarter of a full table by forgetting the addresses with the fewest requests.
/// Forgetting only ever lowers a count, so no client is refused while under its limit; the price is that a
/// flooding address forgotten this way may send a few requests more than its limit.
fn forget_lightest(counts: &mut HashMap<IpAddr, u32>, max_addresses: usize) {
    let target = max_addresses - max_addresses / 4;
    let before = counts.len();
    let mut threshold: u32 = 1;
    while counts.len() >= target.max(1) {
        counts.retain(|_, count| *count > threshold);
        if threshold == u32::MAX {
            break;
        }
        threshold = threshold.saturating_mul(2);
    }
    tracing::warn!(
        before,
        after = counts.len(),
        below = threshold,
        "rate limiter table full: forgot the addresses with the fewest requests"
    );
}

async fn count_in_redis(mut connection: ConnectionManager, key: &str, ttl_seconds: u64) -> redis::RedisResult<u64> {
    let (count,): (u64,) = redis::pipe()
        .atomic()
        .incr(key, 1)
        .cmd("EXPIRE")
        .arg(key)
        .arg(ttl_seconds)
        .arg("NX")
        .ignore()
        .query_async(&mut connection)
        .await?;
    Ok(count)
}

/// The middleware in front of every career-site route.
pub async fn limit_by_client_ip(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    OriginalUri(uri): OriginalUri,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(peer.ip(), request.headers(), &state.trusted_proxies, state.client_ip_header);
    request.extensions_mut().insert(ClientIp(ip));
    let window = state.rate_limiter.check(ip).await;
    let mut response = match window.retry_after {
        Some(retry_after) => {
            crate::observability::rate_limit_refused(crate::observability::RateLimit::PerIp);
            let mut refused = shaped_error_response(
                error_shape(uri.path()),
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests. Please retry later.".to_owned(),
            );
            refused.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(retry_after));
            refused
        }
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(LIMIT_HEADER.clone(), HeaderValue::from(window.limit));
    headers.insert(REMAINING_HEADER.clone(), HeaderValue::from(window.remaining));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_window_refuses_past_the_limit() {
        let limiter = RateLimiter::in_memory(3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for expected in [2, 1, 0] {
            let w = limiter.check(ip).await;
            assert_eq!((w.remaining, w.retry_after), (expected, None));
        }
        let refused = limiter.check(ip).await;
        assert_eq!(refused.remaining, 0);
        let retry = refused.retry_after.unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        // Another client is not affected.
        assert_eq!(limiter.check("192.0.2.2".parse().unwrap()).await.remaining, 2);
    }

    #[tokio::test]
    async fn a_flood_of_addresses_stays_bounded_and_never_refuses_a_bystander() {
        let limiter = RateLimiter::in_memory_bounded(100, 10_000);
        let bystander: IpAddr = "192.0.2.200".parse().unwrap();
        for _ in 0..50 {
            assert_eq!(limiter.check(bystander).await.retry_after, None);
        }
        // 300,000 distinct addresses, as many as a flood through a trusted proxy can forge in a window.
        for i in 0u32..300_000 {
            let ip = IpAddr::V4((0x0a00_0000 + i).into());
            let w = limiter.check(ip).await;
            assert_eq!(w.retry_after, None, "a first request is never refused");
            if i % 3 == 0 {
                // Some flooders send several requests: the table keeps them rather than the bystander's peers.
                limiter.check(ip).await;
            }
            assert!(limiter.tracked_addresses() <= 10_000);
        }
        for expected_remaining in (0..50).rev() {
            let w = limiter.check(bystander).await;
            assert_eq!(w.retry_after, None, "the bystander is under its limit");
            assert!(w.remaining >= expected_remaining);
        }
        assert!(limiter.tracked_addresses() <= 10_000);
    }

    #[tokio::test]
    async fn heavy_clients_are_still_counted_when_the_table_is_full() {
        let limiter = RateLimiter::in_memory_bounded(5, 100);
        let heavy: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..5 {
            limiter.check(heavy).await;
        }
        for i in 0u32..1_000 {
            limiter.check(IpAddr::V4((0x0a00_0000 + i).into())).await;
        }
        assert!(limiter.check(heavy).await.retry_after.is_some(), "the heaviest address is never forgotten first");
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(bucket(a), bucket(b));
        assert_ne!(bucket(a), bucket(c));
    }
}
