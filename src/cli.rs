//! The operator's command line (CONTRACT §10).

use std::ffi::OsString;
use std::process::ExitCode;

/// The hidden first argument that turns the binary into a CV extraction child (see [`crate::cv`]).
pub const EXTRACTION_CHILD_ARG: &str = "__extract-cv";

pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == EXTRACTION_CHILD_ARG) {
        return crate::cv::run_extraction_child(&args[2..]);
    }
    ExitCode::SUCCESS
}
