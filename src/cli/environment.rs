//! The environment variables `--help` lists, with their defaults (kept equal to [`Settings`]'s by a test).

/// One environment variable as `--help` lists it.
pub(super) struct EnvironmentVariable {
    name: &'static str,
    /// The value used when the variable is unset; in parentheses when it is a description, not a value.
    default: &'static str,
    what: &'static str,
}

/// Every variable the server and the commands read (`.env.example` explains each at length). A test checks
/// that this list covers `.env.example` and that each literal default is the one the settings really use.
pub(super) const ENVIRONMENT: &[EnvironmentVariable] = &[
    EnvironmentVariable {
        name: "DATABASE_URL",
        default: crate::config::DEFAULT_DATABASE_URL,
        what: "PostgreSQL; the database is created if missing and migrated at start",
    },
    EnvironmentVariable { name: "DATABASE_MAX_CONNECTIONS", default: "20", what: "connection pool size" },
    EnvironmentVariable {
        name: "LISTEN_ADDR",
        default: "127.0.0.1:8080",
        what: "address and port to serve on (0.0.0.0:8080 to accept other machines)",
    },
    EnvironmentVariable {
        name: "PUBLIC_BASE_URL",
        default: "(http://<LISTEN_ADDR>)",
        what: "base of every link printed or served (job pages, sitemap, feed); 0.0.0.0 is written localhost",
    },
    EnvironmentVariable {
        name: "CAREER_API_RATE_LIMIT_PER_IP",
        default: "100",
        what: "requests per client IP per 60-second window on /api",
    },
    EnvironmentVariable {
        name: "TRUSTED_PROXIES",
        default: "(none)",
        what: "comma-separated CIDRs of proxies whose X-Forwarded-For / X-Real-IP are believed",
    },
    EnvironmentVariable {
        name: "REDIS_URL",
        default: "(unset: counters in memory)",
        what: "Redis shared by every instance for the rate-limit counters",
    },
    EnvironmentVariable { name: "REDIS_KEY_PREFIX", default: "talqo", what: "prefix of every Redis key" },
    EnvironmentVariable {
        name: "PUBLIC_BASE_URL",
        default: "(http://<LISTEN_ADDR>)",
        what: "base of every link the server prints or serves",
    },
    EnvironmentVariable { name: "IMPORT_TOKEN_TTL", default: "1h", what: "lifetime of a Teamio import access token" },
    EnvironmentVariable {
        name: "IMPORT_RATE_LIMIT_PER_COMPANY",
        default: "50",
        what: "Teamio imports and /test calls per company per 60-second window",
    },
    EnvironmentVariable {
        name: "MAX_IMPORT_BODY_BYTES",
        default: "104857600",
        what: "largest Teamio import body, in bytes",
    },
    EnvironmentVariable {
        name: "MAX_ATTACHMENT_BYTES",
        default: "10485760",
        what: "largest decoded Teamio attachment, in bytes",
    },
    EnvironmentVariable { name: "MAX_CV_BYTES", default: "10485760", what: "largest CV accepted, in bytes" },
    EnvironmentVariable {
        name: "STORAGE_URL",
        default: "file://./data",
        what: "where CVs are stored: file://DIR or s3://BUCKET[/PREFIX] (with the AWS_* variables)",
    },
    EnvironmentVariable {
        name: "SPOOL_DIR",
        default: "(the system temp dir)",
        what: "where uploads wait while their request is in flight",
    },
    EnvironmentVariable {
        name: "EXTRACT_MEMORY_MB",
        default: "768",
        what: "address-space limit of the CV text extraction process",
    },
    EnvironmentVariable { name: "EXTRACT_CPU_SECONDS", default: "10", what: "CPU limit of one extraction" },
    EnvironmentVariable { name: "EXTRACT_TIMEOUT", default: "15s", what: "wall-clock limit of one extraction" },
    EnvironmentVariable {
        name: "EXTRACT_WORKER_MAX_JOBS",
        default: "200",
        what: "CVs one extraction worker reads before it is replaced",
    },
    EnvironmentVariable {
        name: "OCR",
        default: "auto",
        what: "auto (on when tesseract and pdftoppm are installed), on or off: read pages without text by OCR",
    },
    EnvironmentVariable { name: "OCR_MAX_PAGES", default: "3", what: "pages of one CV read by OCR at most" },
    EnvironmentVariable { name: "OCR_TIMEOUT", default: "30s", what: "wall-clock limit of the OCR of one CV" },
    EnvironmentVariable { name: "OCR_LANGUAGES", default: "fra+eng", what: "Tesseract languages" },
    EnvironmentVariable {
        name: "EXTRACTOR_EXE",
        default: "(this executable)",
        what: "the binary run for CV extraction",
    },
    EnvironmentVariable { name: "AI_SCORER", default: "builtin", what: "builtin (offline) or openai" },
    EnvironmentVariable {
        name: "OPENAI_API_KEY",
        default: "(unset)",
        what: "Bearer token for AI_SCORER=openai (optional for local servers)",
    },
    EnvironmentVariable {
        name: "OPENAI_BASE_URL",
        default: "https://api.openai.com/v1",
        what: "any OpenAI-compatible chat completions API",
    },
    EnvironmentVariable { name: "OPENAI_MODEL", default: "gpt-4o-mini", what: "model asked to score" },
    EnvironmentVariable { name: "OPENAI_TIMEOUT", default: "30s", what: "bound on one scoring request" },
    EnvironmentVariable {
        name: "MAIL_URL",
        default: "file://./data/mail",
        what: "file://DIR (one .eml per email), smtp://user:pass@host:port[?tls=required] or smtps://…",
    },
    EnvironmentVariable {
        name: "MAIL_FROM",
        default: "Talqo <no-reply@localhost>",
        what: "sender of the emails to candidates",
    },
    EnvironmentVariable {
        name: "MAIL_MAX_ATTEMPTS",
        default: "10",
        what: "failed tries after which an email ends failed (listed by `outbox failed`)",
    },
    EnvironmentVariable {
        name: "MAIL_RETRY_DELAY",
        default: "10s",
        what: "wait after an email's first failed try, doubled after each further one",
    },
    EnvironmentVariable {
        name: "MAIL_SMTP_TIMEOUT",
        default: "10m",
        what: "how long the SMTP server may take to answer a command (RFC 5321)",
    },
    EnvironmentVariable {
        name: "MAIL_LEASE",
        default: "35m",
        what: "how long a worker holds an email it is sending before another may take it over",
    },
    EnvironmentVariable {
        name: "REJECTION_EMAIL_DELAY",
        default: "24h",
        what: "how long after an automatic rejection its email is sent",
    },
    EnvironmentVariable {
        name: "WORKER_INTERVAL",
        default: "1s",
        what: "how often the background worker looks for emails, re-scoring and deletions",
    },
    EnvironmentVariable {
        name: "HEADER_READ_TIMEOUT",
        default: "10s",
        what: "request headers not complete in time: the connection is closed",
    },
    EnvironmentVariable {
        name: "BODY_IDLE_TIMEOUT",
        default: "30s",
        what: "a request body silent this long: 408, spooled upload removed",
    },
    EnvironmentVariable {
        name: "KEEP_ALIVE_TIMEOUT",
        default: "60s",
        what: "idle keep-alive connections are closed after this",
    },
    EnvironmentVariable {
        name: "MAX_CONNECTIONS",
        default: "20000",
        what: "connections served at once (fitted to the open-file limit)",
    },
    EnvironmentVariable {
        name: "SHUTDOWN_TIMEOUT",
        default: "25s",
        what: "after SIGTERM, time given to requests in flight before exit 0",
    },
    EnvironmentVariable {
        name: "CLIENT_IP_HEADER",
        default: "x-forwarded-for",
        what: "the one header believed from TRUSTED_PROXIES (x-forwarded-for, x-real-ip or forwarded)",
    },
    EnvironmentVariable {
        name: "RATE_LIMIT_MAX_ADDRESSES",
        default: "100000",
        what: "addresses the in-memory rate limiter tracks per window",
    },
    EnvironmentVariable {
        name: "DATABASE_CONNECT_TIMEOUT",
        default: "30s",
        what: "how long start-up waits for PostgreSQL",
    },
    EnvironmentVariable {
        name: "DATABASE_ACQUIRE_TIMEOUT",
        default: "1500ms",
        what: "how long a request waits for a database connection before 503",
    },
    EnvironmentVariable {
        name: "ORPHAN_SWEEP_INTERVAL",
        default: "10m",
        what: "how often files left by requests that died are swept (uploads never committed, spool files)",
    },
    EnvironmentVariable {
        name: "API_LOG_RETENTION",
        default: "90d",
        what: "how long api_logs rows are kept (0 keeps them forever)",
    },
    EnvironmentVariable { name: "LOG_FORMAT", default: "text", what: "text or json; logs go to stderr" },
    EnvironmentVariable {
        name: "RUST_LOG",
        default: "info,sqlx=warn,tower_http=info",
        what: "log filter (tracing EnvFilter syntax)",
    },
    EnvironmentVariable {
        name: "AWS_ACCESS_KEY_ID",
        default: "(unset)",
        what: "S3 credentials; without them, web-identity, container or instance credentials",
    },
    EnvironmentVariable { name: "AWS_SECRET_ACCESS_KEY", default: "(unset)", what: "S3 secret key" },
    EnvironmentVariable { name: "AWS_SESSION_TOKEN", default: "(unset)", what: "S3 session token" },
    EnvironmentVariable { name: "AWS_REGION", default: "(unset)", what: "the bucket's region" },
    EnvironmentVariable { name: "AWS_DEFAULT_REGION", default: "(unset)", what: "read when AWS_REGION is unset" },
    EnvironmentVariable {
        name: "AWS_ENDPOINT_URL_S3",
        default: "(unset)",
        what: "S3-compatible endpoint (path-style); wins over AWS_ENDPOINT_URL and AWS_ENDPOINT",
    },
    EnvironmentVariable { name: "AWS_ENDPOINT_URL", default: "(unset)", what: "S3-compatible endpoint" },
    EnvironmentVariable { name: "AWS_ENDPOINT", default: "(unset)", what: "S3-compatible endpoint" },
    EnvironmentVariable {
        name: "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
        default: "(unset)",
        what: "any other AWS_* setting object_store reads is passed on too",
    },
];

