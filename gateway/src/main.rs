//! The `switchboard` binary. Exit codes: 0 ok, 1 runtime error (one line on stderr), 2 bad usage.

use clap::Parser;
use std::process::ExitCode;
use switchboard_gateway::cli::{Cli, run};

/// mimalloc: the many small, short-lived allocations of commands and events cost a fraction of
/// glibc malloc's (measured with `bench append`, see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let message = error.to_string().replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::from(error.exit_code())
        }
    }
}
