//! The server side of CV text extraction: a small pool of pre-started worker processes (the
//! server's own binary in its extraction mode, see [`super::worker`]), each under the same
//! limits. A job goes to an idle worker over a pipe; a worker that crashes, hits a limit,
//! overruns its time or has done `max_jobs_per_worker` jobs is killed and replaced. Every way a
//! worker can fail maps to an [`ExtractionError`] (CONTRACT §6 "Extraction": off the async
//! runtime, time-limited, panics caught, bombs capped). No process is started per CV: that was
//! most of the time an extraction took.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::normalize::normalize_extracted_text;
use super::ocr::OcrSettings;
use super::protocol::{
    FRAME_FAILED, FRAME_OCR_STARTED, FRAME_PANICKED, FRAME_TEXT_LAYER, FRAME_TEXT_OCR, encode_request,
};
use super::worker::{
    CPU_SECONDS_ENV, MAX_CHARS_ENV, MAX_JOBS_ENV, MEMORY_BYTES_ENV, OCR_LANGUAGES_ENV, OCR_MAX_PAGES_ENV,
    OCR_PDFTOPPM_ENV, OCR_TESSERACT_ENV, OCR_TIMEOUT_MS_ENV,
};
use super::{CvFormat, CvRejection, EXTRACTION_WORKER_ARG, ExtractedText, TextSource, detect_cv_format};

/// Bounds on the extraction workers.
#[derive(Debug, Clone)]
pub struct ExtractionLimits {
    /// Address space of a worker (RLIMIT_AS); a bomb's allocation fails and aborts it.
    pub memory_bytes: u64,
    /// CPU seconds of one job (RLIMIT_CPU, moved forward before each job).
    pub cpu_seconds: u64,
    /// Wall-clock time of one job; the worker is killed past it. OCR adds `ocr.timeout`.
    pub wall_clock: Duration,
    /// Characters of text kept.
    pub max_chars: usize,
    /// Workers at once (the pool's size); further extractions wait for one.
    pub max_concurrent: usize,
    /// Workers started ahead of the first CV.
    pub prestarted_workers: usize,
    /// Jobs one worker does before it is replaced (bounds heap growth and its CPU hard limit).
    pub max_jobs_per_worker: u32,
    /// OCR of pages without a usable text layer.
    pub ocr: OcrSettings,
}

impl Default for ExtractionLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            memory_bytes: 768 * 1024 * 1024,
            cpu_seconds: 10,
            wall_clock: Duration::from_secs(15),
            max_chars: 200_000,
            max_concurrent: 2 * cores,
            prestarted_workers: 2 * cores,
            max_jobs_per_worker: 200,
            ocr: OcrSettings::default(),
        }
    }
}

/// Why no text came out of a CV. The Display text is safe to show a client; a CV that fails
/// here is still accepted, unscored (CONTRACT §6 "Extraction").
#[derive(Debug, thiserror::Error)]
pub enum ExtractionError {
    #[error("could not start the extractor")]
    Spawn(#[source] io::Error),
    #[error("timed out after {}s", .0.as_secs())]
    TimedOut(Duration),
    #[error("memory limit exceeded")]
    MemoryExhausted,
    #[error("extractor crashed (signal {0})")]
    Crashed(i32),
    #[error("extraction failed: {0}")]
    Failed(String),
    #[error("extractor output is not valid UTF-8")]
    InvalidUtf8,
    #[error("extractor output exceeds its limit")]
    OutputTooLarge,
    #[error("could not read the extractor's output")]
    Io(#[source] io::Error),
    #[error("no text found (scanned or image-only CV?)")]
    NoText,
}

/// Runs CV text extraction in a pool of worker processes: the server's own binary (`exe`)
/// started in extraction mode, at most `max_concurrent` busy at a time.
pub struct CvExtractor {
    exe: PathBuf,
    limits: ExtractionLimits,
    slots: Semaphore,
    idle: Arc<Mutex<Vec<Worker>>>,
}

impl std::fmt::Debug for CvExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CvExtractor").field("exe", &self.exe).field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// What a worker may write to stderr that the server keeps (the last bytes; one line is expected).
const STDERR_CAP: usize = 4096;
/// The Rust runtime's message when an allocation fails, printed just before it aborts.
const ALLOCATION_FAILURE_MESSAGE: &str = "memory allocation of";
/// How long a dead worker's exit status and last words are waited for.
const REAP_TIMEOUT: Duration = Duration::from_secs(2);
/// Extra time given to the worker past the OCR limit it enforces itself.
const OCR_GRACE: Duration = Duration::from_secs(2);

/// One running worker process.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Collects the worker's stderr until it exits, keeping the last `STDERR_CAP` bytes.
    stderr: Option<JoinHandle<Vec<u8>>>,
    jobs: u32,
}

/// How a job ended, and whether its worker can take another one.
struct JobEnd {
    result: Result<ExtractedText, ExtractionError>,
    reusable: bool,
}

impl CvExtractor {
    /// A pool of workers running `exe`. Inside a tokio runtime, `prestarted_workers` are started
    /// at once in the background; otherwise workers start with the first jobs.
    pub fn new(exe: PathBuf, limits: ExtractionLimits) -> Self {
        let slots = Semaphore::new(limits.max_concurrent.max(1));
        let extractor = Self { exe, limits, slots, idle: Arc::new(Mutex::new(Vec::new())) };
        if tokio::runtime::Handle::try_current().is_ok() {
            let wanted = extractor.limits.prestarted_workers.min(extractor.limits.max_concurrent);
            for _ in 0..wanted {
                extractor.replenish();
            }
        }
        extractor
    }

