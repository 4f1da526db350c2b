//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers), outside auth and rate
//! limiting (CONTRACT §10), for load balancers and orchestrators.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "success", "data": {"healthy": true}}))
}

/// CONTRACT §11: an orchestrator's probe must get its answer within 1 s, even while connecting to the
/// database hangs or is retried by the pool.
const READINESS_DEADLINE: Duration = Duration::from_millis(800);

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let probe = tokio::time::timeout(READINESS_DEADLINE, crate::db::ping(&state.db)).await;
    match probe {
        Ok(Ok(_)) => Ok(Json(json!({"status": "success", "data": {"ready": true}}))),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check: database unreachable");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Database unavailable"))
        }
        Err(_) => {
            tracing::warn!(deadline = ?READINESS_DEADLINE, "readiness check: no database answer in time");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Database unavailable"))
        }
    }
}
