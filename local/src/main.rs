//! `photopipe-local`: runs a folder of photos through the real pipeline on this machine, with
//! faults injected if asked, and writes `report.json` and the buckets' final contents to the
//! output folder; with `load`, runs many copies of the sample photos at once and prints the
//! throughput, each step's durations and memory, and the cost per million photos; with
//! `up`, starts the same stack and keeps it running until Ctrl-C, printing the environment
//! that points `aws`, boto3 and `photopipe` (the operator's CLI) at it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use photopipe::settings::{ThumbnailSettings, env};
use photopipe_local::run::{self, Report, RunOptions};
use photopipe_local::stack::{LocalStack, StackOptions, workspace_root};
use tokio::io::AsyncBufReadExt;

/// Run photos through the photopipe pipeline locally.
#[derive(Debug, Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Upload many copies of the sample photos at once (each JPEG and PNG copy with bytes
    /// of its own), require every one to succeed and nothing to be lost, and print photos
    /// per minute, each step's p50/p95 duration and peak memory, and the cost per million
    /// photos at list prices (`local/prices.json`).
    Load(LoadArgs),
    /// Start the local stack and keep it up until Ctrl-C: print its endpoints, buckets and
    /// state machine, and the `export` lines that point `aws`, boto3 and `photopipe` at it;
    /// start an execution for every upload under photos/, as the EventBridge rule does.
    /// While it is up, type `wasabi down SECONDS` (the functions' Wasabi refuses every
    /// request for that long) or `wasabi up` and Enter.
    #[command(after_help = "\
Examples:
  scripts/local up --fast-retries            retries in seconds, so an outage fails runs in a minute
  scripts/local up --wasabi-down 120         Wasabi refuses the functions for the first two minutes")]
    Up(UpArgs),
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Where moto's and the functions' logs go.
    #[arg(long, default_value = "out/up/logs")]
    logs: PathBuf,
    /// Instances of each Lambda function.
    #[arg(long, default_value_t = 2)]
    instances: usize,
    /// The thumbnail function's renditions (`THUMBNAIL_RENDITIONS`) [default: 256x256].
    #[arg(long)]
    renditions: Option<ThumbnailSettings>,
    /// Cut the state machine's retry waits to seconds (the attempts unchanged).
    #[arg(long)]
    fast_retries: bool,
    /// The functions' Wasabi refuses every request (503) for this long from the start.
    #[arg(long, value_name = "SECONDS")]
    wasabi_down: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// How many photos.
    #[arg(long, default_value_t = 500)]
    photos: usize,
    /// The photos to copy (those the engine rejects are skipped) [default: samples/photos].
    #[arg(long)]
    samples: Option<PathBuf>,
    /// Where `load.json`, `report.json` and the logs go.
    #[arg(long, default_value = "out/load")]
    out: PathBuf,
    /// Instances of each Lambda function.
    #[arg(long, default_value_t = 2)]
    instances: usize,
}

#[derive(Debug, clap::Args)]
struct Args {
    /// Folder of photos; every file is uploaded under `photos/` with its relative path
    /// [default: samples/photos].
    #[arg(long)]
    photos: Option<PathBuf>,
    /// Where `report.json`, the buckets' contents and the logs go.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Instances of each Lambda function.
    #[arg(long, default_value_t = 2)]
    instances: usize,
    /// The thumbnail function's renditions (`THUMBNAIL_RENDITIONS`) [default: 256x256].
    #[arg(long)]
    renditions: Option<ThumbnailSettings>,
    /// Cut the state machine's retry waits to seconds (the attempts unchanged), so that a
    /// fault that outlasts the retries shows in a minute instead of in half an hour.
    #[arg(long)]
    fast_retries: bool,
    /// A fraction (0 to 1) of the functions' requests to both S3 endpoints (moto's and
    /// Wasabi's) fail at random, for the whole run: 503 SlowDown, 500 InternalError or the
    /// connection reset.
    #[arg(long, value_name = "P", value_parser = fraction)]
    chaos: Option<f64>,
    /// The Wasabi side refuses every request (503) for this long from the start.
    #[arg(long, value_name = "SECONDS")]
    wasabi_down: Option<u64>,
    /// Once every execution has ended, redrive each failed one (not the rejected photos),
    /// after any outage is over, and again while redrives make progress.
    #[arg(long)]
    redrive: bool,
}

/// A fraction from 0 to 1.
fn fraction(value: &str) -> Result<f64, String> {
    let fraction: f64 = value.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&fraction) {
        Ok(fraction)
    } else {
        Err(format!("{fraction} is not between 0 and 1"))
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Up(args)) => tokio::runtime::Runtime::new()?.block_on(up(args)),
        Some(Command::Load(args)) => tokio::runtime::Runtime::new()?.block_on(load(args)),
        None => tokio::runtime::Runtime::new()?.block_on(run_pipeline(cli.run)),
    }
}

