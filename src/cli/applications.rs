//! `application show` and `outbox failed`: reading what the doors and the worker wrote.

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;

#[derive(Subcommand)]
pub(super) enum ApplicationCommand {
    /// Print an application with its candidate, scoring, steps, attachments and consents.
    Show {
        /// The application's id.
        id: Uuid,
    },
}

#[derive(Subcommand)]
pub(super) enum OutboxCommand {
    /// List the emails given up on after MAIL_MAX_ATTEMPTS failed tries: a JSON array of
    /// {id, application_id, kind, recipient, attempts, last_error, failed_at}, most recent first.
    Failed,
}

/// CONTRACT §10 and §12: the application with its candidate, scoring, steps, attachments and consents.
pub(super) async fn application_json(db: &PgPool, id: Uuid) -> anyhow::Result<serde_json::Value> {
    use crate::domain::timestamp::format;
    let details = db::job_applications::details(db, id).await?.ok_or_else(|| anyhow!("no application with id {id}"))?;
    let steps = db::job_applications::steps(db, id).await?;
    let attachments = db::application_attachments::for_application(db, id).await?;
    let consents = db::application_consents::for_application(db, id).await?;
    Ok(json!({
        "id": details.id,
        "company_id": details.company_id,
        "job_offer_id": details.job_offer_id,
        "status": details.status,
        "source": details.source,
        "cover_letter": details.cover_letter,
        "created_at": format(&details.created_at),
        "updated_at": format(&details.updated_at),
        "candidate": {
            "id": details.candidate_id,
            "email": details.email,
            "first_name": details.first_name,
            "last_name": details.last_name,
            "phone": details.phone,
            "linkedin_url": details.linkedin_url,
            "cv": details.cv_object_key.as_ref().map(|key| json!({
                "object_key": key,
                "content_type": details.cv_content_type,
                "size_bytes": details.cv_size_bytes,
            })),
        },
        "scoring": {
            "status": details.scoring_status,
            "rating": details.rating,
            "ai_resume_summary": details.ai_resume_summary,
            "first_impression_text": details.first_impression_text,
            "cv_text_source": details.cv_text_source,
        },
        "steps": steps.iter().map(|(status, at)| json!({"status": status, "created_at": format(at)})).collect::<Vec<_>>(),
        "attachments": attachments,
        "consents": consents,
    }))
}