    /// An extractor that re-executes the running binary. On Linux that is `/proc/self/exe`,
    /// which stays the running image even after the file on disk is replaced by an upgrade.
    pub fn for_current_exe(limits: ExtractionLimits) -> io::Result<Self> {
        let own_image = Path::new("/proc/self/exe");
        let exe = if cfg!(target_os = "linux") && own_image.exists() {
            own_image.to_path_buf()
        } else {
            std::env::current_exe()?
        };
        Ok(Self::new(exe, limits))
    }

    pub fn limits(&self) -> &ExtractionLimits {
        &self.limits
    }

    /// Extracts the text of the CV at `path`, already detected as `format`. The text is
    /// normalised (see [`normalize_extracted_text`]) and at most `max_chars` long; empty text is
    /// [`ExtractionError::NoText`].
    #[tracing::instrument(skip(self, format), fields(format = format.as_str()))]
    pub async fn extract(&self, path: &Path, format: CvFormat) -> Result<ExtractedText, ExtractionError> {
        // The semaphore is never closed, so acquiring cannot fail; a closed one would only mean
        // shutting down, and running without a slot is then harmless.
        let _slot = self.slots.acquire().await.ok();
        let started = Instant::now();
        let mut worker = match self.take_idle() {
            Some(worker) => worker,
            None => spawn_worker(&self.exe, &self.limits).map_err(ExtractionError::Spawn)?,
        };
        let end = run_job(&mut worker, path, format, &self.limits).await;
        worker.jobs += 1;
        if end.reusable && worker.jobs < self.limits.max_jobs_per_worker {
            self.return_idle(worker);
        } else {
            drop(worker);
            self.replenish();
        }
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &end.result {
            Ok(extracted) => tracing::debug!(
                chars = extracted.text.chars().count(),
                source = extracted.source.as_str(),
                elapsed_ms,
                "CV text extracted"
            ),
            Err(error) => tracing::warn!(%error, elapsed_ms, "CV text extraction failed"),
        }
        end.result
    }

    /// An idle worker that is still alive (one may have died while idle, e.g. to the OOM killer).
    fn take_idle(&self) -> Option<Worker> {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(mut worker) = idle.pop() {
            if matches!(worker.child.try_wait(), Ok(None)) {
                return Some(worker);
            }
        }
        None
    }

    fn return_idle(&self, worker: Worker) {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(worker);
    }

    /// Starts one worker in the background for the idle pool, unless the pool is full.
    fn replenish(&self) {
        let (idle, exe, limits) = (self.idle.clone(), self.exe.clone(), self.limits.clone());
        tokio::spawn(async move {
            let full = idle.lock().map_or(true, |idle| idle.len() >= limits.max_concurrent);
            if full {
                return;
            }
            match spawn_worker(&exe, &limits) {
                Ok(worker) => idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(worker),
                Err(error) => tracing::warn!(%error, "could not start a CV extraction worker"),
            }
        });
    }
}

fn spawn_worker(exe: &Path, limits: &ExtractionLimits) -> io::Result<Worker> {
    let mut command = Command::new(exe);
    command
        .arg(EXTRACTION_WORKER_ARG)
        // The worker parses hostile input: it gets no secret from the server's environment.
        .env_clear()
        .env(MEMORY_BYTES_ENV, limits.memory_bytes.to_string())
        .env(CPU_SECONDS_ENV, limits.cpu_seconds.to_string())
        .env(MAX_CHARS_ENV, limits.max_chars.to_string())
        .env(MAX_JOBS_ENV, limits.max_jobs_per_worker.to_string());
    if let Some(programs) = limits.ocr.programs.as_ref().filter(|_| limits.ocr.enabled()) {
        command
            .env(OCR_TESSERACT_ENV, &programs.tesseract)
            .env(OCR_PDFTOPPM_ENV, &programs.pdftoppm)
            .env(OCR_MAX_PAGES_ENV, limits.ocr.max_pages.to_string())
            .env(OCR_TIMEOUT_MS_ENV, limits.ocr.timeout.as_millis().to_string())
            .env(OCR_LANGUAGES_ENV, &limits.ocr.languages);
        if let Some(prefix) = std::env::var_os("TESSDATA_PREFIX") {
            command.env("TESSDATA_PREFIX", prefix);
        }
    }
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn()?;
    let (Some(stdin), Some(stdout), stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
        return Err(io::Error::other("the worker's pipes are missing"));
    };
    let stderr = stderr.map(|pipe| tokio::spawn(keep_last_bytes(pipe, STDERR_CAP)));
    Ok(Worker { child, stdin, stdout: BufReader::new(stdout), stderr, jobs: 0 })
}

/// Reads a pipe to its end, keeping only its last `cap` bytes.
async fn keep_last_bytes<R: AsyncRead + Unpin>(mut pipe: R, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 1024];
    while let Ok(read) = pipe.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        kept.extend_from_slice(&chunk[..read]);
        if kept.len() > cap {
            kept.drain(..kept.len() - cap);
        }
    }
    kept
}

