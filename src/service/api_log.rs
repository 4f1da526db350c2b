//! The API log writer (CONTRACT §8): requests hand their log entry to a bounded queue and go on; a background
//! task writes the queue to `api_logs` in batches. A full queue drops entries (counted, warned) rather than
//! slow a request down. On shutdown the queue is drained before the process exits.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::db;
use crate::db::api_logs::ApiLogEntry;

const QUEUE_CAPACITY: usize = 10_000;
const BATCH_SIZE: usize = 500;

/// The request side of the queue. Cheap to clone.
#[derive(Clone)]
pub struct ApiLogQueue {
    sender: mpsc::Sender<ApiLogEntry>,
    dropped: Arc<AtomicU64>,
}

impl ApiLogQueue {
    /// Never waits: when the queue is full the entry is dropped and counted.
    pub fn record(&self, entry: ApiLogEntry) {
        if self.sender.try_send(entry).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "API log queue full: entries dropped");
            }
        }
    }
}

/// Starts the writer. It ends once every [`ApiLogQueue`] clone is dropped and the queue is written out.
pub fn spawn_writer(db: PgPool) -> (ApiLogQueue, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let queue = ApiLogQueue { sender, dropped: Arc::new(AtomicU64::new(0)) };
    (queue, tokio::spawn(write_batches(db, receiver)))
}

async fn write_batches(db: PgPool, mut receiver: mpsc::Receiver<ApiLogEntry>) {
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    while receiver.recv_many(&mut batch, BATCH_SIZE).await > 0 {
        if let Err(error) = db::api_logs::insert_batch(&db, &batch).await {
            tracing::error!(%error, rows = batch.len(), "writing API logs failed; batch dropped");
        }
        touch_keys(&db, &batch).await;
        batch.clear();
    }
}

/// `api_keys.last_used_at` rides on the log batch, so authentication never writes.
async fn touch_keys(db: &PgPool, batch: &[ApiLogEntry]) {
    let mut latest = HashMap::new();
    for entry in batch {
        if let Some(key) = entry.api_key_id {
            latest.entry(key).and_modify(|at| *at = std::cmp::max(*at, entry.created_at)).or_insert(entry.created_at);
        }
    }
    if latest.is_empty() {
        return;
    }
    let (ids, used_at): (Vec<_>, Vec<_>) = latest.into_iter().unzip();
    if let Err(error) = db::api_keys::touch_last_used(db, &ids, &used_at).await {
        tracing::warn!(%error, "updating api_keys.last_used_at failed");
    }
}