/// The `Environment:` section at the end of `--help`.
pub(super) fn environment_help() -> String {
    let width = ENVIRONMENT.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut help = String::from("Environment (also read from ./.env; durations as 30s, 15m, 24h, 2d):\n");
    for variable in ENVIRONMENT {
        let default = if variable.default.starts_with('(') {
            variable.default.to_owned()
        } else {
            format!("[default: {}]", variable.default)
        };
        help.push_str(&format!("  {:width$}  {} {default}\n", variable.name, variable.what));
    }
    help
}

#[cfg(test)]
mod tests {
    use super::ENVIRONMENT;
    use crate::config::Settings;

    #[test]
    fn the_defaults_help_shows_are_the_ones_the_settings_use() {
        let defaults = format!("{:?}", Settings::from_lookup(|_| None).unwrap());
        for variable in ENVIRONMENT.iter().filter(|v| !v.default.starts_with('(')) {
            let set = Settings::from_lookup(|name| (name == variable.name).then(|| variable.default.to_owned()))
                .unwrap_or_else(|e| panic!("{}: {e:#}", variable.name));
            assert_eq!(format!("{set:?}"), defaults, "{} is not {:?} by default", variable.name, variable.default);
        }
        // The comparison sees a wrong default.
        let other =
            Settings::from_lookup(|name| (name == "DATABASE_MAX_CONNECTIONS").then(|| "21".to_owned())).unwrap();
        assert_ne!(format!("{other:?}"), defaults);
    }
}
