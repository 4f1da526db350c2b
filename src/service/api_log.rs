//! The API log writer (CONTRACT §8): requests hand their log entry to a bounded queue and go on; a background
//! task writes the queue to `api_logs` in batches. A full queue drops entries (counted, warned) rather than
//! slow a request down. On shutdown the queue is drained before the process exits.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::db;
use crate::db::api_logs::ApiLogEntry;

const QUEUE_CAPACITY: usize = 10_000;
const BATCH_SIZE: usize = 500;
/// How long a batch that is not full waits for more entries: under load a batch then holds hundreds of
/// entries (one statement for them all, instead of one per handful), at rest an entry is written this late.
const BATCH_LINGER: Duration = Duration::from_millis(100);
/// `api_keys.last_used_at` is written at most this often per key: each write leaves a version of the key's
/// row that the key lookup of every request steps over until PostgreSQL prunes it.
const TOUCH_INTERVAL: Duration = Duration::from_secs(1);

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
    let mut key_uses = KeyUses::default();
    while receiver.recv_many(&mut batch, BATCH_SIZE).await > 0 {
        let linger = tokio::time::sleep(BATCH_LINGER);
        tokio::pin!(linger);
        while batch.len() < BATCH_SIZE {
            let room = BATCH_SIZE - batch.len();
            tokio::select! {
                received = receiver.recv_many(&mut batch, room) => if received == 0 { break },
                () = &mut linger => break,
            }
        }
        if let Err(error) = db::api_logs::insert_batch(&db, &batch).await {
            tracing::error!(%error, rows = batch.len(), "writing API logs failed; batch dropped");
        }
        key_uses.record(&batch);
        touch_keys(&db, key_uses.take_due(Instant::now())).await;
        batch.clear();
    }
    // The queue is closed (shutdown): the uses not written yet.
    touch_keys(&db, key_uses.take_all()).await;
}

/// `api_keys.last_used_at` rides on the log batches, so authentication never writes.
async fn touch_keys(db: &PgPool, uses: Vec<(Uuid, DateTime<Utc>)>) {
    if uses.is_empty() {
        return;
    }
    let (ids, used_at): (Vec<_>, Vec<_>) = uses.into_iter().unzip();
    if let Err(error) = db::api_keys::touch_last_used(db, &ids, &used_at).await {
        tracing::warn!(%error, "updating api_keys.last_used_at failed");
    }
}

/// The latest use of each key, and when it was last written: a key's first use is written with the batch that
/// logs it, later ones at most every [`TOUCH_INTERVAL`].
#[derive(Default)]
struct KeyUses {
    keys: HashMap<Uuid, KeyUse>,
}

struct KeyUse {
    latest: DateTime<Utc>,
    pending: bool,
    written: Option<Instant>,
}

impl KeyUses {
    fn record(&mut self, batch: &[ApiLogEntry]) {
        for entry in batch {
            let Some(key) = entry.api_key_id else { continue };
            let state =
                self.keys.entry(key).or_insert(KeyUse { latest: entry.created_at, pending: true, written: None });
            state.latest = state.latest.max(entry.created_at);
            state.pending = true;
        }
    }

    /// The pending uses of keys not written in the last [`TOUCH_INTERVAL`]; forgets keys idle since.
    fn take_due(&mut self, now: Instant) -> Vec<(Uuid, DateTime<Utc>)> {
        let recent = |state: &KeyUse| state.written.is_some_and(|at| now.duration_since(at) < TOUCH_INTERVAL);
        let mut due = Vec::new();
        for (key, state) in &mut self.keys {
            if state.pending && !recent(state) {
                due.push((*key, state.latest));
                state.pending = false;
                state.written = Some(now);
            }
        }
        self.keys.retain(|_, state| state.pending || recent(state));
        due
    }

    fn take_all(&mut self) -> Vec<(Uuid, DateTime<Utc>)> {
        self.keys.drain().filter(|(_, state)| state.pending).map(|(key, state)| (key, state.latest)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn use_of(key: Uuid, seconds: i64) -> ApiLogEntry {
        ApiLogEntry {
            company_id: None,
            api_key_id: Some(key),
            method: "GET".to_owned(),
            endpoint: "/api/job_offers".to_owned(),
            status_code: 200,
            latency_ms: 1,
            ip: None,
            user_agent: None,
            request_id: None,
            created_at: DateTime::from_timestamp(seconds, 0).unwrap(),
        }
    }

    #[test]
    fn a_key_is_written_at_its_first_use_then_at_most_once_per_interval_and_at_the_end() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let start = Instant::now();
        let mut uses = KeyUses::default();
        uses.record(&[use_of(a, 10), use_of(a, 12), use_of(b, 11)]);
        let mut due = uses.take_due(start);
        due.sort();
        assert_eq!(due, [(a, use_of(a, 12).created_at), (b, use_of(b, 11).created_at)]);

        uses.record(&[use_of(a, 13)]);
        assert!(uses.take_due(start + Duration::from_millis(500)).is_empty());
        uses.record(&[use_of(a, 14)]);
        assert_eq!(uses.take_due(start + TOUCH_INTERVAL), [(a, use_of(a, 14).created_at)]);

        uses.record(&[use_of(b, 20)]);
        assert_eq!(uses.take_all(), [(b, use_of(b, 20).created_at)]);
        assert!(uses.keys.is_empty());
    }
}
