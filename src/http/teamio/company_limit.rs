//! The per-company limit of the import API (CONTRACT §12, step 2): `IMPORT_RATE_LIMIT_PER_COMPANY` requests per
//! company per 60 s window, counting `POST /candidate-reactions` and `/test` together.
//!
//! Same windows as the per-IP limit ([`crate::http::rate_limit`], aligned on the clock), same storage choice (in
//! memory, or shared in Redis with `REDIS_URL`, failing open when Redis does not answer), and the same
//! [`RateLimitWindow`] answer, but counted per company id under keys of their own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::http::rate_limit::{RateLimitWindow, WINDOW_SECONDS};

/// How long a Redis count may take before the request is let through uncounted (CONTRACT §11: at most 50 ms).
const REDIS_BUDGET: std::time::Duration = std::time::Duration::from_millis(50);

pub struct CompanyRateLimiter {
    limit: u32,
    counters: Counters,
}

enum Counters {
    /// One window's counts; companies are few, and the map is emptied when the window turns.
    Memory(Mutex<(u64, HashMap<Uuid, u32>)>),
    Redis {
        connection: ConnectionManager,
        key_prefix: String,
    },
}

impl CompanyRateLimiter {
    pub fn in_memory(limit: u32) -> Self {
        CompanyRateLimiter { limit, counters: Counters::Memory(Mutex::new((0, HashMap::new()))) }
    }

    pub async fn redis(limit: u32, url: &str, key_prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("REDIS_URL is not a Redis URL")?;
        let connection = ConnectionManager::new(client).await.context("cannot connect to Redis (REDIS_URL)")?;
        Ok(CompanyRateLimiter { limit, counters: Counters::Redis { connection, key_prefix: key_prefix.to_owned() } })
    }

    pub async fn check(&self, company_id: Uuid) -> RateLimitWindow {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let window = now / WINDOW_SECONDS;
        let seconds_left = (WINDOW_SECONDS - now % WINDOW_SECONDS).max(1);
        let count = match &self.counters {
            Counters::Memory(state) => {
                let mut state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if state.0 != window {
                    *state = (window, HashMap::new());
                }
                let count = state.1.entry(company_id).or_insert(0);
                *count = count.saturating_add(1);
                u64::from(*count)
            }
            Counters::Redis { connection, key_prefix } => {
                let key = format!("{key_prefix}:import-company:{company_id}:{window}");
                let counted = tokio::time::timeout(REDIS_BUDGET, incr(connection.clone(), &key, seconds_left + 1));
                match counted.await {
                    Ok(Ok(count)) => count,
                    outcome => {
                        let error = match outcome {
                            Ok(Err(error)) => error.to_string(),
                            _ => "timed out".to_owned(),
                        };
                        tracing::warn!(%error, "per-company import counter unavailable in Redis; request allowed");
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

async fn incr(mut connection: ConnectionManager, key: &str, ttl_seconds: u64) -> redis::RedisResult<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_company_has_its_own_count() {
        let limiter = CompanyRateLimiter::in_memory(2);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(limiter.check(a).await.remaining, 1);
        assert_eq!(limiter.check(a).await.remaining, 0);
        let refused = limiter.check(a).await;
        assert!(refused.retry_after.is_some_and(|s| (1..=60).contains(&s)));
        assert_eq!(limiter.check(b).await, RateLimitWindow { limit: 2, remaining: 1, retry_after: None });
    }
}
