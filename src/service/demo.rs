//! `talqo-server demo`: a company, a key and a few realistic offers, so a new operator can call the API
//! within a minute. Offers are seeded once. Keys are stored only as hashes, so the demo keeps its key's
//! secret in a file beside its data (`data/demo-api-key`) and shows the same key on every run while that key
//! is active; otherwise it makes a new one and revokes the demo's earlier ones: one active demo key at most.
//! A sample CV is written beside the data, so the apply command works as pasted.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::db::companies::{Company, NewCompany};
use crate::db::job_offers::OfferFields;
use crate::domain::api_key::NewApiKey;
use crate::domain::import_credentials::{ImportEnvironment, NewImportClient};

pub struct SeededDemo {
    pub company: Company,
    pub api_key: String,
    /// Whether `api_key` is the one saved by an earlier run (false: a new key, the earlier ones revoked).
    pub key_reused: bool,
    /// An open offer to apply to.
    pub offer_id: Uuid,
}

const OFFERS: &[(&str, &str, &str, &str)] = &[
    (
        "Full Stack Developer",
        "Paris, France",
        "CDI",
        "# About the role\n\nWe are hiring a full stack developer to build our career platform.\n\n\
         ## You will\n\n- design REST APIs in Rust and TypeScript\n- ship React front-ends\n\
         - run PostgreSQL in production\n\n## You have\n\n- 3+ years of web development\n- a taste for tests",
    ),
    (
        "Data Engineer",
        "Lyon, France",
        "CDI",
        "# About the role\n\nBuild and run our data pipelines: Python, SQL, Airflow and PostgreSQL.\n\n\
         - model data for analytics\n- keep pipelines observable and fast",
    ),
    (
        "Product Designer",
        "Remote",
        "Freelance",
        "# Mission\n\nSix months to redesign our candidate experience with Figma, user interviews and prototypes.",
    ),
    (
        "Customer Success Manager",
        "Bordeaux, France",
        "CDD",
        "# About the role\n\nOnboard and support our customers; French and English spoken.",
    ),
];

/// The label of the demo's key; `demo` revokes the company's other keys with this label.
pub const KEY_LABEL: &str = "demo";
/// Where, in the demo's data folder, the demo key's secret is kept between runs.
pub const KEY_FILE: &str = "demo-api-key";

/// Seeds the demo company and offers (once) and returns the demo's key, reusing the one saved in `key_file`
/// when it is still an active key of the demo company.
pub async fn seed(db: &PgPool, key_file: &Path) -> anyhow::Result<SeededDemo> {
    let company = match db::companies::find_by_id_or_slug(db, "demo").await? {
        Some(company) => company,
        None => {
            let company = db::companies::insert(
                db,
                &NewCompany { name: "Demo Company", slug: "demo", auto_reject_threshold: None, locale: "en" },
            )
            .await?;
            // CONTRACT §13: the demo's job pages show the brand settings a company can make.
            let company = db::companies::update_page_settings(
                db,
                company.id,
                &db::companies::PageSettingsChanges { accent_color: Some(Some("#0f766e")), ..Default::default() },
            )
            .await?
            .unwrap_or(company);
            for (title, location, job_type, description) in OFFERS {
                let fields = OfferFields {
                    title: Some((*title).to_owned()),
                    description: Some((*description).to_owned()),
                    location: Some((*location).to_owned()),
                    job_type: Some((*job_type).to_owned()),
                    status: Some("open".to_owned()),
                    ..OfferFields::default()
                };
                db::job_offers::insert(db, company.id, &fields).await?;
            }
            company
        }
    };
    let (api_key, key_reused) = demo_key(db, &company, key_file).await?;
    let offer_id = db::job_offers::first_open_titled(db, company.id, "Full Stack Developer")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo company has no open offer"))?;
    Ok(SeededDemo { company, api_key, key_reused, offer_id })
}

