//! `photopipe-local`: runs a folder of photos through the real pipeline on this machine and
//! writes `report.json` and the buckets' final contents to the output folder.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use photopipe_local::run::{self, Report};
use photopipe_local::stack::{LocalStack, StackOptions, workspace_root};

/// Run photos through the photopipe pipeline locally.
#[derive(Debug, Parser)]
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let photos = args
        .photos
        .unwrap_or_else(|| workspace_root().join("samples/photos"));
    let mut options = StackOptions::for_workspace(args.out.join("logs"))?;
    options.instances = args.instances;
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
