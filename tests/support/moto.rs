//! A real moto S3 server (`python3 -m moto.server`, from PyPI `moto[server]`) on a free loopback port,
//! for tests that need S3: started per test, killed when dropped. Moto accepts any credentials and
//! does not check signatures, so buckets can be made and objects inspected with plain HTTP.
//!
//! Use it with `#[path = "support/moto.rs"] mod moto;`. The interpreter is `TALQO_PYTHON` when set,
//! else `python3`.

// Each test binary that includes this file uses only part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Credentials moto accepts; any would do.
pub const ACCESS_KEY_ID: &str = "moto-test-access-key";
pub const SECRET_ACCESS_KEY: &str = "moto-test-secret-key";
pub const REGION: &str = "us-east-1";

/// Moto refuses anonymous reads of private objects (403) but does not verify signatures: any
/// SigV4-shaped `Authorization` header makes a plain request count as the owner's.
const UNVERIFIED_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=moto-test-access-key/20260101/us-east-1/s3/aws4_request, \
    SignedHeaders=host, Signature=0000";

const READY_WITHIN: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 3;

pub struct MotoServer {
    child: Option<Child>,
    port: u16,
    log: tempfile::NamedTempFile,
    http: reqwest::Client,
}

impl MotoServer {
    /// Starts moto and waits until it answers HTTP. Panics (with moto's output) if it cannot start.
    pub async fn start() -> Self {
        let mut last_failure = String::new();
        // The port is found free then handed to moto, so another process may take it in between:
        // moto then exits at once, and a new port is tried.
        for _ in 0..START_ATTEMPTS {
            match Self::try_start().await {
                Ok(server) => return server,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("moto did not start ({START_ATTEMPTS} attempts): {last_failure}");
    }

    async fn try_start() -> Result<Self, String> {
        let port = free_loopback_port();
        let log = tempfile::NamedTempFile::new().map_err(|error| error.to_string())?;
        let python = std::env::var("TALQO_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.reopen().map_err(|error| error.to_string())?)
            .stderr(log.reopen().map_err(|error| error.to_string())?)
            .spawn()
            .map_err(|error| {
                format!("cannot run `{python} -m moto.server` ({error}); install it with pip install 'moto[server]'")
            })?;
        let mut server = Self { child: Some(child), port, log, http: reqwest::Client::new() };
        server.wait_until_ready().await?;
        Ok(server)
    }

    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("moto exited with {status}: {}", self.output()));
            }
            let probe = self.http.get(self.endpoint()).timeout(Duration::from_secs(2)).send().await;
            if probe.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("moto did not answer within {READY_WITHIN:?}: {}", self.output()))
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a bucket with an unsigned `PUT /<bucket>`.
    pub async fn create_bucket(&self, bucket: &str) {
        let response =
            self.http.put(format!("{}/{bucket}", self.endpoint())).send().await.expect("moto answers bucket creation");
        assert!(response.status().is_success(), "creating bucket {bucket}: {}", response.status());
    }

    /// `HEAD /<bucket>/<key>` as the bucket's owner: the object's status and headers (content type,
    /// length) as stored.
    pub async fn head_object(&self, bucket: &str, key: &str) -> reqwest::Response {
        self.http
            .head(format!("{}/{bucket}/{key}", self.endpoint()))
            .header(reqwest::header::AUTHORIZATION, UNVERIFIED_AUTHORIZATION)
            .send()
            .await
            .expect("moto answers HEAD")
    }

    /// Stops the server now (to simulate an outage); dropping does the same.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already exited is fine: either way, nothing listens any more once `wait` returns.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What moto printed so far, for failure messages.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.log.path().to_owned()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_loopback_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}