async fn demo_key(db: &PgPool, company: &Company, key_file: &Path) -> anyhow::Result<(String, bool)> {
    if let Ok(saved) = std::fs::read_to_string(key_file) {
        let saved = saved.trim();
        let caller = crate::service::auth::authenticate(db, saved).await?;
        if caller.is_some_and(|caller| caller.company_id == company.id) {
            return Ok((saved.to_owned(), true));
        }
    }
    let key = NewApiKey::generate()?;
    let record = db::api_keys::insert(db, company.id, &key, KEY_LABEL).await?;
    db::api_keys::revoke_labelled(db, company.id, KEY_LABEL, record.id).await?;
    save_secret(key_file, &key.secret)
        .with_context(|| format!("cannot save the demo key to {}", key_file.display()))?;
    Ok((key.secret, false))
}

/// Written readable by its owner only: it is a working API key.
fn save_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")
}

/// What to paste next: an offer to apply to, and a CV file to apply with.
pub fn instructions(api_key: &str, listen_addr: SocketAddr, offer_id: Uuid, sample_cv: &Path) -> String {
    let base = format!("http://{listen_addr}");
    let cv = sample_cv.display();
    format!(
        "\nDemo company ready. Your API key (kept in data/demo-api-key for the next runs): {api_key}\n\n\
         List the open offers:\n  curl \"{base}/api/job_offers?status=open&per_page=20\" -H \"X-API-Key: {api_key}\"\n\n\
         Search by location:\n  curl \"{base}/api/job_offers?location=paris\" -H \"X-API-Key: {api_key}\"\n\n\
         Apply with the sample CV:\n  curl -X POST \"{base}/api/job_applications\" -H \"X-API-Key: {api_key}\" \\\n    \
         -H \"Origin: https://careers.demo.example\" -F job_offer_id={offer_id} -F first_name=Jean -F last_name=Dupont \\\n    \
         -F email=jean.dupont@example.com -F \"cover_letter=Je suis motivé par ce poste.\" -F \"cv=@{cv};type=application/pdf\"\n\n\
         Then check the application (use the application_id it returned):\n  \
         curl \"{base}/api/job_applications/APPLICATION_ID\" -H \"X-API-Key: {api_key}\"\n\n\
         The API description: {base}/openapi.json\n"
    )
}

/// CONTRACT §13: the demo company's hosted pages, to open in a browser.
pub fn pages_instructions(public_base_url: &str, company: &Company, offer_id: Uuid) -> String {
    use crate::http::pages::urls::{jobs_url, offer_url};
    format!(
        "The demo company's job pages (no integration needed: share these links):\n  {}\n  {}\n",
        jobs_url(public_base_url, &company.slug),
        offer_url(public_base_url, &company.slug, offer_id)
    )
}