/// Sends one job to `worker` and reads its answer within the time limit.
async fn run_job(worker: &mut Worker, path: &Path, format: CvFormat, limits: &ExtractionLimits) -> JobEnd {
    let mut allowed = limits.wall_clock;
    let mut deadline = Instant::now() + allowed;
    let request = encode_request(format, path.as_os_str().as_bytes());
    let sent = tokio::time::timeout_at(deadline, async {
        worker.stdin.write_all(&request).await?;
        worker.stdin.flush().await
    })
    .await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return lost(worker_death(worker).await),
        Err(_) => return lost(kill_for_time(worker, allowed).await),
    }

    // Up to 4 bytes per UTF-8 character, and some room for the worker's own slack.
    let payload_cap = limits.max_chars.saturating_mul(4).saturating_add(1024);
    loop {
        let mut header = [0u8; 5];
        match tokio::time::timeout_at(deadline, worker.stdout.read_exact(&mut header)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return lost(worker_death(worker).await),
            Err(_) => return lost(kill_for_time(worker, allowed).await),
        }
        let tag = header[0];
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > payload_cap {
            return lost(ExtractionError::OutputTooLarge);
        }
        let mut payload = vec![0u8; len];
        match tokio::time::timeout_at(deadline, worker.stdout.read_exact(&mut payload)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return lost(worker_death(worker).await),
            Err(_) => return lost(kill_for_time(worker, allowed).await),
        }
        match tag {
            FRAME_OCR_STARTED => {
                // The worker enforces the OCR limit itself; this is the server's backstop.
                allowed = limits.wall_clock + limits.ocr.timeout + OCR_GRACE;
                deadline = Instant::now() + limits.ocr.timeout + OCR_GRACE;
            }
            FRAME_TEXT_LAYER | FRAME_TEXT_OCR => {
                let source = if tag == FRAME_TEXT_OCR { TextSource::Ocr } else { TextSource::TextLayer };
                let result = interpret_text(payload, limits.max_chars).map(|text| ExtractedText { text, source });
                let reusable = !matches!(result, Err(ExtractionError::InvalidUtf8));
                return JobEnd { result, reusable };
            }
            FRAME_FAILED => {
                let reason = first_line(&payload);
                return JobEnd { result: Err(ExtractionError::Failed(reason)), reusable: true };
            }
            FRAME_PANICKED => {
                let reason = first_line(&payload);
                return JobEnd { result: Err(ExtractionError::Failed(reason)), reusable: false };
            }
            _ => return lost(ExtractionError::Failed("the extractor broke its protocol".to_owned())),
        }
    }
}

fn lost(error: ExtractionError) -> JobEnd {
    JobEnd { result: Err(error), reusable: false }
}

async fn kill_for_time(worker: &mut Worker, allowed: Duration) -> ExtractionError {
    // Reap it now rather than leave a zombie to the runtime.
    let _ = worker.child.kill().await;
    ExtractionError::TimedOut(allowed)
}

/// The worker closed its pipes mid-job: why it died, from its exit status and its last stderr.
async fn worker_death(worker: &mut Worker) -> ExtractionError {
    let status = match tokio::time::timeout(REAP_TIMEOUT, worker.child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(error)) => return ExtractionError::Io(error),
        Err(_) => {
            let _ = worker.child.kill().await;
            return ExtractionError::Failed("the extractor stopped answering".to_owned());
        }
    };
    let stderr = match worker.stderr.take() {
        Some(task) => tokio::time::timeout(REAP_TIMEOUT, task).await.ok().and_then(Result::ok).unwrap_or_default(),
        None => Vec::new(),
    };
    interpret_death(status, &stderr)
}

