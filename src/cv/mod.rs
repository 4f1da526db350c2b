//! CV files: format detection and text extraction.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct ExtractionLimits {
    pub memory_bytes: u64,
    pub cpu_seconds: u64,
    pub wall_clock: Duration,
    pub max_chars: usize,
    pub max_concurrent: usize,
}

impl Default for ExtractionLimits {
    fn default() -> Self {
        ExtractionLimits {
            memory_bytes: 768 << 20,
            cpu_seconds: 10,
            wall_clock: Duration::from_secs(15),
            max_chars: 200_000,
            max_concurrent: 4,
        }
    }
}

pub fn run_extraction_child(_args: &[OsString]) -> ExitCode {
    ExitCode::FAILURE
}
