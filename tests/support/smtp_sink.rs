//! A real SMTP server on loopback (tests/support/smtp_sink.py, aiosmtpd) that can be slow or hold each
//! message until told, and counts what reached it.
//!
//! Use it with `#[path = "support/smtp_sink.rs"] mod smtp_sink;`. The interpreter is `TALQO_TEST_PYTHON`
//! when set, else `python3`; it needs aiosmtpd (tests/requirements.txt).

// Each test binary that includes this file uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

pub struct SmtpSink {
    pub port: u16,
    directory: tempfile::TempDir,
    /// Ends of DATA that reached the sink (with `--hold-data`), whether accepted yet or not.
    held: Arc<AtomicUsize>,
    stdin: ChildStdin,
    _child: Child,
}

/// How the sink behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct SinkBehaviour {
    /// Wait this long before answering the end of DATA.
    pub data_delay: Option<Duration>,
    /// Hold each message after its DATA until [`SmtpSink::release`].
    pub hold_data: bool,
    /// Refuse for good (`550`) every recipient containing this text.
    pub refuse_recipients_containing: Option<&'static str>,
}

impl SmtpSink {
    /// Starts the sink on a free loopback port. Panics (naming the fix) when it cannot start.
    pub async fn start(behaviour: SinkBehaviour) -> SmtpSink {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let python = std::env::var("TALQO_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let mut command = Command::new(&python);
        command.arg(&script).arg(directory.path()).arg("0");
        if let Some(delay) = behaviour.data_delay {
            command.arg("--data-delay").arg(delay.as_secs_f64().to_string());
        }
        if behaviour.hold_data {
            command.arg("--hold-data");
        }
        if let Some(text) = behaviour.refuse_recipients_containing {
            command.arg("--refuse-rcpt").arg(text);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {python}: {error}"));
        let stdin = child.stdin.take().expect("the sink's stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("the sink's stdout")).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the SMTP sink starts within 30 s")
            .expect("the sink's stdout")
            .unwrap_or_default();
        let port = first.trim().parse().unwrap_or_else(|_| {
            panic!(
                "the SMTP sink did not start (is aiosmtpd installed for `{python}`? `pip install aiosmtpd`): {first:?}"
            )
        });
        let held = Arc::new(AtomicUsize::new(0));
        let counter = held.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("held ") {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        SmtpSink { port, directory, held, stdin, _child: child }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Messages whose DATA reached the sink and that are held (with `hold_data`), accepted or not yet.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Waits until `count` messages are held; panics after `bound`.
    pub async fn wait_held(&self, count: usize, bound: Duration) {
        let deadline = tokio::time::Instant::now() + bound;
        while self.held() < count {
            assert!(tokio::time::Instant::now() < deadline, "{count} message(s) not held within {bound:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lets one held message be accepted (`250`).
    pub async fn release(&mut self) {
        self.stdin.write_all(b"release\n").await.expect("write to the sink");
        self.stdin.flush().await.expect("flush the sink's stdin");
    }

    /// The `.eml` files of the messages the sink accepted.
    pub fn accepted(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.directory.path())
            .map(|entries| entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect())
            .unwrap_or_default();
        files.retain(|path| path.extension().is_some_and(|extension| extension == "eml"));
        files.sort();
        files
    }

    /// The `Message-ID` header of each accepted message.
    pub fn accepted_message_ids(&self) -> Vec<String> {
        self.accepted()
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .filter_map(|text| {
                text.lines()
                    .find(|line| line.to_ascii_lowercase().starts_with("message-id:"))
                    .map(|line| line["message-id:".len()..].trim().to_owned())
            })
            .collect()
    }
}
