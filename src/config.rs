//! Configuration: every setting comes from the environment (and an optional `.env`), with defaults that
//! let the server run with nothing but a reachable PostgreSQL (CONTRACT §10). `.env.example` documents each.
//!
//! Secrets (database and mail passwords, the OpenAI key, the Redis URL's password) never appear in
//! `Debug` output or logs: [`Settings`] implements `Debug` by hand through [`redact_url`].

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use ipnet::IpNet;

use crate::cv::{ExtractionLimits, OcrMode, OcrSettings};
use crate::http::client_ip::ClientIpHeader;
use crate::mail::DeliveryPolicy;

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub database_max_connections: u32,
    pub listen_addr: SocketAddr,
    /// CONTRACT §10, §13: the base of every link the server prints or serves, without a trailing `/`.
    pub public_base_url: String,
    /// CONTRACT §3: requests per client IP per 60 s window.
    pub rate_limit_per_ip: u32,
    /// Peers whose `X-Forwarded-For` / `X-Real-IP` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// With it, rate-limit counters live in Redis and hold across a fleet.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub redis_key_prefix: String,
    pub max_cv_bytes: u64,
    pub storage_url: String,
    pub mail_url: String,
    pub mail_from: String,
    pub rejection_email_delay: Duration,
    /// CONTRACT §11 "Email": bound on connecting to the SMTP server and on each of its replies.
    pub mail_smtp_timeout: Duration,
    /// How the outbox is leased and retried (`MAIL_LEASE`, `MAIL_RETRY_DELAY`, `MAIL_MAX_ATTEMPTS`).
    pub mail_delivery: DeliveryPolicy,
    pub scorer: ScorerKind,
    pub openai_base_url: String,
    pub openai_api_key: Option<String>,
    pub openai_model: String,
    pub openai_timeout: Duration,
    pub extraction: ExtractionLimits,
    /// The binary re-executed for CV extraction; the running executable unless set.
    pub extractor_exe: Option<PathBuf>,
    /// Where multipart CV uploads are spooled while a request is in flight.
    pub spool_dir: PathBuf,
    /// How often the background worker looks for due emails, re-scoring and deletions.
    pub worker_interval: Duration,
    /// CONTRACT §11 "Crashes": how often files left by dead requests are swept, and how long an upload may
    /// stay uncommitted before it counts as one.
    pub orphan_sweep_interval: Duration,
    /// How long `api_logs` rows are kept; zero keeps them forever.
    pub api_log_retention: Duration,
    pub log_format: LogFormat,
    /// CONTRACT §11: how long start-up waits for PostgreSQL to accept connections.
    pub database_connect_timeout: Duration,
    /// CONTRACT §11: how long a request waits for a database connection before answering 503.
    pub database_acquire_timeout: Duration,
    /// CONTRACT §11: the one forwarded header believed from `TRUSTED_PROXIES`.
    pub client_ip_header: ClientIpHeader,
    /// CONTRACT §11: addresses the in-memory rate limiter tracks per window (its memory bound).
    pub rate_limit_max_addresses: usize,
    /// CONTRACT §11: bounds on what slow or idle clients can hold.
    pub connection_limits: ConnectionLimits,
    /// CONTRACT §11: how long requests in flight get after SIGTERM.
    pub shutdown_timeout: Duration,
    /// CONTRACT §12: the Teamio import API's limits and token lifetime.
    pub import: ImportSettings,
}

#[derive(Clone, Debug)]
pub struct ImportSettings {
    /// How long an access token works (`IMPORT_TOKEN_TTL`).
    pub token_ttl: Duration,
    /// Import requests (`/candidate-reactions` and `/test` together) per company per 60 s window.
    pub rate_limit_per_company: u32,
    /// `MAX_IMPORT_BODY_BYTES`: larger bodies are cut off while streaming (413).
    pub max_body_bytes: u64,
    /// `MAX_ATTACHMENT_BYTES`: the largest decoded attachment or consent document.
    pub max_attachment_bytes: u64,
}

