//! `import-client create|list|revoke` and the offers' `recruitment_id` on the command line (CONTRACT §12), run as
//! the real binary against a fresh database; and the migration numbering existing offers.

use std::borrow::Cow;
use std::process::{Command, Output};

use serde_json::Value;
use uuid::Uuid;

use crate::common::{TestApp, postgres_base_url};

struct Cli {
    database_url: String,
    db_name: String,
}

impl Cli {
    fn new() -> Cli {
        let db_name = format!("talqo_test_{}", Uuid::new_v4().simple());
        Cli { database_url: format!("{}/{db_name}", postgres_base_url()), db_name }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_talqo-server"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .current_dir(std::env::temp_dir())
            .output()
            .expect("run talqo-server")
    }

    fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("one JSON value")
    }

    fn failure(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(output.stdout.is_empty());
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let db_name = self.db_name.clone();
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&format!("{}/postgres", postgres_base_url())).await {
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"))
                        .execute(&admin)
                        .await
                        .ok();
                }
            });
        })
        .join()
        .ok();
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn import_clients_are_created_listed_and_revoked_and_their_secret_is_shown_once() {
    let cli = Cli::new();
    let company = cli.json(&["company", "create", "--name", "Acme"]);
    let production = cli.json(&["import-client", "create", "--company", "acme", "--label", "ATS"]);
    assert_eq!(
        keys(&production),
        ["client_id", "client_secret", "company_id", "created_at", "environment", "id", "label"]
    );
    assert_eq!(production["environment"], "production");
    assert_eq!(production["company_id"], company["id"]);
    assert_eq!(production["label"], "ATS");
    let sandbox = cli.json(&["import-client", "create", "--company", company["id"].as_str().unwrap(), "--sandbox"]);
    assert_eq!(sandbox["environment"], "sandbox");
    assert_eq!(sandbox["label"], "");

    let list = cli.json(&["import-client", "list", "--company", "acme"]);
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 2);
    assert_eq!(
        keys(&list[0]),
        ["client_id", "company_id", "created_at", "environment", "id", "label", "last_used_at", "revoked_at"]
    );
    assert!(!list.iter().any(|c| c.to_string().contains(production["client_secret"].as_str().unwrap())));

    let id = production["id"].as_str().unwrap();
    let revoked = cli.json(&["import-client", "revoke", id]);
    let first_time = revoked["revoked_at"].as_str().expect("revoked").to_owned();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = cli.json(&["import-client", "revoke", id]);
    assert_eq!(again["revoked_at"], first_time.as_str());
    assert!(cli.failure(&["import-client", "revoke", &Uuid::new_v4().to_string()]).contains("no import client"));
    assert!(cli.failure(&["import-client", "list", "--company", "nope"]).contains("no company"));
}

#[test]
fn offers_get_a_recruitment_id_that_operators_may_set_but_not_reuse() {
    let cli = Cli::new();
    cli.json(&["company", "create", "--name", "Acme"]);
    let given = cli.json(&["offer", "create", "--company", "acme", "--title", "Kept", "--recruitment-id", "67890"]);
    assert_eq!(given["recruitment_id"], 67890);
    let automatic = cli.json(&["offer", "create", "--company", "acme", "--title", "Auto"]);
    let automatic_id = automatic["recruitment_id"].as_i64().expect("a recruitment_id");
    assert!(automatic_id >= 1 && automatic_id != 67890);
    let taken = cli.failure(&["offer", "create", "--company", "acme", "--title", "Dup", "--recruitment-id", "67890"]);
    assert!(taken.contains("already taken"), "{taken}");
    let offer_id = automatic["id"].as_str().unwrap();
    assert!(cli.failure(&["offer", "update", offer_id, "--recruitment-id", "67890"]).contains("already taken"));
    let updated = cli.json(&["offer", "update", offer_id, "--recruitment-id", "9007199254740991"]);
    assert_eq!(updated["recruitment_id"], 9_007_199_254_740_991_i64);
    for out_of_range in ["0", "9007199254740992", "-1"] {
        cli.failure(&["offer", "update", offer_id, "--recruitment-id", out_of_range]);
    }
    // offer import: a line's recruitment_id is kept; a line without one keeps the offer's.
    let file = std::env::temp_dir().join(format!("offers-{}.jsonl", Uuid::new_v4()));
    std::fs::write(
        &file,
        format!("{{\"title\":\"Imported\",\"recruitment_id\":555}}\n{{\"id\":\"{offer_id}\",\"title\":\"Renamed\"}}\n"),
    )
    .unwrap();
    assert_eq!(cli.json(&["offer", "import", "--company", "acme", "--file", file.to_str().unwrap()])["imported"], 2);
    let renamed = cli.json(&["offer", "update", offer_id]);
    assert_eq!(
        (renamed["title"].as_str(), renamed["recruitment_id"].as_i64()),
        (Some("Renamed"), Some(9_007_199_254_740_991))
    );
    std::fs::write(&file, "{\"title\":\"Clash\",\"recruitment_id\":555}\n").unwrap();
    let clash = cli.failure(&["offer", "import", "--company", "acme", "--file", file.to_str().unwrap()]);
    assert!(clash.contains("already taken"), "{clash}");
    std::fs::remove_file(&file).ok();
}

#[tokio::test]
async fn the_talqo_api_does_not_show_the_recruitment_id() {
    let app = TestApp::spawn().await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    let offer = app.offer(&company, crate::common::open_offer("Hidden")).await;
    let body: Value = app.get(&format!("/api/job_offers/{}", offer.id), &key).await.json().await.unwrap();
    assert!(body["data"].get("recruitment_id").is_none(), "{body}");
    assert!(offer.recruitment_id >= 1);
}

#[tokio::test]
async fn the_migration_numbers_existing_offers_without_touching_them() {
    let db_name = format!("talqo_test_{}", Uuid::new_v4().simple());
    let url = format!("{}/{db_name}", postgres_base_url());
    let pool = talqo_server::db::connect(&url, 2).await.unwrap();
    let earlier: Vec<_> = talqo_server::db::MIGRATOR.iter().filter(|m| m.version < 20261202000007).cloned().collect();
    let before = sqlx::migrate::Migrator { migrations: Cow::Owned(earlier), ..sqlx::migrate::Migrator::DEFAULT };
    before.run(&pool).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO companies (id, name, slug) VALUES ('00000000-0000-4000-8000-000000000001', 'A', 'a');
         INSERT INTO job_offers (company_id, title, status, updated_at)
         SELECT '00000000-0000-4000-8000-000000000001', 'Offer ' || n, 'open', '2024-01-15T10:00:00Z'
         FROM generate_series(1, 3) AS n;",
    )
    .execute(&pool)
    .await
    .unwrap();
    talqo_server::db::MIGRATOR.run(&pool).await.unwrap();
    let rows: Vec<(i64, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT recruitment_id, updated_at FROM job_offers ORDER BY recruitment_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(rows.iter().all(|r| r.1.to_rfc3339() == "2024-01-15T10:00:00+00:00"));
    // New offers continue after them, skipping a number an operator took.
    sqlx::query("UPDATE job_offers SET recruitment_id = 4 WHERE recruitment_id = 3").execute(&pool).await.unwrap();
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO job_offers (company_id, title) VALUES ('00000000-0000-4000-8000-000000000001', 'New')
         RETURNING recruitment_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(next, 5);
    pool.close().await;
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", postgres_base_url())).await.unwrap();
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)")).execute(&admin).await.ok();
}
