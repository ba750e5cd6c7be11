//! `photopipe-local`: runs a folder of photos through the real pipeline on this machine, with
//! faults injected if asked, and writes `report.json` and the buckets' final contents to the
//! output folder; with `load`, runs many copies of the sample photos at once and prints the
//! throughput, each step's durations and memory, and the cost per million photos; with
//! `thumbnail`, runs only the imaging engine on some files, to try settings.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use photopipe::settings::{InputLimits, ThumbnailSettings, env};
use photopipe_local::run::{self, Report, RunOptions};
use photopipe_local::stack::{LocalStack, StackOptions, workspace_root};

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
    /// Make thumbnails of some files with the engine the pipeline uses (one thread), and
    /// print the CPU time each took.
    Thumbnail(ThumbnailArgs),
}

#[derive(Debug, clap::Args)]
struct ThumbnailArgs {
    /// Comma-separated renditions, `WxH[:fit|fill][:jpeg|png|webp][:qNN][:upscale]`.
    #[arg(long, default_value = "256x256")]
    renditions: ThumbnailSettings,
    /// Where the thumbnails go, as `<DIR>/<rendition folder>/<file name>.<ext>`.
    #[arg(long, default_value = "out/thumbnails")]
    out: PathBuf,
    /// Image files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
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
        Some(Command::Thumbnail(args)) => match thumbnail(&args) {
            // The reader went away (`… | head`): stop quietly, as command-line tools do.
            Err(err)
                if err
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
            {
                Ok(())
            }
            other => other,
        },
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
        let specs: Vec<String> = renditions
            .renditions
            .iter()
            .map(ToString::to_string)
            .collect();
        options
            .function_env
            .push((env::THUMBNAIL_RENDITIONS.into(), specs.join(",")));
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

/// `photopipe-local thumbnail`: the engine alone, file by file.
fn thumbnail(args: &ThumbnailArgs) -> anyhow::Result<()> {
    let limits = InputLimits::default();
    let renditions = &args.renditions.renditions;
    let mut out = std::io::stdout().lock();
    let mut total_ms = 0.0;
    for file in &args.files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let started = cpu_time::ProcessTime::now();
        let made = photopipe_imaging::inspect(&bytes, &limits).and_then(|inspection| {
            photopipe_imaging::make_thumbnails(&bytes, &inspection, renditions, &limits)
        });
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let name = file
            .file_name()
            .map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
        let thumbnails = match made {
            Ok(thumbnails) => thumbnails,
            Err(err) => {
                writeln!(out, "{name}\t{}\t{err}", err.error_name())?;
                continue;
            }
        };
        total_ms += ms;
        let mut outputs = Vec::new();
        for (rendition, thumb) in renditions.iter().zip(thumbnails) {
            let path = args
                .out
                .join(rendition.label())
                .join(format!("{name}.{}", rendition.format.extension()));
            write(&path, &thumb.bytes)?;
            outputs.push(format!(
                "{}x{} {} B",
                thumb.width,
                thumb.height,
                thumb.bytes.len()
            ));
        }
        writeln!(out, "{name}\t{ms:.2} ms\t{}", outputs.join("\t"))?;
    }
    writeln!(
        out,
        "total\t{total_ms:.1} ms CPU for {} files",
        args.files.len()
    )?;
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