/// A one-page PDF CV, written by hand (classic cross-reference table, Helvetica): something to send in the
/// demo without looking for a file.
pub fn sample_cv_pdf() -> Vec<u8> {
    let lines = [
        "Jean Dupont - Full Stack Developer",
        "jean.dupont@example.com - Paris, France",
        "Experience: 5 years building web applications and REST APIs",
        "Skills: Rust, TypeScript, React, PostgreSQL, Docker, tests",
        "Education: MSc Computer Science, Universite Paris-Saclay",
    ];
    let mut content = String::from("BT /F1 12 Tf 72 740 Td 16 TL\n");
    for line in lines {
        content.push_str(&format!("({}) Tj T*\n", line.replace('(', "[").replace(')', "]")));
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    pdf
}

/// A production and a sandbox import client of the demo company (CONTRACT §12), made on each run like the key.
pub struct DemoImportClients {
    pub production: NewImportClient,
    pub sandbox: NewImportClient,
    /// The demo offer's numeric id, for `recruitmentId`.
    pub recruitment_id: i64,
}

pub async fn seed_import_clients(db: &PgPool, seeded: &SeededDemo) -> anyhow::Result<DemoImportClients> {
    let production = NewImportClient::generate()?;
    db::import_clients::insert(db, seeded.company.id, &production, ImportEnvironment::Production, "demo").await?;
    let sandbox = NewImportClient::generate()?;
    db::import_clients::insert(db, seeded.company.id, &sandbox, ImportEnvironment::Sandbox, "demo").await?;
    let recruitment_id = db::job_offers::find(db, seeded.offer_id)
        .await?
        .map(|offer| offer.recruitment_id)
        .ok_or_else(|| anyhow::anyhow!("the demo offer disappeared"))?;
    Ok(DemoImportClients { production, sandbox, recruitment_id })
}

/// The Teamio import session as shell commands to paste: a token, an import with the sample CV, a poll, and the
/// sandbox check (docs/teamio.md walks through the same).
pub fn teamio_instructions(public_base_url: &str, clients: &DemoImportClients, sample_cv: &Path) -> String {
    let base = public_base_url;
    let cv = sample_cv.display();
    let (production_id, production_secret) = (&clients.production.client_id, &clients.production.secret);
    let (sandbox_id, sandbox_secret) = (&clients.sandbox.client_id, &clients.sandbox.secret);
    let recruitment_id = clients.recruitment_id;
    let body = format!(
        "'{{\"firstName\":\"Jane\",\"surname\":\"Smith\",\"email\":\"jane.smith@example.com\",\"recruitmentId\":{recruitment_id},\
         \"attachments\":[{{\"filename\":\"cv.pdf\",\"contentType\":\"application/pdf\",\"type\":\"CV\",\"content\":\"'\"$CV\"'\"}}],\
         \"gdprNotice\":{{}}}}'"
    );
    format!(
        "\nTeamio import API (shown once):\n  production client: {production_id}  secret: {production_secret}\n  \
         sandbox client:    {sandbox_id}  secret: {sandbox_secret}\n\n\
         Get a token, import the sample CV, poll it:\n  \
         TOKEN=$(curl -s -X POST \"{base}/api/v1/auth/token\" -H \"Content-Type: application/json\" \\\n    \
         -d '{{\"username\":\"{production_id}\",\"password\":\"{production_secret}\"}}' | sed -E 's/.*\"accessToken\":\"([^\"]+)\".*/\\1/')\n  \
         CV=$(base64 < \"{cv}\" | tr -d '\\n')\n  \
         REQUEST=$(curl -s -X POST \"{base}/api/v1/candidate-reactions\" -H \"Authorization: Bearer $TOKEN\" \\\n    \
         -H \"Content-Type: application/json\" -d {body} | sed -E 's/.*\"requestUuid\":\"([^\"]+)\".*/\\1/')\n  \
         curl -s \"{base}/api/v1/candidate-reactions/$REQUEST\" -H \"Authorization: Bearer $TOKEN\"\n\n\
         Check a request with the sandbox client (204, nothing stored):\n  \
         SANDBOX=$(curl -s -X POST \"{base}/api/v1/auth/token\" -H \"Content-Type: application/json\" \\\n    \
         -d '{{\"username\":\"{sandbox_id}\",\"password\":\"{sandbox_secret}\"}}' | sed -E 's/.*\"accessToken\":\"([^\"]+)\".*/\\1/')\n  \
         curl -s -o /dev/null -w '%{{http_code}}\\n' -X POST \"{base}/api/v1/candidate-reactions/test\" \\\n    \
         -H \"Authorization: Bearer $SANDBOX\" -H \"Content-Type: application/json\" -d {body}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::sample_cv_pdf;

    #[test]
    fn the_sample_cv_is_a_pdf_with_text() {
        let pdf = sample_cv_pdf();
        let text = pdf_extract::extract_text_from_mem(&pdf).expect("a readable PDF");
        assert!(text.contains("Full Stack Developer"), "{text}");
        assert!(text.contains("PostgreSQL"), "{text}");
    }
}
