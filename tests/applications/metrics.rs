//! The intake pipeline's metrics: each stage of an application is timed, and a CV whose text cannot be
//! extracted is counted by reason. Counters are compared before and after (one recorder per process).

use crate::fixtures::{Tenant, corpus_bytes, expect_created};
use crate::prometheus::{self, Exposition};

async fn scrape(tenant: &Tenant) -> Exposition {
    let text = tenant.app.client.get(tenant.app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    prometheus::parse(&text).unwrap_or_else(|error| panic!("/metrics is not Prometheus text: {error}\n{text}"))
}

const STAGES: &str = "talqo_pipeline_stage_duration_seconds_count";

#[tokio::test]
async fn every_pipeline_stage_is_timed_and_extraction_failures_are_counted() {
    let tenant = Tenant::start().await;
    let before = scrape(&tenant).await;

    expect_created(tenant.apply(&tenant.form("cv/rendercv_classic_John_Doe.pdf")).await).await;
    let blank = tenant
        .form("cv/rendercv_classic_John_Doe.pdf")
        .person("Ana", "Blank", "ana.blank@example.com")
        .cv("cv.pdf", corpus_bytes("pdf/pdfjs_empty.pdf"));
    expect_created(tenant.apply(&blank).await).await;

    let after = scrape(&tenant).await;
    for (stage, at_least) in [("upload", 2.0), ("extraction", 2.0), ("scoring", 1.0), ("persist", 2.0)] {
        let timed = after.sum(STAGES, &[("stage", stage)]) - before.sum(STAGES, &[("stage", stage)]);
        assert!(timed >= at_least, "{stage}: {timed}");
    }
    let failures = |e: &Exposition| e.sum("talqo_cv_extraction_failures_total", &[("reason", "no_text")]);
    assert!(failures(&after) - failures(&before) >= 1.0);
}
