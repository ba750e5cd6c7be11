//! `photopipe`, the operator's CLI, against the local stack with real requests: upload a
//! folder (a text file skipped), list the executions and their failures by error, one
//! photo's story, a run made to fail by a Wasabi outage, redrive (refusing the rejection,
//! redriving the outage's failure), audit (a failed run and an unprocessed original need
//! attention; clean once they are dealt with); and the built `photopipe` binary run as a
//! process, its exit status and hints included.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use photopipe::backlog::StartOutcome;
use photopipe_cli::deployment::{Deployment, TargetArgs, WasabiArgs};
use photopipe_cli::executions::{self, Filter};
use photopipe_cli::invariant::{Standing, ViolationKind};
use photopipe_cli::redrive::{self, Outcome};
use photopipe_cli::status::{self, StepResult};
use photopipe_cli::{audit, backfill, upload};
use photopipe_local::run;
use photopipe_local::stack::{
    ARCHIVE, DROPBOX, LocalStack, StackOptions, THUMBNAILS, workspace_root,
};

use crate::{assert_nothing_lost, settle, stack};

/// The flags `scripts/local up` exports as environment, for this stack.
fn target(stack: &LocalStack) -> TargetArgs {
    TargetArgs {
        stack: "photopipe".into(),
        endpoint_url: Some(stack.aws_endpoint().to_owned()),
        region: Some("us-east-1".into()),
        dropbox: Some(DROPBOX.into()),
        thumbnails: Some(THUMBNAILS.into()),
        state_machine_arn: Some(stack.state_machine_arn.clone()),
        wasabi: WasabiArgs {
            wasabi_endpoint: stack.wasabi.endpoint.clone(),
            wasabi_region: "eu-central-2".into(),
            wasabi_bucket: ARCHIVE.into(),
            wasabi_secret: "demo/wasabi/read".into(),
        },
        profile: None,
    }
}

