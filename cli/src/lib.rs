//! `photopipe`, the operator's command line: the same binary against AWS (the standard
//! profile and region resolution, the stack's names from its CloudFormation outputs) and
//! against the local stack (`scripts/local up` prints the environment to export), never
//! hard-wired to either ([`deployment`]). Each command is a module that returns what it
//! found as data (the end-to-end tests call them directly) and prints it separately;
//! [`run`] ties them to the command line.

pub mod audit;
pub mod backfill;
pub mod deployment;
pub mod executions;
pub mod failure;
pub mod invariant;
pub mod redrive;
pub mod status;
pub mod thumbnail;
pub mod upload;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use photopipe::settings::ThumbnailSettings;

use crate::deployment::{Deployment, Need, TargetArgs};
use crate::executions::{Filter, Since};

const EXAMPLES: &str = "\
Examples:
  photopipe upload ~/Pictures/trip --to 2026/trip/   upload a folder under photos/2026/trip/
  photopipe executions --status FAILED --since 24h  what failed today, grouped by error
  photopipe status 2026/trip/a.jpg                  one photo's whole story
  photopipe redrive --failed --since 24h --dry-run  what a redrive would do, and what it would not
  photopipe backfill --dry-run                      originals in the dropbox that no run works on
  photopipe audit                                   is anything lost? (exits 1 if something needs attention)

Against AWS, the stack is found by name (--stack, default photopipe) in the profile's region.
Against the local stack, run `scripts/local up` and paste the export lines it prints.";

/// The operator's command line for the photopipe pipeline.
#[derive(Debug, Parser)]
#[command(name = "photopipe", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload files and folders (recursively) to the dropbox under photos/.
    #[command(after_help = "\
Examples:
  photopipe upload samples/photos                   every file, keyed by its path below the folder
  photopipe upload a.jpg b.heic --to 2026/          photos/2026/a.jpg, photos/2026/b.heic

