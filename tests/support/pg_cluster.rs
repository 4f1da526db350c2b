//! A throwaway PostgreSQL cluster of the test's own, on a free loopback port, that the test may stop and
//! start again (outage tests: the shared server at 5432 is never touched). Self-contained: it needs only the
//! PostgreSQL 15 server binaries (`/usr/lib/postgresql/15/bin`, or `TALQO_PG_BIN`). Run as root, the
//! binaries run as the `postgres` OS user, since PostgreSQL refuses to run as root. The data folder is
//! removed on drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct PgCluster {
    data_dir: PathBuf,
    /// Holds the data folder and the socket folder; removed on drop.
    root: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    as_postgres_user: bool,
}

impl PgCluster {
    /// Creates a cluster (trust authentication, user `postgres`) on a free port and starts it.
    pub fn start_new() -> PgCluster {
        let bin = std::env::var_os("TALQO_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
        let root = tempfile::Builder::new().prefix("talqo-pg-").tempdir().expect("a temporary folder");
        let as_postgres_user = running_as_root();
        if as_postgres_user {
            let chown = Command::new("chown").arg("postgres:postgres").arg(root.path()).status().expect("chown");
            assert!(chown.success(), "chown of the cluster folder to postgres failed");
        }
        let port = free_port();
        let cluster = PgCluster { data_dir: root.path().join("data"), root, port, bin, as_postgres_user };
        cluster.run_checked(
            "initdb",
            &[
                "-D",
                path_str(&cluster.data_dir),
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        cluster.start();
        cluster
    }

    /// Starts (or restarts) the cluster and waits until it accepts connections.
    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            path_str(self.root.path())
        );
        let log = self.root.path().join("postgres.log");
        self.run_checked(
            "pg_ctl",
            &["-D", path_str(&self.data_dir), "-o", &options, "-l", path_str(&log), "-w", "start"],
        );
    }

    /// Stops the cluster at once (`-m immediate`): the outage clients see.
    pub fn stop(&self) {
        self.run_checked("pg_ctl", &["-D", path_str(&self.data_dir), "-m", "immediate", "-w", "stop"]);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's URL, without a database name: append `/<name>`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program).args(args).current_dir(self.root.path()).output().expect("run a PostgreSQL binary")
    }

    fn run_checked(&self, program: &str, args: &[&str]) {
        let output = self.run(program, args);
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Already stopped is fine; the folder goes with `root`.
        self.run("pg_ctl", &["-D", path_str(&self.data_dir), "-m", "immediate", "-w", "stop"]);
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}
