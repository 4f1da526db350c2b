//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers), outside auth and rate
//! limiting (CONTRACT §10), for load balancers and orchestrators.

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

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match sqlx::query("SELECT 1").execute(&state.db).await {
        Ok(_) => Ok(Json(json!({"status": "success", "data": {"ready": true}}))),
        Err(error) => {
            tracing::warn!(%error, "readiness check: database unreachable");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Database unavailable"))
        }
    }
}