/// Starts the stack, runs `work` on it, and stops it (on failure and on Ctrl-C too).
async fn with_stack<T>(
    options: StackOptions,
    work: impl AsyncFnOnce(&LocalStack) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    eprintln!(
        "starting the local stack (logs in {})",
        options.log_dir.display()
    );
    let stack = LocalStack::start(options)
        .await
        .context("starting the local stack")?;
    let outcome = tokio::select! {
        outcome = work(&stack) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    stack.stop().await;
    outcome
}

/// `photopipe-local load`.
async fn load(args: LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.photos > 0, "--photos must be at least 1");
    let samples = args
        .samples
        .unwrap_or_else(|| workspace_root().join("samples/photos"));
    let mut options = StackOptions::for_workspace(args.out.join("logs"))?;
    options.instances = args.instances;
    let (load, report) = with_stack(options, async |stack| {
        photopipe_local::load::run(stack, &samples, args.photos, args.instances).await
    })
    .await?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("load.json"),
        serde_json::to_vec_pretty(&load)?,
    )?;
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    photopipe_local::load::print(&load);
    println!("figures: {}", args.out.join("load.json").display());
    anyhow::ensure!(
        load.problems.is_empty(),
        "the load run went wrong: {} problems (above)",
        load.problems.len()
    );
    Ok(())
}