async fn deployment(stack: &LocalStack) -> Deployment {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(stack.aws_endpoint())
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "e2e",
        ))
        .load()
        .await;
    Deployment::from_config(&sdk, &target(stack))
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("samples/photos").join(name)).expect("sample")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_uploads_inspects_redrives_and_audits() {
    let stack = stack("cli", 2).await;
    let deployment = deployment(&stack).await;
    let renditions = photopipe::settings::ThumbnailSettings::default().renditions;

    // upload: a folder, keys from its relative paths; the text file is skipped.
    let folder = tempfile::tempdir().expect("folder");
    std::fs::create_dir_all(folder.path().join("trip")).expect("trip");
    std::fs::write(
        folder.path().join("trip/chelsea.png"),
        sample("chelsea.png"),
    )
    .expect("png");
    std::fs::write(folder.path().join("lake.webp"), sample("lake.webp")).expect("webp");
    // A JPEG's first bytes, then nothing a decoder can read: the pipeline rejects it.
    std::fs::write(
        folder.path().join("broken.jpg"),
        b"\xFF\xD8\xFF\xE0 not really",
    )
    .expect("bad");
    std::fs::write(folder.path().join("notes.txt"), b"shopping list").expect("txt");
    let planned = upload::plan(&[folder.path().to_path_buf()], "photos/").expect("plan");
    let uploaded = upload::upload(
        &deployment.s3,
        DROPBOX,
        planned,
        4,
        &indicatif::ProgressBar::hidden(),
    )
    .await
    .expect("upload");
    let keys: Vec<&str> = uploaded.uploaded.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "photos/broken.jpg",
            "photos/lake.webp",
            "photos/trip/chelsea.png"
        ]
    );
    assert_eq!(uploaded.skipped.len(), 1, "{:?}", uploaded.skipped);
    assert!(uploaded.skipped[0].0.ends_with("notes.txt"));
    assert!(uploaded.failed.is_empty(), "{:?}", uploaded.failed);
    let settled = settle(&stack, 3).await;
    assert_eq!(
        settled
            .iter()
            .filter(|(_, f)| f.status == ExecutionStatus::Succeeded)
            .count(),
        2,
        "{settled:?}"
    );

    // executions: all three, the rejection grouped under its error.
    let runs = executions::runs(
        &deployment.sfn,
        &stack.state_machine_arn,
        &Filter::default(),
    )
    .await
    .expect("executions");
    assert_eq!(runs.len(), 3);
    let groups = executions::failures_by_error(&runs);
    assert_eq!(groups.get("Photo.InvalidImage"), Some(&1), "{groups:?}");
    assert_eq!(groups.len(), 1);

    // status: the archived photo's story, step by step, with its copies.
    let story = status::story(&deployment, "trip/chelsea.png")
        .await
        .expect("story");
    assert_eq!(story.key, "photos/trip/chelsea.png");
    assert_eq!(story.versions.len(), 1);
    assert_eq!(story.versions[0].outcome.as_deref(), Some("archived"));
    assert!(!story.versions[0].current);
    assert_eq!(story.runs.len(), 1);
    let chelsea = &story.runs[0];
    let steps: Vec<(&str, &StepResult)> = chelsea
        .steps
        .iter()
        .map(|s| (s.state.as_str(), &s.result))
        .collect();
    assert_eq!(
        steps,
        [
            ("Validate", &StepResult::Succeeded),
            ("Thumbnail", &StepResult::Succeeded),
            ("Archive", &StepResult::Succeeded),
            ("Cleanup", &StepResult::Succeeded),
        ]
    );
    assert_eq!(
        chelsea.thumbnails,
        [format!("{THUMBNAILS}/256x256/trip/chelsea.png.jpg")]
    );
    assert!(
        chelsea
            .archive
            .as_deref()
            .is_some_and(|a| a.starts_with(&format!("{ARCHIVE}/trip/chelsea."))),
        "{:?}",
        chelsea.archive
    );
    // The rejected photo's story: caught at Validate, quarantined, not redrivable.
    let broken = status::story(&deployment, "photos/broken.jpg")
        .await
        .expect("story");
    assert_eq!(broken.versions[0].outcome.as_deref(), Some("quarantined"));
    let reason = broken.versions[0]
        .quarantine_reason
        .as_ref()
        .expect("reason");
    assert_eq!(reason["error"], "Photo.InvalidImage");
    let rejected = &broken.runs[0];
    assert_eq!(rejected.steps[0].result, StepResult::Caught);
    assert!(
        rejected
            .redrive_refusal
            .as_deref()
            .is_some_and(|why| why.contains("rejected its photo")),
        "{:?}",
        rejected.redrive_refusal
    );

    // A run made to fail: the functions' Wasabi down for longer than the (fast) retries.
    stack.wasabi_faults.down_for(Duration::from_secs(3600));
    run::upload(
        &stack,
        "photos/outage/hopper.jpg",
        sample("hopper-rotated.jpg"),
    )
    .await
    .expect("upload");
    let failed = settle(&stack, 1).await;
    assert_eq!(failed[0].1.error.as_deref(), Some("Photo.Transient"));
    let story = status::story(&deployment, "outage/hopper.jpg")
        .await
        .expect("story");
    let outage = &story.runs[0];
    assert_eq!(outage.redrive_refusal, None, "redrivable");
    let archive = outage
        .steps
        .iter()
        .find(|s| s.state == "Archive")
        .expect("Archive");
    assert_eq!(archive.result, StepResult::Failed);
    assert!(archive.attempts > 1, "retried before failing: {archive:?}");
    assert_eq!(outage.thumbnails.len(), 1, "made before the archive failed");

    // audit: the failed run needs attention, and so does an original nobody processed.
    run::upload(&stack, "photos/late.png", sample("chelsea.png"))
        .await
        .expect("upload");
    let found = audit::audit(&deployment, &renditions).await.expect("audit");
    assert!(found.needs_attention());
    let standing = |key: &str| {
        found
            .surveyed
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.standing.clone())
            .expect(key)
    };
    assert!(matches!(
        standing("photos/outage/hopper.jpg"),
        Standing::Failed { .. }
    ));
    assert!(
        matches!(standing("photos/late.png"), Standing::Violation(v) if v.kind == ViolationKind::NoExecution)
    );
    assert_eq!(standing("photos/lake.webp"), Standing::Archived);
    assert_eq!(found.reasons.len(), 1);
    assert!(
        found.reasons[0].1.starts_with("Photo.InvalidImage: "),
        "{:?}",
        found.reasons
    );
    // backfill: the late original is started (its queued event is never delivered here),
    // the failed run's photo left to its run; once, whatever how many backfills.
    stack.wasabi_faults.heal();
    let dry = backfill::backfill(&deployment, "photos/", true)
        .await
        .expect("dry run");
    assert_eq!(dry.starts.len(), 1);
    assert_eq!(dry.starts[0].source.key, "photos/late.png");
    assert_eq!(dry.starts[0].outcome, StartOutcome::WouldStart);
    let covered: Vec<&str> = dry
        .scan
        .covered
        .iter()
        .map(|c| c.original.source.key.as_str())
        .collect();
    assert_eq!(covered, ["photos/outage/hopper.jpg"]);
    let started = backfill::backfill(&deployment, "photos/", false)
        .await
        .expect("backfill");
    let StartOutcome::Started { execution_arn } = &started.starts[0].outcome else {
        panic!("{started:?}");
    };
    let again = backfill::backfill(&deployment, "photos/late.png", false)
        .await
        .expect("again");
    assert!(
        again
            .starts
            .iter()
            .all(|s| s.outcome != StartOutcome::WouldStart)
    );
    assert!(
        again.starts.is_empty() || again.starts[0].outcome == StartOutcome::AlreadyStarted,
        "{again:?}"
    );
    let late = run::wait(&stack, execution_arn, Duration::from_secs(120))
        .await
        .expect("ends");
    assert_eq!(late.status, ExecutionStatus::Succeeded, "{late:?}");

    // redrive --failed --dry-run: the outage's run would be, the rejection would not.
    let unsuccessful = Filter {
        statuses: vec![ExecutionStatus::Failed],
        ..Filter::default()
    };
    let failed_runs = executions::runs(&deployment.sfn, &stack.state_machine_arn, &unsuccessful)
        .await
        .expect("failed runs");
    assert_eq!(failed_runs.len(), 2);
    let pace = Duration::from_millis(100);
    let dry = redrive::redrive(&deployment.sfn, &failed_runs, true, pace)
        .await
        .expect("dry run");
    let outcome_of = |report: &[redrive::Redrive], key: &str| {
        report
            .iter()
            .find(|r| r.key.as_deref() == Some(key))
            .map(|r| r.outcome.clone())
            .expect(key)
    };
    assert_eq!(
        outcome_of(&dry, "photos/outage/hopper.jpg"),
        Outcome::WouldRedrive
    );
    assert!(matches!(
        outcome_of(&dry, "photos/broken.jpg"),
        Outcome::Refused(_)
    ));

    // The redrive completes the run, and a second redrive refuses it.
    let done = redrive::redrive(&deployment.sfn, &failed_runs, false, pace)
        .await
        .expect("redrive");
    assert_eq!(
        outcome_of(&done, "photos/outage/hopper.jpg"),
        Outcome::Redriven
    );
    assert!(redrive::all_done(&done));
    let arn = &outage.run.arn;
    let finished = run::wait(&stack, arn, Duration::from_secs(120))
        .await
        .expect("ends");
    assert_eq!(finished.status, ExecutionStatus::Succeeded, "{finished:?}");
    let again = executions::describe_all(&deployment.sfn, [arn.clone()])
        .await
        .expect("run");
    assert_eq!(again[0].redrive_count, 1);
    let twice = redrive::redrive(&deployment.sfn, &again, false, pace)
        .await
        .expect("again");
    assert!(matches!(&twice[0].outcome, Outcome::Refused(why) if why.contains("succeeded")));

    // audit: clean.
    let clean = audit::audit(&deployment, &renditions).await.expect("audit");
    assert!(!clean.needs_attention(), "{clean:#?}");
    assert_nothing_lost(&stack).await;

    binary_against(&stack);
    stack.stop().await;
}

