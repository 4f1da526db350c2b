//! CV files: format detection and text extraction.

use std::ffi::OsString;
use std::process::ExitCode;

pub fn run_extraction_child(_args: &[OsString]) -> ExitCode {
    ExitCode::FAILURE
}
