//! The loss paths, closed: the same key uploaded twice with different content in quick
//! succession (both archived, the thumbnail the latest's, a late event for the older one
//! changes nothing), two rejected files with one name (both kept, each with its reason), a
//! folder marker (ignored), a photo under folder names of 260+ bytes (archived like any
//! other), and a key too long for its derived names (quarantined under its hash, named
//! `Photo.KeyTooLong`). The invariant holds after each.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use photopipe::model::QuarantineReason;
use photopipe::s3::meta;
use photopipe_local::run;
use photopipe_local::stack::{ARCHIVE, DROPBOX, THUMBNAILS, workspace_root};

use crate::{archive_key, assert_nothing_lost, keys, process, read, stack};

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("samples/photos").join(name)).expect("sample")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_upload_is_lost_or_overwritten() {
    let stack = stack("losses", 2).await;
    let (older, newer) = (sample("chelsea.png"), sample("lake.webp"));
    let long_path = format!(
        "photos/{}/{}/lake.webp",
        "a very long folder name ".repeat(11),
        "and another one, just as long ".repeat(9)
    );
    let too_long = format!("photos/{}.jpg", "k".repeat(1010));
    let text = b"not a photo at all".to_vec();
    let uploads = vec![
        ("photos/same.jpg".to_owned(), older.clone()),
        ("photos/same.jpg".to_owned(), newer.clone()),
        ("photos/IMG_0001.JPG".to_owned(), text.clone()),
        ("photos/IMG_0001.JPG".to_owned(), b"another text".to_vec()),
        ("photos/trip/".to_owned(), Vec::new()),
        (long_path.clone(), newer.clone()),
        (too_long.clone(), older.clone()),
    ];
    // Longer than a file name may be (255 bytes), as S3 allows.
    assert!(long_path.split('/').any(|part| part.len() > 255));
    assert_eq!(too_long.len(), 1021, "a valid S3 key");
    let results = process(&stack, uploads).await;
    let outcome = |key: &str| -> Vec<(ExecutionStatus, Option<String>)> {
        results
            .iter()
            .filter(|(s, _)| s.key == key)
            .map(|(_, f)| (f.status.clone(), f.error.clone()))
            .collect()
    };
    let succeeded = (ExecutionStatus::Succeeded, None);
    assert_eq!(
        outcome("photos/same.jpg"),
        vec![succeeded.clone(), succeeded.clone()]
    );
    assert_eq!(outcome("photos/trip/"), vec![succeeded.clone()]);
    assert_eq!(outcome(&long_path), vec![succeeded.clone()]);
    let rejected = (
        ExecutionStatus::Failed,
        Some("Photo.InvalidImage".to_owned()),
    );
    assert_eq!(
        outcome("photos/IMG_0001.JPG"),
        vec![rejected.clone(), rejected]
    );
    assert_eq!(
        outcome(&too_long),
        vec![(ExecutionStatus::Failed, Some("Photo.KeyTooLong".to_owned()))]
    );

    // Both versions of same.jpg are archived, neither replacing the other; the thumbnail is
    // the newer one's.
    let archived = keys(&stack.wasabi_s3, ARCHIVE).await;
    for (key, bytes) in [
        ("photos/same.jpg", &older),
        ("photos/same.jpg", &newer),
        (long_path.as_str(), &newer),
    ] {
        let archive = archive_key(key, bytes);
        assert!(archived.contains(&archive), "{archive} not in {archived:?}");
        assert_eq!(&read(&stack.wasabi_s3, ARCHIVE, &archive).await, bytes);
    }
    assert_eq!(archived.len(), 3, "{archived:?}");
    let thumbnail_source = || async {
        let head = photopipe::s3::head(&stack.s3, THUMBNAILS, "256x256/same.jpg.jpg")
            .await
            .expect("head")
            .expect("thumbnail");
        meta::get(&head, meta::SOURCE_SHA256).map(str::to_owned)
    };
    let newer_sha = photopipe::s3::sha256_hex(&newer);
    assert_eq!(thumbnail_source().await, Some(newer_sha.clone()));

    // Two rejected files with one name: both kept, each with its own reason.
    let quarantined: Vec<String> = keys(&stack.s3, DROPBOX)
        .await
        .into_iter()
        .filter(|k| k.starts_with("rejected/IMG_0001.JPG~"))
        .collect();
    assert_eq!(
        quarantined.len(),
        4,
        "two copies, two reasons: {quarantined:?}"
    );
    let mut kept = Vec::new();
    for key in quarantined.iter().filter(|k| !k.ends_with(".reason.json")) {
        kept.push(read(&stack.s3, DROPBOX, key).await);
        let reason: QuarantineReason =
            serde_json::from_slice(&read(&stack.s3, DROPBOX, &format!("{key}.reason.json")).await)
                .expect("reason");
        assert_eq!(reason.error, "Photo.InvalidImage");
    }
    kept.sort();
    assert_eq!(kept, vec![b"another text".to_vec(), text]);

    // The key too long for its derived names waits under its hash, its key in the reason.
    let long_keys: Vec<String> = keys(&stack.s3, DROPBOX)
        .await
        .into_iter()
        .filter(|k| k.starts_with("rejected/long-keys/") && k.ends_with(".reason.json"))
        .collect();
    assert_eq!(long_keys.len(), 1, "{long_keys:?}");
    let reason: QuarantineReason =
        serde_json::from_slice(&read(&stack.s3, DROPBOX, &long_keys[0]).await).expect("reason");
    assert_eq!(
        (reason.source_key.as_str(), reason.error.as_str()),
        (too_long.as_str(), "Photo.KeyTooLong")
    );
    assert!(reason.cause.contains("shorter path"), "{}", reason.cause);
    assert_nothing_lost(&stack).await;

    // A late duplicate event for the older version changes nothing.
    let older_sha = photopipe::s3::sha256_hex(&older);
    let (older_run, _) = results
        .iter()
        .find(|(s, f)| {
            s.key == "photos/same.jpg"
                && f.output
                    .as_ref()
                    .is_some_and(|o| o["photo"]["sha256"] == older_sha.as_str())
        })
        .expect("the older version's run");
    let execution = stack
        .sfn
        .start_execution()
        .state_machine_arn(&stack.state_machine_arn)
        .name("late-duplicate")
        .input(&older_run.input)
        .send()
        .await
        .expect("starts")
        .execution_arn;
    let late = run::wait(&stack, &execution, Duration::from_secs(120))
        .await
        .expect("finishes");
    assert_eq!(late.status, ExecutionStatus::Succeeded, "{:?}", late.cause);
    assert_eq!(thumbnail_source().await, Some(newer_sha));
    assert_eq!(keys(&stack.wasabi_s3, ARCHIVE).await.len(), 3);
    assert_nothing_lost(&stack).await;

    // The checker sees what is wrong: an upload whose event never started a run.
    run::upload(&stack, "photos/orphan.jpg", older.clone())
        .await
        .expect("upload");
    let renditions = photopipe::settings::ThumbnailSettings::default().renditions;
    let violations = photopipe_local::invariant::check(&stack, &renditions)
        .await
        .expect("checked");
    let flagged: Vec<&str> = violations.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(flagged, vec!["photos/orphan.jpg"], "{violations:?}");
    stack.stop().await;
}