/// What one client connection may hold, and for how long (CONTRACT §11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Request headers not complete within this → the connection is closed.
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long → 408.
    pub body_idle_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub keep_alive_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: 20_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScorerKind {
    Builtin,
    OpenAi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/talqo";

impl Settings {
    /// Reads the process environment (after `.env`, which the CLI loads first).
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can build settings without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let or = |name: &str, default: &str| var(name).unwrap_or_else(|| default.to_owned());
        let parsed = |name: &str, default: &str| -> anyhow::Result<u64> {
            let raw = or(name, default);
            raw.trim().parse::<u64>().with_context(|| format!("{name} must be a whole number, got {raw:?}"))
        };
        let duration = |name: &str, default: &str| -> anyhow::Result<Duration> {
            let raw = or(name, default);
            parse_duration(&raw).with_context(|| format!("{name} is not a duration: {raw:?}"))
        };

        let listen_addr = or("LISTEN_ADDR", "127.0.0.1:8080");
        let listen_addr = listen_addr
            .parse()
            .with_context(|| format!("LISTEN_ADDR must be an address like 127.0.0.1:8080, got {listen_addr:?}"))?;
        let trusted_proxies = or("TRUSTED_PROXIES", "")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_cidr)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let scorer = match or("AI_SCORER", "builtin").to_ascii_lowercase().as_str() {
            "builtin" => ScorerKind::Builtin,
            "openai" => ScorerKind::OpenAi,
            other => bail!("AI_SCORER must be builtin or openai, got {other:?}"),
        };
        // May be absent: local OpenAI-compatible servers need no key.
        let openai_api_key = var("OPENAI_API_KEY");
        let log_format = match or("LOG_FORMAT", "text").to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => bail!("LOG_FORMAT must be text or json, got {other:?}"),
        };
        let rate_limit_per_ip = parsed("CAREER_API_RATE_LIMIT_PER_IP", "100")?;
        if rate_limit_per_ip == 0 {
            bail!("CAREER_API_RATE_LIMIT_PER_IP must be at least 1");
        }
        let max_cv_bytes = parsed("MAX_CV_BYTES", "10485760")?;
        if max_cv_bytes == 0 {
            bail!("MAX_CV_BYTES must be at least 1");
        }
        let mail_max_attempts = parsed("MAIL_MAX_ATTEMPTS", "10")?;
        if mail_max_attempts == 0 {
            bail!("MAIL_MAX_ATTEMPTS must be at least 1");
        }
        let mail_delivery = DeliveryPolicy::new(
            duration("MAIL_LEASE", "35m")?,
            duration("MAIL_RETRY_DELAY", "10s")?,
            i32::try_from(mail_max_attempts).context("MAIL_MAX_ATTEMPTS is too large")?,
        );
        if mail_delivery.lease.is_zero() {
            bail!("MAIL_LEASE must be longer than zero");
        }
        let client_ip_header = or("CLIENT_IP_HEADER", "x-forwarded-for");
        let client_ip_header = ClientIpHeader::parse(&client_ip_header).with_context(|| {
            format!("CLIENT_IP_HEADER must be x-forwarded-for, x-real-ip or forwarded, got {client_ip_header:?}")
        })?;
        let connection_limits = ConnectionLimits {
            header_read_timeout: duration("HEADER_READ_TIMEOUT", "10s")?,
            body_idle_timeout: duration("BODY_IDLE_TIMEOUT", "30s")?,
            keep_alive_timeout: duration("KEEP_ALIVE_TIMEOUT", "60s")?,
            max_connections: usize::try_from(parsed("MAX_CONNECTIONS", "20000")?)
                .context("MAX_CONNECTIONS is too large")?,
        };
        if connection_limits.max_connections == 0 {
            bail!("MAX_CONNECTIONS must be at least 1");
        }
        let defaults = ExtractionLimits::default();
        let extraction = ExtractionLimits {
            memory_bytes: parsed("EXTRACT_MEMORY_MB", &(defaults.memory_bytes >> 20).to_string())? << 20,
            cpu_seconds: parsed("EXTRACT_CPU_SECONDS", &defaults.cpu_seconds.to_string())?,
            wall_clock: duration("EXTRACT_TIMEOUT", &format!("{}s", defaults.wall_clock.as_secs()))?,
            max_jobs_per_worker: u32::try_from(parsed(
                "EXTRACT_WORKER_MAX_JOBS",
                &defaults.max_jobs_per_worker.to_string(),
            )?)
            .context("EXTRACT_WORKER_MAX_JOBS is too large")?
            .max(1),
            ocr: ocr_settings(&or)?,
            ..defaults
        };

        let rate_limit_per_company = parsed("IMPORT_RATE_LIMIT_PER_COMPANY", "50")?;
        if rate_limit_per_company == 0 {
            bail!("IMPORT_RATE_LIMIT_PER_COMPANY must be at least 1");
        }
        let import = ImportSettings {
            token_ttl: duration("IMPORT_TOKEN_TTL", "1h")?,
            rate_limit_per_company: u32::try_from(rate_limit_per_company)
                .context("IMPORT_RATE_LIMIT_PER_COMPANY is too large")?,
            max_body_bytes: parsed("MAX_IMPORT_BODY_BYTES", "104857600")?,
            max_attachment_bytes: parsed("MAX_ATTACHMENT_BYTES", "10485760")?,
        };
        if import.token_ttl.is_zero() {
            bail!("IMPORT_TOKEN_TTL must be longer than zero");
        }
        let public_base_url = match var("PUBLIC_BASE_URL") {
            Some(raw) => {
                let url = url::Url::parse(raw.trim())
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .with_context(|| format!("PUBLIC_BASE_URL must be an http(s) URL, got {raw:?}"))?;
                url.as_str().trim_end_matches('/').to_owned()
            }
            None => default_public_base_url(listen_addr),
        };

        Ok(Settings {
            import,
            database_url: or("DATABASE_URL", DEFAULT_DATABASE_URL),
            database_max_connections: u32::try_from(parsed("DATABASE_MAX_CONNECTIONS", "20")?)
                .context("DATABASE_MAX_CONNECTIONS is too large")?,
            listen_addr,
            public_base_url,
            rate_limit_per_ip: u32::try_from(rate_limit_per_ip).context("CAREER_API_RATE_LIMIT_PER_IP is too large")?,
            trusted_proxies,
            redis_url: var("REDIS_URL"),
            redis_key_prefix: or("REDIS_KEY_PREFIX", "talqo"),
            max_cv_bytes,
            storage_url: or("STORAGE_URL", "file://./data"),
            mail_url: or("MAIL_URL", "file://./data/mail"),
            mail_from: or("MAIL_FROM", "Talqo <no-reply@localhost>"),
            rejection_email_delay: duration("REJECTION_EMAIL_DELAY", "24h")?,
            mail_smtp_timeout: duration("MAIL_SMTP_TIMEOUT", "10m")?,
            mail_delivery,
            scorer,
            openai_base_url: or("OPENAI_BASE_URL", "https://api.openai.com/v1"),
            openai_api_key,
            openai_model: or("OPENAI_MODEL", "gpt-4o-mini"),
            openai_timeout: duration("OPENAI_TIMEOUT", "30s")?,
            extraction,
            extractor_exe: var("EXTRACTOR_EXE").map(PathBuf::from),
            spool_dir: var("SPOOL_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir),
            worker_interval: duration("WORKER_INTERVAL", "1s")?,
            orphan_sweep_interval: duration("ORPHAN_SWEEP_INTERVAL", "10m")?,
            api_log_retention: duration("API_LOG_RETENTION", "90d")?,
            log_format,
            database_connect_timeout: duration("DATABASE_CONNECT_TIMEOUT", "30s")?,
            database_acquire_timeout: duration("DATABASE_ACQUIRE_TIMEOUT", "1500ms")?,
            client_ip_header,
            rate_limit_max_addresses: usize::try_from(parsed("RATE_LIMIT_MAX_ADDRESSES", "100000")?.max(1))
                .context("RATE_LIMIT_MAX_ADDRESSES is too large")?,
            connection_limits,
            shutdown_timeout: duration("SHUTDOWN_TIMEOUT", "25s")?,
        })
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("listen_addr", &self.listen_addr)
            .field("public_base_url", &self.public_base_url)
            .field("rate_limit_per_ip", &self.rate_limit_per_ip)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("max_cv_bytes", &self.max_cv_bytes)
            .field("storage_url", &self.storage_url)
            .field("mail_url", &redact_url(&self.mail_url))
            .field("mail_from", &self.mail_from)
            .field("rejection_email_delay", &self.rejection_email_delay)
            .field("mail_smtp_timeout", &self.mail_smtp_timeout)
            .field("mail_delivery", &self.mail_delivery)
            .field("scorer", &self.scorer)
            .field("openai_base_url", &self.openai_base_url)
            .field("openai_api_key", &self.openai_api_key.as_ref().map(|_| "[redacted]"))
            .field("openai_model", &self.openai_model)
            .field("openai_timeout", &self.openai_timeout)
            .field("extraction", &self.extraction)
            .field("extractor_exe", &self.extractor_exe)
            .field("spool_dir", &self.spool_dir)
            .field("worker_interval", &self.worker_interval)
            .field("orphan_sweep_interval", &self.orphan_sweep_interval)
            .field("api_log_retention", &self.api_log_retention)
            .field("log_format", &self.log_format)
            .field("import", &self.import)
            .field("database_connect_timeout", &self.database_connect_timeout)
            .field("database_acquire_timeout", &self.database_acquire_timeout)
            .field("client_ip_header", &self.client_ip_header)
            .field("rate_limit_max_addresses", &self.rate_limit_max_addresses)
            .field("connection_limits", &self.connection_limits)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

/// `OCR` (`auto`, `on`, `off`), `OCR_MAX_PAGES`, `OCR_TIMEOUT` and `OCR_LANGUAGES`.
fn ocr_settings(or: &dyn Fn(&str, &str) -> String) -> anyhow::Result<OcrSettings> {
    let mode = match or("OCR", "auto").trim().to_ascii_lowercase().as_str() {
        "auto" => OcrMode::Auto,
        "on" => OcrMode::On,
        "off" => OcrMode::Off,
        other => bail!("OCR must be auto, on or off, got {other:?}"),
    };
    let mut ocr = OcrSettings::for_mode(mode).map_err(anyhow::Error::msg)?;
    let raw = or("OCR_MAX_PAGES", &ocr.max_pages.to_string());
    ocr.max_pages = raw.trim().parse().with_context(|| format!("OCR_MAX_PAGES must be a whole number, got {raw:?}"))?;
    let raw = or("OCR_TIMEOUT", &format!("{}s", ocr.timeout.as_secs()));
    ocr.timeout = parse_duration(&raw).with_context(|| format!("OCR_TIMEOUT is not a duration: {raw:?}"))?;
    ocr.languages = or("OCR_LANGUAGES", &ocr.languages);
    Ok(ocr)
}

/// CONTRACT §10: `http://<LISTEN_ADDR>`, an unspecified host (`0.0.0.0`, `::`) written `localhost`.
fn default_public_base_url(listen_addr: SocketAddr) -> String {
    match listen_addr.ip() {
        ip if ip.is_unspecified() => format!("http://localhost:{}", listen_addr.port()),
        _ => format!("http://{listen_addr}"),
    }
}

/// Hides the password of a URL such as `postgres://user:secret@host/db` → `postgres://user:[redacted]@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:[redacted]@{host}{tail}"),
        None => url.to_owned(),
    }
}

