//! A throwaway PostgreSQL cluster for tests that need a database they can stop and start again (outage
//! tests): `initdb` into a temporary directory, `pg_ctl` on a free loopback port, run as the `postgres`
//! OS user when the test runs as root. Never the shared server. The cluster is stopped and its directory
//! removed when the value is dropped.
//!
//! Use it with `#[path = "support/pg_cluster.rs"] mod pg_cluster;`. The binaries are taken from
//! `TALQO_PG_BIN` when set, else `/usr/lib/postgresql/15/bin`.

// Each test binary that includes this file uses only part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct PgCluster {
    /// Holds `data/` (the cluster), the server log and its Unix socket; removed on drop.
    directory: tempfile::TempDir,
    port: u16,
    running: std::sync::atomic::AtomicBool,
}

fn bin_dir() -> PathBuf {
    std::env::var_os("TALQO_PG_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

/// True when this process runs as root, where PostgreSQL refuses to run: it then runs as `postgres`.
fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// Runs a PostgreSQL binary (as `postgres` when we are root); panics with its output when it fails.
fn run_pg(program: &str, args: &[&str]) -> Output {
    let program = bin_dir().join(program);
    let output = if running_as_root() {
        Command::new("runuser").arg("-u").arg("postgres").arg("--").arg(&program).args(args).output()
    } else {
        Command::new(&program).args(args).output()
    }
    .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

impl PgCluster {
    /// Creates a cluster (trust authentication, user `postgres`) and starts it on a free port.
    pub fn start_new() -> PgCluster {
        let directory = tempfile::Builder::new().prefix("talqo-pg-").tempdir().expect("a temporary directory");
        if running_as_root() {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(directory.path())
                .status()
                .expect("run chown");
            assert!(status.success(), "chown of {} to postgres failed", directory.path().display());
        }
        let data = directory.path().join("data");
        run_pg(
            "initdb",
            &["-D", path_str(&data), "--auth=trust", "--username=postgres", "--no-sync", "--encoding=UTF8"],
        );
        let cluster = PgCluster { directory, port: free_port(), running: std::sync::atomic::AtomicBool::new(false) };
        cluster.start();
        cluster
    }

    /// The server URL without a database name (append `/<name>`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_running(&self) -> bool {
        self.running.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts the stopped cluster again on the same port, and waits until it accepts connections.
    pub fn start(&self) {
        if self.is_running() {
            return;
        }
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=50",
            self.port,
            path_str(self.directory.path())
        );
        run_pg(
            "pg_ctl",
            &["-D", path_str(&self.data()), "-l", path_str(&self.log()), "-o", &options, "-w", "-t", "60", "start"],
        );
        self.running.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Stops the cluster at once (`immediate`: connections are cut as in a crash or a network loss) and
    /// waits until it is down.
    pub fn stop(&self) {
        if !self.is_running() {
            return;
        }
        run_pg("pg_ctl", &["-D", path_str(&self.data()), "-m", "immediate", "-w", "-t", "60", "stop"]);
        self.running.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// The server's log, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.directory.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.directory.path().join("server.log")
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.is_running() {
            let program = bin_dir().join("pg_ctl");
            let data = self.data();
            let args = ["-D", path_str(&data), "-m", "immediate", "-w", "stop"];
            // Best effort: a panic in Drop would hide the test's own failure.
            let _ = if running_as_root() {
                Command::new("runuser").arg("-u").arg("postgres").arg("--").arg(&program).args(args).output()
            } else {
                Command::new(&program).args(args).output()
            };
        }
    }
}
