//! CONTRACT §11, rate-limit memory: a flood of distinct forwarded addresses in one window keeps the table
//! bounded and never refuses a client that was not part of it while that client is under its limit.
//! (The table's exact bound under 300,000 addresses is checked beside the limiter, in src/http/rate_limit.rs.)
//! A test binary of its own: the process's memory is measured, so no other test may run beside it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;

use common::{TestApp, test_settings};

/// Addresses in the flood (TALQO_FLOOD_ADDRESSES overrides: 300000 for the full-size run).
fn flood_size() -> u32 {
    std::env::var("TALQO_FLOOD_ADDRESSES").ok().and_then(|v| v.parse().ok()).unwrap_or(30_000)
}

fn current_window() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 60
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_addresses_leaves_a_bystander_served_and_memory_bounded() {
    let flood = flood_size();
    let max_addresses = (flood / 10).max(100).to_string();
    let app = TestApp::spawn_with(test_settings(&[
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
        ("CAREER_API_RATE_LIMIT_PER_IP", "20"),
        ("RATE_LIMIT_MAX_ADDRESSES", &max_addresses),
    ]))
    .await;
    let ask =
        |client: &'static str| app.client.get(app.url("/api/job_offers")).header("X-Forwarded-For", client).send();
    // A bystander and a heavy client use part of their windows before the flood.
    for _ in 0..10 {
        assert_eq!(ask("192.0.2.10").await.unwrap().status(), 401);
    }
    let window_of_heavy = current_window();
    for _ in 0..20 {
        assert_eq!(ask("192.0.2.66").await.unwrap().status(), 401);
    }
    let rss_before = rss_kib();

    let refused = Arc::new(AtomicUsize::new(0));
    let url = app.url("/api/job_offers");
    futures_util::stream::iter(0..flood)
        .for_each_concurrent(16, |i| {
            let (client, url, refused) = (app.client.clone(), url.clone(), refused.clone());
            async move {
                let address = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
                let response = client.get(&url).header("X-Forwarded-For", address).send().await.unwrap();
                if response.status() == 429 {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await;
    let rss_after = rss_kib();
    assert_eq!(refused.load(Ordering::Relaxed), 0, "a first request is never refused");

    // The bystander has 10 requests left in its window, and gets them all.
    for i in 0..10 {
        let response = ask("192.0.2.10").await.unwrap();
        assert_eq!(response.status(), 401, "bystander request {i} after the flood");
    }
    // The heavy client is still counted: the table forgot the lightest addresses, not it (unless a new
    // 60-second window began meanwhile and every count restarted).
    let heavy = ask("192.0.2.66").await.unwrap().status();
    if current_window() == window_of_heavy {
        assert_eq!(heavy, 429);
    }
    let grown_mib = rss_after.saturating_sub(rss_before) / 1024;
    println!("{flood} addresses: test process RSS {rss_before} KiB -> {rss_after} KiB");
    assert!(grown_mib < 64, "memory grew by {grown_mib} MiB during a flood of {flood} addresses");
}
