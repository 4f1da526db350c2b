//! A candidate in a real headless Chromium (Debian's `chromium`, driven by tests/browser/pages.mjs through
//! playwright-core): list → offer → a refused form → a sent one → the thank-you page, then the closed offer;
//! axe-core on the list, offer, error and thank-you pages. The application is then looked for in the database.

use std::process::Command;

use serde_json::Value;

use crate::{BASE_URL, acme, closed_offer, corpus_cv, spawn};

fn browser_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Installs the runner's npm packages (playwright-core, axe-core; never a browser of their own) when they are
/// missing, as the S3 and SMTP tests start their servers: the README's test command needs nothing more.
fn install_the_runner_once() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        if browser_dir().join("node_modules/playwright-core").exists() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(browser_dir())
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .status()
            .expect("npm runs (Node.js is needed for the browser test)");
        assert!(status.success(), "npm ci in tests/browser failed");
    });
}

#[tokio::test]
async fn a_candidate_applies_from_a_real_browser() {
    tokio::task::spawn_blocking(install_the_runner_once).await.unwrap();
    let app = spawn(&[]).await;
    let (company, offer) = acme(&app).await;
    let closed = closed_offer(&app, &company).await;
    let email = "camille.martin@example.com";
    let base = format!("http://{}", app.address);
    let closed_path = format!("/jobs/acme/{}", closed.id);
    let cv = corpus_cv();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(browser_dir().join("pages.mjs"))
            .args(["--base", &base, "--company", "acme", "--closed", &closed_path, "--email", email])
            .arg("--cv")
            .arg(cv)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_str(stdout.trim()).expect("the runner prints one JSON report");

    for page in ["list", "offer", "error", "thank_you"] {
        assert_eq!(report["axe"][page], Value::Array(vec![]), "axe: serious or critical violations on {page}");
    }
    assert!(report["off_origin_requests"].as_array().unwrap().is_empty(), "{report}");
    assert!(report["dialogs"].as_array().unwrap().is_empty(), "a script ran: {report}");
    for count in ["scripts", "javascript_links", "iframes"] {
        assert_eq!(report["description"][count], 0, "{count}: {report}");
    }
    assert!(report["description"]["text"].as_str().unwrap().contains("<script>window.xss"), "shown as text");
    for page in ["list", "offer"] {
        let bytes = report["bytes"][page].as_u64().unwrap();
        assert!(bytes > 0 && bytes < 50_000, "{page} weighs {bytes} bytes");
    }

    let posting = &report["json_ld"];
    assert_eq!(posting["@type"], "JobPosting");
    assert_eq!(posting["url"], format!("{BASE_URL}/jobs/acme/{}", offer.id));
    assert_eq!(posting["directApply"], true);

    let error = &report["error_page"];
    assert_eq!(error["status"], 400);
    assert!(error["summary_links"].as_array().unwrap().contains(&Value::from("#email")), "{error}");
    assert_eq!(error["email_invalid"], "true");
    assert_eq!(error["email_describedby"], "email-error");
    assert!(error["email_message"].as_str().unwrap().contains("adresse e-mail valide"), "{error}");
    let kept = &error["kept"];
    assert_eq!(kept["first_name"], "Camille");
    assert_eq!(kept["last_name"], "Martin");
    assert_eq!(kept["email"], "camille.martin-at-example.com");
    assert_eq!(kept["phone"], "+33 6 12 34 56 78");
    assert_eq!(kept["cover_letter"], "Votre produit m’intéresse beaucoup.");
    assert_eq!(kept["consent"], true);

    assert_eq!(report["thank_you"]["status"], 200);
    assert_eq!(report["thank_you"]["heading"], "Candidature envoyée");
    let closed_report = &report["closed"];
    assert_eq!(closed_report["status"], 410);
    assert_eq!(closed_report["forms"], 0);
    assert_eq!(closed_report["json_ld"], 0);
    assert_eq!(closed_report["robots"], "noindex");

    // The application, its first step and its email are in the database.
    let (application_id, status, source): (uuid::Uuid, String, String) = sqlx::query_as(
        "SELECT a.id, a.status, a.source FROM job_applications a JOIN candidates c ON c.id = a.candidate_id
         WHERE c.email = $1 AND a.job_offer_id = $2",
    )
    .bind(email)
    .bind(offer.id)
    .fetch_one(&app.db)
    .await
    .expect("the application exists");
    assert_eq!((status.as_str(), source.as_str()), ("new", "job_link"));
    let step: String = sqlx::query_scalar("SELECT status FROM candidate_steps WHERE application_id = $1")
        .bind(application_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(step, "awaiting_advance");
    let recipient: String = sqlx::query_scalar("SELECT recipient FROM email_outbox WHERE application_id = $1")
        .bind(application_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(recipient, email);
}
