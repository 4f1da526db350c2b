//! The `talqo-server` binary: everything lives in the library; see `talqo_server::cli`.

fn main() -> std::process::ExitCode {
    talqo_server::cli::main()
}