fn interpret_death(status: ExitStatus, stderr: &[u8]) -> ExtractionError {
    let reason = first_line(stderr);
    if let Some(signal) = status.signal() {
        if String::from_utf8_lossy(stderr).contains(ALLOCATION_FAILURE_MESSAGE) {
            return ExtractionError::MemoryExhausted;
        }
        return ExtractionError::Crashed(signal);
    }
    if !status.success() {
        let reason = if reason.is_empty() { format!("exit code {}", status.code().unwrap_or(-1)) } else { reason };
        return ExtractionError::Failed(reason);
    }
    ExtractionError::Failed("the extractor exited without an answer".to_owned())
}

/// The worker's text, checked and normalised again (the server does not trust the worker).
fn interpret_text(bytes: Vec<u8>, max_chars: usize) -> Result<String, ExtractionError> {
    let raw = String::from_utf8(bytes).map_err(|_| ExtractionError::InvalidUtf8)?;
    let text = normalize_extracted_text(&raw, max_chars);
    if text.is_empty() {
        return Err(ExtractionError::NoText);
    }
    Ok(text)
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// Why `cv-text` (or the intake pipeline) got no text from a file.
#[derive(Debug, thiserror::Error)]
pub enum CvTextError {
    #[error("could not read the file")]
    Io(#[source] io::Error),
    #[error("CV file is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: u64 },
    #[error(transparent)]
    Rejected(#[from] CvRejection),
    #[error("format detection did not complete")]
    DetectionAborted,
    #[error(transparent)]
    Extraction(#[from] ExtractionError),
}

/// Detection, size check and extraction of a CV on disk: the one path shared by the server and
/// the `cv-text` operator command, so both see the same text (CONTRACT §10).
pub async fn extract_file(
    extractor: &CvExtractor,
    path: &Path,
    max_bytes: u64,
) -> Result<(CvFormat, ExtractedText), CvTextError> {
    let len = tokio::fs::metadata(path).await.map_err(CvTextError::Io)?.len();
    if len > max_bytes {
        return Err(CvTextError::TooLarge { max_bytes });
    }
    let owned = path.to_path_buf();
    let format = tokio::task::spawn_blocking(move || detect_cv_format(&owned))
        .await
        .map_err(|_| CvTextError::DetectionAborted)??;
    let text = extractor.extract(path, format).await?;
    Ok((format, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successful_answer_is_normalised() {
        let text = interpret_text(b" a \0\n\n\n b ".to_vec(), 100).unwrap();
        assert_eq!(text, "a\n\nb");
    }

    #[test]
    fn whitespace_only_output_is_no_text() {
        let result = interpret_text(b" \n\t ".to_vec(), 100);
        assert!(matches!(result, Err(ExtractionError::NoText)));
    }

    #[test]
    fn a_signal_is_a_crash_and_an_allocation_failure_is_named() {
        // Raw wait status: low 7 bits hold the terminating signal.
        let aborted = ExitStatus::from_raw(6);
        let crash = interpret_death(aborted, b"");
        assert_eq!(crash.to_string(), "extractor crashed (signal 6)");
        let oom = interpret_death(aborted, b"memory allocation of 1073741824 bytes failed\n");
        assert!(matches!(oom, ExtractionError::MemoryExhausted));
    }

    #[test]
    fn a_failure_exit_carries_the_first_stderr_line() {
        let failed = ExitStatus::from_raw(1 << 8);
        let error = interpret_death(failed, b"\nPDF error: bad xref\nmore\n");
        assert_eq!(error.to_string(), "extraction failed: PDF error: bad xref");
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert!(matches!(interpret_text(vec![0xff, 0xfe], 100), Err(ExtractionError::InvalidUtf8)));
    }

    #[test]
    fn the_timeout_message_names_the_limit() {
        assert_eq!(ExtractionError::TimedOut(Duration::from_secs(15)).to_string(), "timed out after 15s");
    }

    #[test]
    fn default_limits_match_the_design() {
        let limits = ExtractionLimits::default();
        assert_eq!(limits.memory_bytes, 768 * 1024 * 1024);
        assert_eq!(limits.cpu_seconds, 10);
        assert_eq!(limits.wall_clock, Duration::from_secs(15));
        assert_eq!(limits.max_chars, 200_000);
        assert!(limits.max_concurrent >= 2);
        assert!(limits.prestarted_workers <= limits.max_concurrent);
        assert!(limits.max_jobs_per_worker > 1);
    }
}
