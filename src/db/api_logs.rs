//! The `api_logs` table (CONTRACT §8), written in batches by [`crate::service::api_log`].

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// One request to a career-site route. Holds no API key and no request body.
#[derive(Debug, Clone)]
pub struct ApiLogEntry {
    pub company_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub method: String,
    pub endpoint: String,
    pub status_code: u16,
    pub latency_ms: u32,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_batch(db: &PgPool, entries: &[ApiLogEntry]) -> sqlx::Result<()> {
    let company_ids: Vec<Option<Uuid>> = entries.iter().map(|e| e.company_id).collect();
    let key_ids: Vec<Option<Uuid>> = entries.iter().map(|e| e.api_key_id).collect();
    let methods: Vec<&str> = entries.iter().map(|e| e.method.as_str()).collect();
    let endpoints: Vec<&str> = entries.iter().map(|e| e.endpoint.as_str()).collect();
    let statuses: Vec<i16> = entries.iter().map(|e| e.status_code as i16).collect();
    let latencies: Vec<i32> = entries.iter().map(|e| e.latency_ms.min(i32::MAX as u32) as i32).collect();
    let ips: Vec<Option<String>> = entries.iter().map(|e| e.ip.map(|ip| ip.to_string())).collect();
    let agents: Vec<Option<&str>> = entries.iter().map(|e| e.user_agent.as_deref()).collect();
    let request_ids: Vec<Option<&str>> = entries.iter().map(|e| e.request_id.as_deref()).collect();
    let created: Vec<DateTime<Utc>> = entries.iter().map(|e| e.created_at).collect();
    sqlx::query(
        "INSERT INTO api_logs
             (company_id, api_key_id, method, endpoint, status_code, latency_ms, ip, user_agent, request_id, created_at)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::smallint[], $6::int[],
                              $7::inet[], $8::text[], $9::text[], $10::timestamptz[])",
    )
    .bind(&company_ids)
    .bind(&key_ids)
    .bind(&methods)
    .bind(&endpoints)
    .bind(&statuses)
    .bind(&latencies)
    .bind(&ips)
    .bind(&agents)
    .bind(&request_ids)
    .bind(&created)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes up to `batch` rows older than `before`, oldest first, and says how many went. Rows another
/// instance is deleting at the same moment are skipped, not waited for. Served by `api_logs_created_at_idx`.
pub async fn delete_older_than(db: &PgPool, before: DateTime<Utc>, batch: i64) -> sqlx::Result<u64> {
    let deleted = sqlx::query(
        "WITH expired AS (
             SELECT id FROM api_logs WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         DELETE FROM api_logs USING expired WHERE api_logs.id = expired.id",
    )
    .bind(before)
    .bind(batch)
    .execute(db)
    .await?;
    Ok(deleted.rows_affected())
}