/// The built `photopipe`, beside the other binaries.
fn photopipe_binary() -> PathBuf {
    let options = StackOptions::for_workspace(PathBuf::from("unused")).expect("options");
    options.bin_dir.join("photopipe")
}

/// `photopipe` with the environment `scripts/local up` prints for `stack`.
fn photopipe(stack: &LocalStack) -> Command {
    let mut command = Command::new(photopipe_binary());
    command
        .env_clear()
        .env("AWS_ENDPOINT_URL", stack.aws_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("PHOTOPIPE_DROPBOX", DROPBOX)
        .env("PHOTOPIPE_THUMBNAILS", THUMBNAILS)
        .env("PHOTOPIPE_STATE_MACHINE_ARN", &stack.state_machine_arn)
        .env("WASABI_ENDPOINT", &stack.wasabi.endpoint)
        .env("WASABI_REGION", "eu-central-2")
        .env("WASABI_BUCKET", ARCHIVE);
    command
}

/// The process: its output, JSON, exit status and hints, on the stack the test left clean.
fn binary_against(stack: &LocalStack) {
    let audit = photopipe(stack)
        .arg("audit")
        .output()
        .expect("photopipe runs");
    let stdout = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    assert!(stdout.contains("nothing lost"), "{stdout}");
    assert!(
        stdout.contains("quarantined  photos/broken.jpg"),
        "{stdout}"
    );

    let listed = photopipe(stack)
        .args(["executions", "--json", "--since", "1h"])
        .output()
        .expect("photopipe runs");
    assert!(listed.status.success());
    let json: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(json["executions"].as_array().map(Vec::len), Some(5));
    assert_eq!(json["failuresByError"]["Photo.InvalidImage"], 1);

    let story = photopipe(stack)
        .args(["status", "outage/hopper.jpg"])
        .output()
        .expect("photopipe runs");
    let stdout = String::from_utf8_lossy(&story.stdout);
    assert!(stdout.contains("SUCCEEDED, redriven once"), "{stdout}");

    // No stack by that name, the names not given: the stack's outputs are looked for and
    // not found, and the hint says what to pass.
    let missing = photopipe(stack)
        .env_remove("PHOTOPIPE_STATE_MACHINE_ARN")
        .args(["executions", "--stack", "nosuchstack"])
        .output()
        .expect("photopipe runs");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("hint: no such stack here"), "{stderr}");
    assert!(!stderr.contains("DispatchFailure"), "no SDK dump: {stderr}");

    // Nothing listening: the hint says so.
    let unreachable = photopipe(stack)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["executions"])
        .output()
        .expect("photopipe runs");
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert_eq!(unreachable.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hint: the endpoint could not be reached"),
        "{stderr}"
    );
}