/// `photopipe-local up`.
async fn up(args: UpArgs) -> anyhow::Result<()> {
    let mut options = StackOptions::for_workspace(args.logs.clone())?;
    options.instances = args.instances;
    options.fast_retries = args.fast_retries;
    if let Some(renditions) = &args.renditions {
        options
            .function_env
            .push((env::THUMBNAIL_RENDITIONS.into(), renditions_env(renditions)));
    }
    eprintln!("starting the local stack (logs in {})", args.logs.display());
    let stack = LocalStack::start(options)
        .await
        .context("starting the local stack")?;
    if let Some(seconds) = args.wasabi_down {
        stack.wasabi_faults.down_for(Duration::from_secs(seconds));
    }
    print_environment(&stack, args.renditions.as_ref());
    // The EventBridge rule's stand-in drains its queue all along, on its own task, so that
    // whatever else happens here never drops an event it received.
    let starter = stack.starter.clone();
    let starting = tokio::spawn(async move {
        loop {
            match starter.start_pending().await {
                Ok(started) => {
                    for execution in started {
                        println!("started {} for {}", execution.name, execution.key);
                    }
                }
                Err(err) => {
                    eprintln!("starting executions: {err:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut reading = true;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => break,
            line = lines.next_line(), if reading => match line {
                Ok(Some(line)) => control(&stack, &line),
                // No terminal (stdin closed): only Ctrl-C or a signal ends it.
                Ok(None) | Err(_) => reading = false,
            },
        }
    }
    starting.abort();
    eprintln!("stopping the local stack");
    stack.stop().await;
    Ok(())
}

/// One line typed while the stack is up.
fn control(stack: &LocalStack, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["wasabi", "down", seconds] => match seconds.parse::<u64>() {
            Ok(seconds) => {
                stack.wasabi_faults.down_for(Duration::from_secs(seconds));
                println!("wasabi: down for the functions for {seconds} s");
            }
            Err(_) => println!("wasabi down SECONDS: {seconds:?} is not a number of seconds"),
        },
        ["wasabi", "up"] => {
            stack.wasabi_faults.heal();
            println!("wasabi: up");
        }
        [] => {}
        _ => println!("commands: `wasabi down SECONDS`, `wasabi up`; Ctrl-C stops the stack"),
    }
}

/// What `up` prints: where everything is, and the environment for other programs.
fn print_environment(stack: &LocalStack, renditions: Option<&ThumbnailSettings>) {
    use photopipe_cli::deployment::env as cli;
    use photopipe_local::stack::{ARCHIVE, DROPBOX, THUMBNAILS};
    let aws = stack.aws_endpoint();
    println!("AWS (moto):      {aws}");
    println!("Wasabi stand-in: {}", stack.wasabi.endpoint);
    println!("dropbox:         s3://{DROPBOX}/photos/");
    println!("thumbnails:      s3://{THUMBNAILS}/");
    println!("archive:         s3://{ARCHIVE}/ (at the Wasabi stand-in)");
    println!("state machine:   {}", stack.state_machine_arn);
    println!();
    println!("# paste into another shell:");
    println!("export AWS_ENDPOINT_URL={aws} AWS_REGION=us-east-1");
    println!("export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test");
    println!(
        "export {}={DROPBOX} {}={THUMBNAILS}",
        cli::DROPBOX,
        cli::THUMBNAILS
    );
    println!(
        "export {}={}",
        cli::STATE_MACHINE_ARN,
        stack.state_machine_arn
    );
    // The archive's read key is in the secret `photopipe audit` reads by default.
    println!(
        "export {}={} {}=eu-central-2 {}={ARCHIVE}",
        cli::WASABI_ENDPOINT,
        stack.wasabi.endpoint,
        cli::WASABI_REGION,
        cli::WASABI_BUCKET,
    );
    if let Some(renditions) = renditions {
        println!(
            "export {}={}",
            env::THUMBNAIL_RENDITIONS,
            renditions_env(renditions)
        );
    }
    println!();
    println!(
        "up: uploads under photos/ start executions; type `wasabi down SECONDS` to make runs \
         fail, Ctrl-C to stop"
    );
}

/// Renditions as `THUMBNAIL_RENDITIONS` writes them.
fn renditions_env(renditions: &ThumbnailSettings) -> String {
    let specs: Vec<String> = renditions
        .renditions
        .iter()
        .map(ToString::to_string)
        .collect();
    specs.join(",")
}

async fn run_pipeline(args: Args) -> anyhow::Result<()> {
    let photos = args
        .photos
        .unwrap_or_else(|| workspace_root().join("samples/photos"));
    let mut options = StackOptions::for_workspace(args.out.join("logs"))?;
    options.instances = args.instances;
    options.fast_retries = args.fast_retries;
    let mut run_options = RunOptions {
        chaos: args.chaos.unwrap_or(0.0),
        wasabi_down: Duration::from_secs(args.wasabi_down.unwrap_or(0)),
        redrive: args.redrive,
        ..RunOptions::default()
    };
    if let Some(renditions) = &args.renditions {
        options
            .function_env
            .push((env::THUMBNAIL_RENDITIONS.into(), renditions_env(renditions)));
        run_options.renditions.clone_from(&renditions.renditions);
    }
    let report = with_stack(options, async |stack| {
        run::run(stack, &photos, &args.out, &run_options).await
    })
    .await?;
    print_table(&report);
    println!("report: {}", args.out.join("report.json").display());
    print_totals(&report);
    let totals = &report.totals;
    anyhow::ensure!(
        report.invariant.holds,
        "the nothing-lost invariant is violated for {} versions (above)",
        report.invariant.violations.len()
    );
    anyhow::ensure!(
        totals.failed == 0,
        "{} photos did not succeed (their runs can be redriven)",
        totals.failed
    );
    Ok(())
}

fn print_table(report: &Report) {
    let width = report
        .photos
        .iter()
        .map(|p| p.key.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    println!(
        "{:<width$}  {:<9}  {:<24}  {:>8}  {:>7}  {:>9}  {:>7}",
        "key", "status", "error", "redrives", "retries", "thumbnail", "seconds"
    );
    for photo in &report.photos {
        let thumbnail = photo
            .thumbnail
            .as_ref()
            .map_or_else(|| "-".to_owned(), |t| format!("{}x{}", t.width, t.height));
        let status = if photo.rejected {
            "REJECTED"
        } else {
            photo.status.as_str()
        };
        println!(
            "{:<width$}  {:<9}  {:<24}  {:>8}  {:>7}  {:>9}  {:>7.2}",
            photo.key,
            status,
            photo.error.as_deref().unwrap_or("-"),
            photo.redrives,
            photo.retried_attempts,
            thumbnail,
            photo.seconds
        );
    }
}

fn print_totals(report: &Report) {
    let totals = &report.totals;
    let (injected, forwarded) = (totals.faults_injected, totals.requests_forwarded);
    if injected.s3 + injected.wasabi > 0 {
        println!(
            "faults injected: S3 {} (of {} requests), Wasabi {} (of {})",
            injected.s3,
            injected.s3 + forwarded.s3,
            injected.wasabi,
            injected.wasabi + forwarded.wasabi
        );
    }
    if totals.redrive_rounds > 0 {
        let rounds = if totals.redrive_rounds == 1 {
            "round"
        } else {
            "rounds"
        };
        println!(
            "redrives: {} in {} {rounds}",
            totals.redrives, totals.redrive_rounds
        );
    }
    let copies = report.photos.iter().filter(|p| !p.rejected);
    let one_copy_each = copies
        .clone()
        .all(|p| p.archive_copies == 1 && p.archive_writes == 1);
    println!(
        "{} photos in {:.1} s: {} succeeded, {} rejected, {} failed; {}",
        totals.photos,
        totals.seconds,
        totals.succeeded,
        totals.rejected,
        totals.failed,
        if one_copy_each {
            "one archive copy each"
        } else {
            "NOT one archive copy each (see archive_copies in report.json)"
        }
    );
    for photo in report.photos.iter().filter(|p| p.rejected) {
        println!(
            "rejected: {} ({}), kept in dropbox/rejected/ with its reason",
            photo.key,
            photo.error.as_deref().unwrap_or_default()
        );
    }
    if report.invariant.holds {
        println!("nothing lost: every uploaded version is archived, quarantined or pending");
    }
    for violation in &report.invariant.violations {
        println!(
            "LOST? {} ({}): {}",
            violation.key, violation.version_id, violation.problem
        );
    }
}
