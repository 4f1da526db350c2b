//! `talqo-server demo`: a company, a key and a few realistic offers, so a new operator can call the API
//! within a minute. Offers are seeded once; each run makes a fresh key (keys are stored only as hashes, so an
//! old one cannot be shown again).

use std::net::SocketAddr;

use sqlx::PgPool;

use crate::db;
use crate::db::companies::{Company, NewCompany};
use crate::db::job_offers::OfferFields;
use crate::domain::api_key::NewApiKey;

pub struct SeededDemo {
    pub company: Company,
    pub api_key: String,
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

pub async fn seed(db: &PgPool) -> anyhow::Result<SeededDemo> {
    let company = match db::companies::find_by_id_or_slug(db, "demo").await? {
        Some(company) => company,
        None => {
            let company = db::companies::insert(
                db,
                &NewCompany { name: "Demo Company", slug: "demo", auto_reject_threshold: None, locale: "en" },
            )
            .await?;
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
    let key = NewApiKey::generate()?;
    db::api_keys::insert(db, company.id, &key, "demo").await?;
    Ok(SeededDemo { company, api_key: key.secret })
}

/// What to paste next.
pub fn instructions(api_key: &str, listen_addr: SocketAddr) -> String {
    let base = format!("http://{listen_addr}");
    format!(
        "\nDemo company ready. Your API key (shown once): {api_key}\n\n\
         List the open offers:\n  curl \"{base}/api/job_offers?status=open&per_page=20\" -H \"X-API-Key: {api_key}\"\n\n\
         Search by location:\n  curl \"{base}/api/job_offers?location=paris\" -H \"X-API-Key: {api_key}\"\n\n\
         The API description: {base}/openapi.json\n"
    )
}
