//! `offer import`: JSON Lines offers loaded in one transaction, in batches of one multi-row statement each,
//! so a million lines take seconds to minutes and a bad line leaves nothing half-imported.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use crate::db;
use crate::db::job_offers::OfferFields;

const BATCH_SIZE: usize = 5_000;
const PROGRESS_EVERY: u64 = 100_000;
/// An import of at least this many offers is followed by [`db::job_offers::tidy_after_bulk_write`].
const TIDY_AFTER: u64 = 10_000;

pub async fn import_json_lines(db: &PgPool, company_id: Uuid, path: &Path) -> anyhow::Result<u64> {
    let file = tokio::fs::File::open(path).await.with_context(|| format!("cannot open {}", path.display()))?;
    let mut lines = BufReader::with_capacity(1 << 20, file).lines();
    let mut tx = db.begin().await?;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    let (mut line_number, mut imported) = (0u64, 0u64);
    while let Some(line) = lines.next_line().await.with_context(|| format!("reading {}", path.display()))? {
        line_number += 1;
        if line.trim().is_empty() {
            continue;
        }
        batch.push(parse_line(&line).with_context(|| format!("line {line_number}"))?);
        if batch.len() == BATCH_SIZE {
            imported += write_batch(&mut tx, company_id, &batch, line_number).await?;
            batch.clear();
        }
        if line_number % PROGRESS_EVERY == 0 {
            eprintln!("{line_number} lines read, {:.1}s", started.elapsed().as_secs_f64());
        }
    }
    if !batch.is_empty() {
        imported += write_batch(&mut tx, company_id, &batch, line_number).await?;
    }
    tx.commit().await?;
    eprintln!("{imported} offers imported in {:.1}s", started.elapsed().as_secs_f64());
    if imported >= TIDY_AFTER {
        let tidying = Instant::now();
        db::job_offers::tidy_after_bulk_write(db).await.context("vacuuming the listing's counters")?;
        eprintln!("listing counters vacuumed and analyzed in {:.1}s", tidying.elapsed().as_secs_f64());
    }
    Ok(imported)
}

fn parse_line(line: &str) -> anyhow::Result<OfferFields> {
    let fields: OfferFields = serde_json::from_str(line).context("not a JobOffer JSON object")?;
    if fields.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
        bail!("\"title\" is required and must not be blank");
    }
    if fields.status.as_deref().is_some_and(|s| s.trim().is_empty()) {
        bail!("\"status\" must not be blank");
    }
    // CONTRACT §12: integers a JSON client holds exactly.
    if fields.recruitment_id.is_some_and(|id| !(1..=(1i64 << 53) - 1).contains(&id)) {
        bail!("\"recruitment_id\" must be between 1 and 9007199254740991");
    }
    Ok(fields)
}

async fn write_batch(
    tx: &mut sqlx::PgConnection,
    company_id: Uuid,
    batch: &[OfferFields],
    last_line: u64,
) -> anyhow::Result<u64> {
    let written = db::job_offers::import_batch(tx, company_id, batch).await.map_err(|error| {
        match db::violated_constraint(&error) {
            Some("job_offers_recruitment_id_key") => anyhow::anyhow!(
                "the batch ending at line {last_line} gives a recruitment_id already taken by another offer"
            ),
            _ => anyhow::Error::new(error).context(format!("importing the batch ending at line {last_line}")),
        }
    })?;
    if written != batch.len() as u64 {
        bail!(
            "the batch ending at line {last_line} names {} offer ids that belong to another company",
            batch.len() as u64 - written
        );
    }
    Ok(written)
}
