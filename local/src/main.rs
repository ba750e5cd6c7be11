//! `photopipe-local`: runs a folder of photos through the real pipeline on this machine and
//! writes `report.json` and the buckets' final contents to the output folder; or, with
//! `thumbnail`, runs only the imaging engine on some files, to try settings.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use photopipe::settings::{InputLimits, ThumbnailSettings};
use photopipe_local::run::{self, Report};
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
        None => tokio::runtime::Runtime::new()?.block_on(run_pipeline(cli.run)),
    }
}

async fn run_pipeline(args: Args) -> anyhow::Result<()> {
    let photos = args
        .photos
        .unwrap_or_else(|| workspace_root().join("samples/photos"));
    let mut options = StackOptions::for_workspace(args.out.join("logs"))?;
    options.instances = args.instances;
    options.fast_retries = args.fast_retries;
    if let Some(renditions) = &args.renditions {
        let specs: Vec<String> = renditions
            .renditions
            .iter()
            .map(ToString::to_string)
            .collect();
        options
            .function_env
            .push(("THUMBNAIL_RENDITIONS".into(), specs.join(",")));
    }
    eprintln!(
        "starting the local stack (logs in {})",
        options.log_dir.display()
    );
    let stack = LocalStack::start(options)
        .await
        .context("starting the local stack")?;
    let outcome = tokio::select! {
        outcome = run::run(&stack, &photos, &args.out) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    stack.stop().await;
    let report = outcome?;
    print_table(&report);
    println!("report: {}", args.out.join("report.json").display());
    let failed = report
        .photos
        .iter()
        .filter(|p| p.status != "SUCCEEDED")
        .count();
    println!(
        "{} photos: {} succeeded, {failed} failed",
        report.photos.len(),
        report.photos.len() - failed
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
        "{:<width$}  {:<9}  {:<24}  {:>9}  {:>7}",
        "key", "status", "error", "thumbnail", "seconds"
    );
    for photo in &report.photos {
        let thumbnail = photo
            .thumbnail
            .as_ref()
            .map_or_else(|| "-".to_owned(), |t| format!("{}x{}", t.width, t.height));
        println!(
            "{:<width$}  {:<9}  {:<24}  {:>9}  {:>7.2}",
            photo.key,
            photo.status,
            photo.error.as_deref().unwrap_or("-"),
            thumbnail,
            photo.seconds
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