/// `30s`, `15m`, `24h`, `2d`, or a plain number of seconds.
pub fn parse_duration(raw: &str) -> anyhow::Result<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 = number.parse().context("expected a number followed by s, m, h or d")?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => return Ok(Duration::from_millis(number)),
        "m" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        other => bail!("unknown unit {other:?} (use s, m, h or d)"),
    };
    Ok(Duration::from_secs(seconds))
}

/// A CIDR (`10.0.0.0/8`) or a single address (`127.0.0.1`, a /32 or /128).
fn parse_cidr(raw: &str) -> anyhow::Result<IpNet> {
    if let Ok(net) = raw.parse::<IpNet>() {
        return Ok(net);
    }
    let ip: std::net::IpAddr =
        raw.parse().with_context(|| format!("TRUSTED_PROXIES: {raw:?} is neither a CIDR nor an IP address"))?;
    Ok(IpNet::from(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_the_documented_units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/talqo"), "postgres://app:[redacted]@db:5432/talqo");
        assert_eq!(redact_url("smtp://mail.example.com:25"), "smtp://mail.example.com:25");
        assert_eq!(redact_url("redis://:pw@127.0.0.1/0"), "redis://:[redacted]@127.0.0.1/0");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let settings = Settings::from_lookup(|name| match name {
            "DATABASE_URL" => Some("postgres://app:dbpass@db/talqo".into()),
            "MAIL_URL" => Some("smtp://u:mailpass@mx:587".into()),
            "AI_SCORER" => Some("openai".into()),
            "OPENAI_API_KEY" => Some("sk-supersecret".into()),
            _ => None,
        })
        .unwrap();
        let shown = format!("{settings:?}");
        for secret in ["dbpass", "mailpass", "sk-supersecret"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
    }

    #[test]
    fn defaults_need_nothing_but_postgres() {
        let settings = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(settings.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(settings.listen_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.rate_limit_per_ip, 100);
        assert_eq!(settings.max_cv_bytes, 10 * 1024 * 1024);
        assert_eq!(settings.storage_url, "file://./data");
        assert_eq!(settings.mail_url, "file://./data/mail");
        assert_eq!(settings.scorer, ScorerKind::Builtin);
        assert_eq!(settings.rejection_email_delay, Duration::from_secs(86_400));
        assert_eq!(settings.api_log_retention, Duration::from_secs(90 * 86_400));
        assert_eq!(settings.mail_delivery, DeliveryPolicy::default());
        assert_eq!(settings.mail_smtp_timeout, crate::mail::DEFAULT_SMTP_TIMEOUT);
    }

    #[test]
    fn public_base_url_defaults_to_the_listen_address() {
        let base = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Settings::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                .map(|s| s.public_base_url)
        };
        assert_eq!(base(&[]).unwrap(), "http://127.0.0.1:8080");
        assert_eq!(base(&[("LISTEN_ADDR", "0.0.0.0:9000")]).unwrap(), "http://localhost:9000");
        assert_eq!(base(&[("LISTEN_ADDR", "[::]:9000")]).unwrap(), "http://localhost:9000");
        assert_eq!(base(&[("LISTEN_ADDR", "[::1]:9000")]).unwrap(), "http://[::1]:9000");
        assert_eq!(base(&[("PUBLIC_BASE_URL", "https://jobs.acme.com/")]).unwrap(), "https://jobs.acme.com");
        assert_eq!(base(&[("PUBLIC_BASE_URL", "https://acme.com/careers/")]).unwrap(), "https://acme.com/careers");
        assert!(base(&[("PUBLIC_BASE_URL", "jobs.acme.com")]).is_err());
    }

    #[test]
    fn holding_up_settings_default_to_the_contract() {
        let settings = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(settings.connection_limits, ConnectionLimits::default());
        assert_eq!(settings.connection_limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(settings.connection_limits.body_idle_timeout, Duration::from_secs(30));
        assert_eq!(settings.connection_limits.keep_alive_timeout, Duration::from_secs(60));
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(25));
        assert_eq!(settings.database_connect_timeout, Duration::from_secs(30));
        assert_eq!(settings.client_ip_header, ClientIpHeader::XForwardedFor);
        let real_ip = Settings::from_lookup(|n| (n == "CLIENT_IP_HEADER").then(|| "X-Real-IP".into())).unwrap();
        assert_eq!(real_ip.client_ip_header, ClientIpHeader::XRealIp);
        assert!(Settings::from_lookup(|n| (n == "CLIENT_IP_HEADER").then(|| "via".into())).is_err());
        assert!(Settings::from_lookup(|n| (n == "MAX_CONNECTIONS").then(|| "0".into())).is_err());
    }

    #[test]
    fn ocr_can_be_turned_off_and_bounded() {
        let settings = Settings::from_lookup(|name| match name {
            "OCR" => Some("off".into()),
            "OCR_MAX_PAGES" => Some("2".into()),
            "OCR_TIMEOUT" => Some("20s".into()),
            _ => None,
        })
        .unwrap();
        assert!(!settings.extraction.ocr.enabled());
        assert_eq!(settings.extraction.ocr.max_pages, 2);
        assert_eq!(settings.extraction.ocr.timeout, Duration::from_secs(20));
        assert!(Settings::from_lookup(|name| (name == "OCR").then(|| "maybe".into())).is_err());
    }

    #[test]
    fn public_base_url_defaults_to_the_listen_address_and_drops_a_trailing_slash() {
        let with = |pairs: &[(&str, &str)]| {
            let vars: std::collections::HashMap<String, String> =
                pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            Settings::from_lookup(|name| vars.get(name).cloned()).unwrap().public_base_url
        };
        assert_eq!(with(&[]), "http://127.0.0.1:8080");
        assert_eq!(with(&[("LISTEN_ADDR", "0.0.0.0:9000")]), "http://localhost:9000");
        assert_eq!(with(&[("LISTEN_ADDR", "[::]:9000")]), "http://localhost:9000");
        assert_eq!(with(&[("PUBLIC_BASE_URL", "https://jobs.example.com/")]), "https://jobs.example.com");
    }

    #[test]
    fn trusted_proxies_take_cidrs_and_addresses() {
        let settings =
            Settings::from_lookup(|name| (name == "TRUSTED_PROXIES").then(|| "10.0.0.0/8, 127.0.0.1,::1".to_owned()))
                .unwrap();
        assert_eq!(settings.trusted_proxies.len(), 3);
        assert!(Settings::from_lookup(|n| (n == "TRUSTED_PROXIES").then(|| "nope".into())).is_err());
    }
}
