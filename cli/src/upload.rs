//! `photopipe upload PATHS…`: files and folders (recursively) into the dropbox under
//! `photos/` (or `--to`), each key the file's path relative to the folder given, several at
//! once, one PutObject for a small file and a multipart upload (16 MiB parts, each with its
//! Content-MD5, aborted on failure) for a large one, with a progress bar of the bytes sent.
//! A file that is clearly not a photo (empty, or its first bytes match no image format:
//! a `.DS_Store`, a text file, a video) is skipped, saying why; one in a format the pipeline
//! recognises but refuses (TIFF, BMP, AVIF) is uploaded, to be quarantined with its reason.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use photopipe::PipelineError;
use photopipe::s3::multipart::{MultipartUpload, Overwrite};
use photopipe::settings::PHOTOS_PREFIX;

use crate::failure::api;

/// Files above this go up in parts of this size.
pub const PART_SIZE: u64 = 16 * 1024 * 1024;

/// One file to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub path: PathBuf,
    pub key: String,
    pub size: u64,
}

/// What `upload` did with each file.
#[derive(Debug, Default)]
pub struct Uploaded {
    pub uploaded: Vec<Planned>,
    /// Files skipped, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Files that failed, with the error.
    pub failed: Vec<(PathBuf, String)>,
}

/// Every file of `paths` with its key under `to`: a file as its name, a folder's files as
/// their path below the folder.
pub fn plan(paths: &[PathBuf], to: &str) -> anyhow::Result<Vec<Planned>> {
    let to = prefix_of(to);
    let mut planned = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            let mut folders = vec![path.clone()];
            while let Some(folder) = folders.pop() {
                for entry in std::fs::read_dir(&folder)
                    .with_context(|| format!("reading {}", folder.display()))?
                {
                    let entry = entry?.path();
                    if entry.is_dir() {
                        folders.push(entry);
                    } else if entry.is_file() {
                        let relative: Vec<String> = entry
                            .strip_prefix(path)?
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect();
                        let size = entry.metadata()?.len();
                        planned.push(Planned {
                            key: format!("{to}{}", relative.join("/")),
                            path: entry,
                            size,
                        });
                    }
                }
            }
        } else {
            let name = path
                .file_name()
                .with_context(|| format!("{} has no file name", path.display()))?
                .to_string_lossy();
            planned.push(Planned {
                key: format!("{to}{name}"),
                path: path.clone(),
                size: meta.len(),
            });
        }
    }
    planned.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(planned)
}

/// `to` as a key prefix under `photos/`, ending in `/`.
pub fn prefix_of(to: &str) -> String {
    let mut to = to.trim_start_matches('/').to_owned();
    if !to.starts_with(PHOTOS_PREFIX) {
        to = format!("{PHOTOS_PREFIX}{to}");
    }
    if !to.ends_with('/') {
        to.push('/');
    }
    to
}

/// Why a file is clearly not a photo, if it is not: its first bytes match no image format.
pub fn not_a_photo(path: &Path) -> anyhow::Result<Option<String>> {
    let mut head = vec![0; photopipe_imaging::SNIFF_LEN];
    let mut file = std::fs::File::open(path)?;
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => break,
            n => read += n,
        }
    }
    head.truncate(read);
    Ok(match photopipe_imaging::sniff(&head) {
        Ok(_) | Err(PipelineError::UnsupportedFormat(_)) => None,
        Err(err) => Some(err.to_string()),
    })
}

/// Uploads every planned file to `bucket`, `at_once` at a time.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    planned: Vec<Planned>,
    at_once: usize,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Uploaded> {
    let mut report = Uploaded::default();
    let mut sending = Vec::new();
    for file in planned {
        match not_a_photo(&file.path)? {
            Some(why) => report.skipped.push((file.path, why)),
            None => sending.push(file),
        }
    }
    progress.set_length(sending.iter().map(|f| f.size).sum());
    let gate = Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
    let mut uploading = tokio::task::JoinSet::new();
    for file in sending {
        let (s3, gate, bucket, progress) = (
            s3.clone(),
            Arc::clone(&gate),
            bucket.to_owned(),
            progress.clone(),
        );
        uploading.spawn(async move {
            let _turn = gate.acquire_owned().await?;
            let sent = put(&s3, &bucket, &file, &progress).await;
            anyhow::Ok((file, sent))
        });
    }
    while let Some(done) = uploading.join_next().await {
        let (file, sent) = done??;
        match sent {
            Ok(()) => report.uploaded.push(file),
            Err(err) => report.failed.push((file.path, format!("{err:#}"))),
        }
    }
    report.uploaded.sort_by(|a, b| a.key.cmp(&b.key));
    progress.finish_and_clear();
    Ok(report)
}

async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    file: &Planned,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    if file.size <= PART_SIZE {
        let body = ByteStream::from_path(&file.path)
            .await
            .with_context(|| format!("reading {}", file.path.display()))?;
        s3.put_object()
            .bucket(bucket)
            .key(&file.key)
            .body(body)
            .send()
            .await
            .map_err(api("PutObject"))?;
        progress.inc(file.size);
        return Ok(());
    }
    let mut upload = MultipartUpload::create(s3, bucket, &file.key, |request| request).await?;
    let parts = send_parts(&mut upload, &file.path, progress).await;
    upload.finish(parts, Overwrite::Allowed).await?;
    Ok(())
}

async fn send_parts(
    upload: &mut MultipartUpload<'_>,
    path: &Path,
    progress: &indicatif::ProgressBar,
) -> photopipe::Result<()> {
    use tokio::io::AsyncReadExt;
    let unreadable = |err: std::io::Error| {
        PipelineError::Configuration(format!("reading {}: {err}", path.display()))
    };
    let mut file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    loop {
        let mut part = Vec::with_capacity(PART_SIZE as usize);
        (&mut file)
            .take(PART_SIZE)
            .read_to_end(&mut part)
            .await
            .map_err(unreadable)?;
        if part.is_empty() {
            return Ok(());
        }
        let length = part.len() as u64;
        upload.upload_part(part.into()).await?;
        progress.inc(length);
    }
}

/// A progress bar of bytes, drawn on standard error when it is a terminal.
pub fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {elapsed}",
    ) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_to_the_folder_given_under_the_prefix() {
        let dir = tempfile::tempdir().expect("temp dir");
        let trip = dir.path().join("trip");
        std::fs::create_dir_all(trip.join("day 1")).expect("folders");
        std::fs::write(trip.join("day 1/a.jpg"), b"\xFF\xD8\xFF").expect("a");
        std::fs::write(trip.join("notes.txt"), b"hello").expect("notes");
        std::fs::write(dir.path().join("b.png"), b"\x89PNG\r\n\x1a\n").expect("b");
        let planned = plan(&[trip.clone(), dir.path().join("b.png")], "photos/").expect("plan");
        let keys: Vec<&str> = planned.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["photos/b.png", "photos/day 1/a.jpg", "photos/notes.txt"]
        );
        let under = plan(std::slice::from_ref(&trip), "2026/").expect("plan");
        assert_eq!(under[0].key, "photos/2026/day 1/a.jpg");
        assert_eq!(not_a_photo(&trip.join("day 1/a.jpg")).expect("read"), None);
        let why = not_a_photo(&trip.join("notes.txt")).expect("read");
        assert!(
            why.is_some_and(|w| w.contains("not")),
            "a text file is no photo"
        );
        std::fs::write(dir.path().join("empty.jpg"), b"").expect("empty");
        assert_eq!(
            not_a_photo(&dir.path().join("empty.jpg"))
                .expect("read")
                .as_deref(),
            Some("empty file")
        );
    }
}
