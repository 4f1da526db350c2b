//! CONTRACT §11, outages: a Redis that stops costs each request at most 50 ms and counting resumes when it is
//! back; a PostgreSQL that stops gives 503 with Retry-After within 2 s and /readyz 503 within 1 s, and the
//! server recovers alone; start-up waits for a PostgreSQL that comes up later.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestApp, error_message, open_offer, test_settings};
use crate::pg_cluster::{PgCluster, free_port};

/// A Redis of the test's own, on its own port, without persistence; killed on drop.
struct TestRedis {
    port: u16,
    process: Option<Child>,
}

impl TestRedis {
    fn start(port: u16) -> TestRedis {
        let process = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        TestRedis { port, process: Some(process) }
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().ok();
            process.wait().ok();
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn timed(request: reqwest::RequestBuilder) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let response = request.send().await.expect("an answer");
    (response, started.elapsed())
}

fn remaining(response: &reqwest::Response) -> u32 {
    response.headers()["x-ratelimit-remaining"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_stopped_redis_adds_at_most_50_ms_and_counting_resumes_by_itself() {
    let port = free_port();
    let mut redis = TestRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let app =
        TestApp::spawn_with(test_settings(&[("REDIS_URL", &url), ("CAREER_API_RATE_LIMIT_PER_IP", "1000")])).await;
    let ask = || app.client.get(app.url("/api/job_offers"));

    let mut before = Vec::new();
    for i in 0..10 {
        let (response, took) = timed(ask()).await;
        assert_eq!(remaining(&response), 999 - i, "counted in Redis");
        before.push(took);
    }
    redis.stop();
    let mut during = Vec::new();
    for _ in 0..20 {
        let (response, took) = timed(ask()).await;
        assert_eq!(response.status(), 401, "allowed on to the key check");
        assert_eq!(remaining(&response), 1000, "not counted while Redis is away");
        during.push(took);
    }
    let slowest_before = *before.iter().max().unwrap();
    let slowest_during = *during.iter().max().unwrap();
    println!("slowest request before the outage {slowest_before:?}, during it {slowest_during:?}");
    assert!(
        slowest_during <= slowest_before + Duration::from_millis(50),
        "a request took {slowest_during:?} during the outage (slowest before: {slowest_before:?})"
    );

    let _redis = TestRedis::start(redis.port);
    let back = Instant::now();
    loop {
        let (response, _) = timed(ask()).await;
        if remaining(&response) < 1000 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(10), "counting did not resume within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("counting resumed {:?} after Redis came back", back.elapsed());
}

#[tokio::test]
async fn a_stopped_postgresql_gives_503_fast_and_the_server_recovers_alone() {
    let cluster = tokio::task::spawn_blocking(PgCluster::start_new).await.unwrap();
    let database_url = format!("{}/talqo_outage", cluster.url());
    let app = TestApp::spawn_with(test_settings(&[("DATABASE_URL", &database_url)])).await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    app.offer(&company, open_offer("Rust developer")).await;
    assert_eq!(app.get("/api/job_offers", &key).await.status(), 200);

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    for round in 0..3 {
        let (response, took) = timed(app.client.get(app.url("/api/job_offers")).header("X-API-Key", &key)).await;
        assert_eq!(response.status(), 503, "round {round}");
        assert!(took < Duration::from_secs(2), "503 after {took:?}");
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry_after >= 1);
        assert_eq!(error_message(response).await, "Service temporarily unavailable. Please retry later.");

        let (ready, took) = timed(app.client.get(app.url("/readyz"))).await;
        assert_eq!(ready.status(), 503);
        assert!(took < Duration::from_secs(1), "/readyz answered after {took:?}");
        assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    }

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start();
        cluster
    })
    .await
    .unwrap();
    let back = Instant::now();
    loop {
        let response = app.get("/api/job_offers", &key).await;
        if response.status() == 200 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(15), "still {} after PostgreSQL came back", response.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.client.get(app.url("/readyz")).send().await.unwrap().status(), 200);
    println!("recovered {:?} after PostgreSQL came back", back.elapsed());
    drop(app);
    drop(cluster);
}

#[test]
fn start_up_waits_for_a_postgresql_started_5_s_later_and_says_where() {
    let cluster = PgCluster::start_new();
    cluster.stop();
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_talqo-server"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", format!("{}/talqo_waiting", cluster.url()))
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_CONNECT_TIMEOUT", "30s")
        .env("RUST_LOG", "warn")
        .env("STORAGE_URL", "file:///tmp/talqo-start-up-test/storage")
        .env("MAIL_URL", "file:///tmp/talqo-start-up-test/mail")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    assert!(server.try_wait().unwrap().is_none(), "the server gave up instead of waiting");
    cluster.start();
    let started = Instant::now();
    let ready = loop {
        if readyz_status(port) == Some(200) {
            break true;
        }
        if started.elapsed() > Duration::from_secs(20) || server.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    let output = server.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(ready, "the server did not become ready: {log}");
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(log.contains("waiting for PostgreSQL"), "{log}");
    assert!(log.contains(&cluster.port().to_string()) && log.contains("127.0.0.1"), "host and port named: {log}");
}

#[test]
fn start_up_gives_up_after_database_connect_timeout() {
    let port = free_port();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_talqo-server"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", format!("postgres://postgres@127.0.0.1:{}/nowhere", free_port()))
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_CONNECT_TIMEOUT", "2s")
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(!output.status.success());
    assert!(took >= Duration::from_millis(1_900) && took < Duration::from_secs(10), "gave up after {took:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("PostgreSQL"));
}

/// GET /readyz with a plain socket (this test is synchronous).
fn readyz_status(port: u16) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}
