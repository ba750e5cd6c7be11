//! `photopipe`: the operator's command line (see the library, `photopipe_cli`). Prints an
//! error as its message and, when the trouble is one a person can fix (credentials, region,
//! stack, throttling, access), a one-line hint.

use std::process::ExitCode;

use clap::Parser;
use photopipe_cli::{Cli, Verdict, failure, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli, &mut std::io::stdout().lock())));
    match outcome {
        Ok(Verdict::Done) => ExitCode::SUCCESS,
        Ok(Verdict::Attention) => ExitCode::FAILURE,
        // The reader went away (`… | head`): stop quietly, as command-line tools do.
        Err(err)
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            if let Some(hint) = failure::hint_for(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}
