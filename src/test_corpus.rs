//! Where unit tests find the shared CV corpus: `TALQO_CORPUS_DIR`, else `../shared/corpus` beside the crate.

use std::path::PathBuf;

pub fn corpus_path(relative: &str) -> PathBuf {
    std::env::var_os("TALQO_CORPUS_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"), PathBuf::from)
        .join(relative)
}
