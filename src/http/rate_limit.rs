//! Per-IP rate limiting (CONTRACT §3): a fixed 60-second window, counted before the API key is checked.
//!
//! Windows are aligned on the clock (`unix_seconds / 60`), so every instance agrees on them and a window's
//! counter can expire with it. One instance counts in memory; with `REDIS_URL`, instances share counters in
//! Redis (`INCR` + `EXPIRE … NX`), so the limit holds across a fleet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use redis::aio::ConnectionManager;

use super::AppState;
use super::client_ip::{ClientIp, client_ip};
use super::error::ApiError;

pub const WINDOW_SECONDS: u64 = 60;
/// How many addresses one instance tracks in a window before it refuses unknown ones: the memory bound.
const MAX_TRACKED_ADDRESSES: usize = 250_000;

static LIMIT_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

pub struct RateLimiter {
    limit: u32,
    counters: Counters,
}

enum Counters {
    Memory(Mutex<MemoryWindow>),
    Redis { connection: ConnectionManager, key_prefix: String },
}

#[derive(Default)]
struct MemoryWindow {
    window: u64,
    counts: HashMap<IpAddr, u32>,
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
        RateLimiter { limit, counters: Counters::Memory(Mutex::new(MemoryWindow::default())) }
    }

    pub async fn redis(limit: u32, url: &str, key_prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("REDIS_URL is not a Redis URL")?;
        let connection = ConnectionManager::new(client).await.context("cannot connect to Redis (REDIS_URL)")?;
        Ok(RateLimiter { limit, counters: Counters::Redis { connection, key_prefix: key_prefix.to_owned() } })
    }

    pub async fn check(&self, ip: IpAddr) -> RateLimitWindow {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let window = now / WINDOW_SECONDS;
        let seconds_left = (WINDOW_SECONDS - now % WINDOW_SECONDS).max(1);
        let key = bucket(ip);
        let count = match &self.counters {
            Counters::Memory(state) => count_in_memory(state, window, key),
            Counters::Redis { connection, key_prefix } => {
                let redis_key = format!("{key_prefix}:ratelimit:{key}:{window}");
                match count_in_redis(connection.clone(), &redis_key, seconds_left + 1).await {
                    Ok(count) => count,
                    Err(error) => {
                        // Losing the limit for a moment is better than turning candidates away (fail open).
                        tracing::warn!(%error, "rate limit counter unavailable in Redis; request allowed");
                        return RateLimitWindow { limit: self.limit, remaining: self.limit, retry_after: None };
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

fn count_in_memory(state: &Mutex<MemoryWindow>, window: u64, key: IpAddr) -> u64 {
    let mut state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if state.window != window {
        // A new window: every old counter is expired at once, which is what bounds memory over time.
        state.window = window;
        state.counts.clear();
    }
    let tracked = state.counts.len();
    match state.counts.get_mut(&key) {
        Some(count) => {
            *count = count.saturating_add(1);
            u64::from(*count)
        }
        None if tracked >= MAX_TRACKED_ADDRESSES => {
            tracing::warn!(tracked, "rate limiter is tracking its maximum of addresses; new address refused");
            u64::MAX
        }
        None => {
            state.counts.insert(key, 1);
            1
        }
    }
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
    mut request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(peer.ip(), request.headers(), &state.trusted_proxies);
    request.extensions_mut().insert(ClientIp(ip));
    let window = state.rate_limiter.check(ip).await;
    let mut response = match window.retry_after {
        Some(retry_after) => {
            crate::observability::rate_limit_refused(crate::observability::RateLimit::PerIp);
            let mut refused =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests. Please retry later.").into_response();
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

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(bucket(a), bucket(b));
        assert_ne!(bucket(a), bucket(c));
    }
}