#[test]
fn the_binary_makes_thumbnails_and_completions_and_shows_examples() {
    let out = tempfile::tempdir().expect("out");
    let samples = workspace_root().join("samples/photos");
    let made = Command::new(photopipe_binary())
        .args(["thumbnail", "--renditions", "64x64,32x32:fill:png", "--out"])
        .arg(out.path())
        .args([samples.join("chelsea.png"), samples.join("not-a-photo.jpg")])
        .output()
        .expect("photopipe runs");
    let stdout = String::from_utf8_lossy(&made.stdout);
    assert!(made.status.success(), "{stdout}");
    assert!(
        stdout.contains("not-a-photo.jpg\tPhoto.InvalidImage"),
        "{stdout}"
    );
    let thumbnail = image::open(out.path().join("32x32-fill/chelsea.png.png")).expect("a PNG");
    assert_eq!((thumbnail.width(), thumbnail.height()), (32, 32));
    assert!(out.path().join("64x64/chelsea.png.jpg").is_file());

    let completions = Command::new(photopipe_binary())
        .args(["completions", "bash"])
        .output()
        .expect("photopipe runs");
    let script = String::from_utf8_lossy(&completions.stdout);
    assert!(
        script.contains("redrive") && script.contains("--dry-run"),
        "{script}"
    );

    for command in [
        "upload",
        "status",
        "executions",
        "redrive",
        "backfill",
        "audit",
    ] {
        let help = Command::new(photopipe_binary())
            .args([command, "--help"])
            .output()
            .expect("photopipe runs");
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(
            text.contains(&format!("Examples:\n  photopipe {command}")),
            "{text}"
        );
    }
}
