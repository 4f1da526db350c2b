//! CONTRACT §6 "Extraction": every hostile or broken file of the corpus (encrypted, fuzzed, bombs, XXE, zip
//! slip) is answered 201 or 400 within a minute, never 500 and never a hang, and the server stays healthy; every
//! real CV of the corpus is accepted and scored.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::common::corpus_dir;
use crate::fixtures::{CV_PDF, Form, Tenant, corpus_file, expect_created, stored_application};

const CONCURRENCY: usize = 4;
const PER_FILE_BOUND: Duration = Duration::from_secs(60);

fn corpus_folder(folder: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir().join(folder))
        .unwrap_or_else(|error| panic!("reading corpus/{folder}: {error}"))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What one file got: its status and message, the application's scoring status, and how long it took.
struct Outcome {
    file: String,
    status: u16,
    message: String,
    scoring_status: Option<String>,
    elapsed: Duration,
}

/// Sends every file of `folder` as the CV of a different person, `CONCURRENCY` at a time, each bounded by
/// `PER_FILE_BOUND`.
async fn apply_with_each(tenant: &Arc<Tenant>, folder: &str) -> Vec<Outcome> {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::new();
    for (index, file) in corpus_folder(folder).into_iter().enumerate() {
        let (tenant, slots) = (tenant.clone(), slots.clone());
        let path: PathBuf = corpus_file(&format!("{folder}/{file}"));
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire().await.unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let form = Form::application(tenant.offer.id, CV_PDF)
                .person("Ana", &format!("File{index}"), &format!("file{index}@example.com"))
                .cv(&file, bytes);
            let started = Instant::now();
            let request = tenant.post().multipart(form.build()).send();
            let response = tokio::time::timeout(PER_FILE_BOUND, request)
                .await
                .unwrap_or_else(|_| panic!("{file}: no answer within {PER_FILE_BOUND:?}"))
                .unwrap_or_else(|error| panic!("{file}: {error}"));
            let elapsed = started.elapsed();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_else(|error| panic!("{file}: {error}"));
            let scoring_status = match body["data"]["application_id"].as_str() {
                Some(id) => Some(stored_application(tenant.db(), id.parse().unwrap()).await.scoring_status),
                None => None,
            };
            let message = body["message"].as_str().unwrap_or("").to_owned();
            Outcome { file, status, message, scoring_status, elapsed }
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("a file's task"));
    }
    outcomes
}

fn report(outcomes: &[Outcome]) {
    for o in outcomes {
        eprintln!(
            "{:>3} {:>6} ms {:<11} {:<50} {}",
            o.status,
            o.elapsed.as_millis(),
            o.scoring_status.as_deref().unwrap_or("-"),
            o.file,
            o.message
        );
    }
}

#[tokio::test]
async fn every_hostile_file_is_answered_201_or_400_within_a_minute_and_the_server_survives() {
    let tenant = Arc::new(Tenant::start_with(&[("CAREER_API_RATE_LIMIT_PER_IP", "1000")]).await);
    let outcomes = apply_with_each(&tenant, "bad").await;
    report(&outcomes);
    assert_eq!(outcomes.len(), corpus_folder("bad").len());
    for o in &outcomes {
        match o.status {
            201 => assert!(o.scoring_status.is_some(), "{}", o.file),
            400 => assert!(o.message.starts_with("CV validation failed: "), "{}: {}", o.file, o.message),
            other => panic!("{}: {other} {}", o.file, o.message),
        }
    }

    let health = tenant.app.client.get(tenant.app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let receipt = expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
    assert_eq!(stored_application(tenant.db(), receipt.application_id).await.scoring_status, "scored");
}

#[tokio::test]
async fn every_cv_of_the_corpus_is_accepted_and_scored() {
    let tenant = Arc::new(Tenant::start_with(&[("CAREER_API_RATE_LIMIT_PER_IP", "1000")]).await);
    let outcomes = apply_with_each(&tenant, "cv").await;
    report(&outcomes);
    assert_eq!(outcomes.len(), 19);
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status != 201 || o.scoring_status.as_deref() != Some("scored"))
        .map(|o| format!("{}: {} {:?} {}", o.file, o.status, o.scoring_status, o.message))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}