A file that is clearly not a photo (empty, or no image format's first bytes) is skipped with
the reason; exits 1 if any upload failed.")]
    Upload(UploadArgs),
    /// One photo's whole story: versions, executions, steps, thumbnails, archive copy,
    /// whether it can be redriven.
    #[command(after_help = "\
Examples:
  photopipe status photos/trip/a.jpg
  photopipe status trip/a.jpg                       photos/ is added")]
    Status(StatusArgs),
    /// List executions (a table, or JSON), with the failures grouped by error name.
    #[command(after_help = "\
Examples:
  photopipe executions                              the last 24 hours
  photopipe executions --status FAILED,TIMED_OUT --since 7d
  photopipe executions --json | jq '.failuresByError'")]
    Executions(ExecutionsArgs),
    /// Redrive failed runs (RedriveExecution), saying which cannot be and why.
    #[command(after_help = "\
Examples:
  photopipe redrive arn:aws:states:…:execution:photopipe:abc
  photopipe redrive --failed --since 24h --error Photo.Transient --dry-run
  photopipe redrive --failed --since 3d

Refused, with the reason: runs that succeeded or are running, runs that rejected their photo
(Photo.InvalidImage, …: a redrive would only reject it again), runs closed over 14 days ago.
Exits 1 if a RedriveExecution call failed.")]
    Redrive(RedriveArgs),
    /// Start runs for originals already in the dropbox that no execution works on, under
    /// names derived from their versions (a second backfill starts nothing twice).
    #[command(after_help = "\
Examples:
  photopipe backfill --dry-run                      what would be started, and what a run covers
  photopipe backfill --prefix photos/2019/          only that folder

An original a running or still-redrivable run covers is left to it. For millions of originals,
see the README (\"Operating it\"): a Distributed Map over an S3 inventory is the tool there.
Exits 1 if a StartExecution call failed.")]
    Backfill(BackfillArgs),
    /// Check that nothing is lost: every uploaded version archived, quarantined or being
    /// processed; what to do about anything else.
    #[command(after_help = "\
Examples:
  photopipe audit
  photopipe audit --renditions 256x256,1024x1024:webp   the renditions the stack makes

Reads the archive with the Wasabi key in --wasabi-secret. Exits 1 if anything needs attention.")]
    Audit(AuditArgs),
    /// Make thumbnails of local files with the pipeline's engine (one thread), printing the
    /// CPU time each took.
    #[command(after_help = "\
Examples:
  photopipe thumbnail samples/photos/* --out /tmp/thumbs
  photopipe thumbnail a.heic --renditions 256x256,1024x1024:fill:webp:q75 --out /tmp/thumbs")]
    Thumbnail(ThumbnailArgs),
    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  photopipe completions bash > ~/.local/share/bash-completion/completions/photopipe
  photopipe completions zsh > \"${fpath[1]}/_photopipe\"")]
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// Files and folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The key prefix, under photos/.
    #[arg(long, default_value = "photos/")]
    pub to: String,
    /// Files uploaded at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The photo's key (photos/ is added if missing).
    pub key: String,
}

/// An execution status, as the flags write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusArg {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    PendingRedrive,
}

impl From<StatusArg> for ExecutionStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Running => Self::Running,
            StatusArg::Succeeded => Self::Succeeded,
            StatusArg::Failed => Self::Failed,
            StatusArg::TimedOut => Self::TimedOut,
            StatusArg::Aborted => Self::Aborted,
            StatusArg::PendingRedrive => Self::PendingRedrive,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ExecutionsArgs {
    /// Only these statuses (comma-separated).
    #[arg(long, value_delimiter = ',', ignore_case = true)]
    pub status: Vec<StatusArg>,
    /// Only those started within this window (30m, 24h, 7d).
    #[arg(long, default_value = "24h")]
    pub since: Since,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    /// JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["executions", "failed"])))]
pub struct RedriveArgs {
    /// Executions, by ARN or by name.
    pub executions: Vec<String>,
    /// Every failed, timed-out or aborted run within --since.
    #[arg(long)]
    pub failed: bool,
    /// With --failed: the window (30m, 24h, 7d).
    #[arg(long, default_value = "24h", requires = "failed")]
    pub since: Since,
    /// With --failed: only runs that failed with this error name.
    #[arg(long, requires = "failed")]
    pub error: Option<String>,
    /// Say what would be redriven, and redrive nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// RedriveExecution calls per second at most.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
}

#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// Only originals under this prefix (photos/ is added if missing).
    #[arg(long, default_value = "photos/")]
    pub prefix: String,
    /// Say what would be started, and start nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The renditions the stack's thumbnail function makes.
    #[arg(long, env = "THUMBNAIL_RENDITIONS", default_value = "256x256")]
    pub renditions: ThumbnailSettings,
}

#[derive(Debug, clap::Args)]
pub struct ThumbnailArgs {
    /// Comma-separated renditions, `WxH[:fit|fill][:jpeg|png|webp][:qNN][:upscale]`.
    #[arg(long, default_value = "256x256")]
    pub renditions: ThumbnailSettings,
    /// Where the thumbnails go, as `<DIR>/<rendition folder>/<file name>.<ext>`.
    #[arg(long, default_value = "out/thumbnails")]
    pub out: PathBuf,
    /// Image files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Whether the command did all it was asked without anything needing attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Done,
    /// Something failed or needs attention (said above): the exit status is 1.
    Attention,
}

impl Verdict {
    fn from_ok(ok: bool) -> Self {
        if ok { Self::Done } else { Self::Attention }
    }
}

/// Runs one command line, printing to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<Verdict> {
    let target = &cli.target;
    match cli.command {
        Command::Upload(args) => {
            let deployment = Deployment::connect(target, &[Need::Dropbox]).await?;
            let planned = upload::plan(&args.paths, &args.to)?;
            let progress = upload::progress_bar();
            let report = upload::upload(
                &deployment.s3,
                deployment.dropbox()?,
                planned,
                args.concurrency,
                &progress,
            )
            .await?;
            for (path, why) in &report.skipped {
                writeln!(out, "skipped {}: {why}", path.display())?;
            }
            for (path, err) in &report.failed {
                writeln!(out, "FAILED  {}: {err}", path.display())?;
            }
            let bytes: u64 = report.uploaded.iter().map(|f| f.size).sum();
            writeln!(
                out,
                "uploaded {} files ({bytes} bytes) to s3://{}/{}, skipped {}, failed {}",
                report.uploaded.len(),
                deployment.dropbox()?,
                upload::prefix_of(&args.to),
                report.skipped.len(),
                report.failed.len()
            )?;
            Ok(Verdict::from_ok(report.failed.is_empty()))
        }
        Command::Status(args) => {
            let deployment =
                Deployment::connect(target, &[Need::Dropbox, Need::StateMachine]).await?;
            let story = status::story(&deployment, &args.key).await?;
            status::write_story(out, &story)?;
            Ok(Verdict::Done)
        }
        Command::Executions(args) => {
            let deployment = Deployment::connect(target, &[Need::StateMachine]).await?;
            let filter = Filter {
                statuses: args.status.iter().map(|s| (*s).into()).collect(),
                since: Some(args.since.start()),
                limit: Some(args.limit),
            };
            let runs =
                executions::runs(&deployment.sfn, deployment.state_machine_arn()?, &filter).await?;
            if args.json {
                executions::write_json(out, &runs)?;
            } else {
                executions::write_table(out, &runs)?;
            }
            Ok(Verdict::Done)
        }
        Command::Redrive(args) => {
            anyhow::ensure!(args.rate > 0.0, "--rate must be above 0");
            let deployment = Deployment::connect(target, &[Need::StateMachine]).await?;
            let state_machine = deployment.state_machine_arn()?;
            let runs = if args.failed {
                let filter = Filter {
                    statuses: vec![
                        ExecutionStatus::Failed,
                        ExecutionStatus::TimedOut,
                        ExecutionStatus::Aborted,
                    ],
                    since: Some(args.since.start()),
                    limit: None,
                };
                let runs = executions::runs(&deployment.sfn, state_machine, &filter).await?;
                runs.into_iter()
                    .filter(|r| args.error.is_none() || r.error == args.error)
                    .collect()
            } else {
                let arns = args
                    .executions
                    .iter()
                    .map(|e| redrive::execution_arn(state_machine, e));
                executions::describe_all(&deployment.sfn, arns).await?
            };
            let interval = Duration::from_secs_f64(1.0 / args.rate);
            let report = redrive::redrive(&deployment.sfn, &runs, args.dry_run, interval).await?;
            redrive::write_report(out, &report, args.dry_run)?;
            Ok(Verdict::from_ok(redrive::all_done(&report)))
        }
        Command::Backfill(args) => {
            let deployment =
                Deployment::connect(target, &[Need::Dropbox, Need::StateMachine]).await?;
            let done = backfill::backfill(&deployment, &args.prefix, args.dry_run).await?;
            backfill::write_backfill(out, &done)?;
            Ok(Verdict::from_ok(done.all_started()))
        }
        Command::Audit(args) => {
            let deployment = Deployment::connect(
                target,
                &[Need::Dropbox, Need::Thumbnails, Need::StateMachine],
            )
            .await?;
            let audit = audit::audit(&deployment, &args.renditions.renditions).await?;
            audit::write_audit(out, &audit)?;
            Ok(Verdict::from_ok(!audit.needs_attention()))
        }
        Command::Thumbnail(args) => {
            thumbnail::thumbnail(&args.files, &args.renditions.renditions, &args.out, out)?;
            Ok(Verdict::Done)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "photopipe", out);
            Ok(Verdict::Done)
        }
    }
}
