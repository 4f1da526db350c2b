//! What every instance runs beside the HTTP server for the intake: it processes accepted submissions that no
//! live request is processing (imports, and those whose processor died), and sweeps the files a crash left
//! behind (CONTRACT §11 "Crashes": within `ORPHAN_SWEEP_INTERVAL`, no stored file or spool file without a row).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Intake;
use crate::db;

/// How many due submissions one pass takes at most.
const SUBMISSION_BATCH: i64 = 8;

pub struct IntakeBackground {
    pub intake: Arc<Intake>,
    /// How often to look for due submissions.
    pub interval: Duration,
    /// How often to sweep orphans, and how old an unfinished upload must be to count as one.
    pub orphan_sweep_interval: Duration,
}

impl IntakeBackground {
    /// Runs until `shutdown` is cancelled; a pass in progress is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut last_sweep: Option<Instant> = None;
        loop {
            if last_sweep.is_none_or(|at| at.elapsed() >= self.orphan_sweep_interval) {
                if let Err(error) = self.sweep_orphans().await {
                    tracing::warn!(error = format!("{error:#}"), "sweeping orphaned files failed");
                }
                last_sweep = Some(Instant::now());
            }
            match self.intake.process_due(SUBMISSION_BATCH).await {
                // A full batch: more may be waiting.
                Ok(taken) if taken as i64 >= SUBMISSION_BATCH => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(error = format!("{error:#}"), "processing due submissions failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// Spool files no live process holds, and uploads whose request died before committing (their objects
    /// go to the storage deletion queue).
    pub async fn sweep_orphans(&self) -> anyhow::Result<()> {
        let spool_dir = self.intake.spool_dir().to_owned();
        let spool_files = tokio::task::spawn_blocking(move || crate::spool::sweep_orphans(&spool_dir)).await??;
        let mut conn = self.intake.db.acquire().await?;
        let uploads = db::storage_uploads::sweep_abandoned(&mut conn, self.orphan_sweep_interval).await?;
        if spool_files > 0 || uploads > 0 {
            tracing::info!(spool_files, uploads, "swept files left by requests that died");
        }
        Ok(())
    }
}
