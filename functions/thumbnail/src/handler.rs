//! Thumbnail: renders the validated original into every configured rendition (one decode)
//! and writes them to the thumbnails bucket under keys derived from the source key, so each
//! path's thumbnails show its latest upload. Only the version that is current in the dropbox
//! writes them, each write conditional on what the key held when it looked (`If-Match` its
//! ETag, or `If-None-Match: *`): an older upload's run, late or racing a newer one, never
//! replaces the newer picture. A thumbnail already made from the same bytes with the same
//! rendition (a duplicate event, a redrive) is found and reused, not made again. A
//! rendition whose decode does not fit in the function's memory is skipped by name, with
//! nothing written for it: the step still succeeds and the photo is still archived. An
//! original too large to hold in the function's memory is not read at all: every rendition
//! is skipped so.

use std::collections::HashMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use photopipe::model::{Photo, PhotoRequest, RenditionOutcome, ThumbnailRecord};
use photopipe::s3::dropbox::{self, Holder};
use photopipe::s3::{self, meta};
use photopipe::settings::{InputLimits, Rendition, ThumbnailSettings};
use photopipe::{PipelineError, Result};
use photopipe_imaging::{self as imaging, OverBudget, Thumbnail};

/// What thumbnail works with: where thumbnails go and how they are made.
#[derive(Debug)]
pub struct Dependencies {
    pub s3: Client,
    /// The thumbnails bucket.
    pub bucket: String,
    pub settings: ThumbnailSettings,
    pub limits: InputLimits,
}

/// How many times the keys may change under us (another run writing) before the step
/// gives up for now and lets the state machine retry it.
const WRITE_ROUNDS: usize = 5;

/// What a rendition's key holds.
enum Existing {
    /// A thumbnail of these very bytes with this rendition.
    Made(ThumbnailRecord),
    /// Something else, with its ETag: an older upload's thumbnail, or another rendition's.
    Other(String),
    Absent,
}

/// What rendering gave for one rendition.
enum Rendered {
    Made(Thumbnail),
    /// Not made: the original or its decode does not fit in the function's memory (why,
    /// for a person).
    Skipped(String),
}

pub async fn handle(
    dependencies: &Dependencies,
    request: PhotoRequest,
) -> Result<Vec<RenditionOutcome>> {
    let Dependencies {
        s3,
        bucket,
        settings,
        limits,
    } = dependencies;
    let photo = request.photo;
    let renditions = &settings.renditions;
    let keys = renditions
        .iter()
        .map(|rendition| s3::thumbnail_key(&photo.source, rendition))
        .collect::<Result<Vec<_>>>()?;
    let mut rendered: HashMap<usize, Rendered> = HashMap::new();
    'round: for _ in 0..WRITE_ROUNDS {
        let mut existing = Vec::with_capacity(keys.len());
        for (key, rendition) in keys.iter().zip(renditions) {
            existing.push(existing_thumbnail(s3, bucket, key, &photo, rendition).await?);
        }
        let missing: Vec<usize> = (0..keys.len())
            .filter(|&i| !matches!(existing[i], Existing::Made(_)))
            .collect();
        if missing.is_empty() {
            tracing::info!(key = %photo.source.key, "every thumbnail already made from these bytes");
            return Ok(outcomes(existing, &rendered, renditions));
        }
        // Looked at after the keys, so a newer upload's thumbnail written since is caught
        // by the write's condition.
        if dropbox::holder(s3, &photo.source, &photo.etag).await? != Holder::This {
            tracing::info!(
                key = %photo.source.key,
                "no longer the current upload: its thumbnails are the newer upload's to make"
            );
            return Ok(outcomes(existing, &HashMap::new(), renditions));
        }
        let to_render: Vec<usize> = missing
            .iter()
            .copied()
            .filter(|i| !rendered.contains_key(i))
            .collect();
        if !to_render.is_empty() {
            let wanted: Vec<Rendition> = to_render.iter().map(|&i| renditions[i]).collect();
            let made = render(s3, &photo, &wanted, limits).await?;
            if made.len() != wanted.len() {
                return Err(PipelineError::Internal(format!(
                    "{} renditions asked for, {} made",
                    wanted.len(),
                    made.len()
                )));
            }
            rendered.extend(to_render.into_iter().zip(made));
        }
        for i in missing {
            let condition = match &existing[i] {
                Existing::Other(etag) => Condition::Replaces(etag.clone()),
                _ => Condition::Creates,
            };
            let thumb = match &rendered[&i] {
                Rendered::Made(thumb) => thumb,
                Rendered::Skipped(_) => continue,
            };
            let Some(record) = write(
                s3,
                bucket,
                &keys[i],
                &photo,
                &renditions[i],
                thumb,
                condition,
            )
            .await?
            else {
                tracing::info!(key = %keys[i], "the thumbnail changed while we wrote: looking again");
                continue 'round;
            };
            existing[i] = Existing::Made(record);
        }
        return Ok(outcomes(existing, &rendered, renditions));
    }
    Err(PipelineError::Transient(format!(
        "the thumbnails of {} kept changing under concurrent writes",
        photo.source.describe()
    )))
}

/// Each rendition's outcome, in the order they are configured: made from these bytes (now
/// or before), or skipped for memory; a rendition neither made nor skipped (this is no
/// longer the current upload) has none.
fn outcomes(
    existing: Vec<Existing>,
    rendered: &HashMap<usize, Rendered>,
    renditions: &[Rendition],
) -> Vec<RenditionOutcome> {
    existing
        .into_iter()
        .enumerate()
        .filter_map(|(i, e)| match (e, rendered.get(&i)) {
            (Existing::Made(record), _) => Some(RenditionOutcome::Made(record)),
            (_, Some(Rendered::Skipped(why))) => Some(RenditionOutcome::Skipped {
                rendition: renditions[i].to_string(),
                skipped: why.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// What a skipped rendition's record says after why: what to do.
const RAISE_MEMORY: &str = "thumbnail skipped; raise the thumbnail function's memory to make it";

/// Reads the original (checking it is still the bytes validate saw) and makes `wanted`
/// from one decode, those whose decode fits in memory: where all of them together do not
/// fit, the ones that fit alone, and the others are over budget. An original too large to
/// hold in memory is not read: every one is skipped.
async fn render(
    s3: &Client,
    photo: &Photo,
    wanted: &[Rendition],
    limits: &InputLimits,
) -> Result<Vec<Rendered>> {
    if let (false, Some(budget)) = (imaging::holds_original(photo.size, limits), limits.memory) {
        let why = format!(
            "the original is {}; the thumbnail function has {} MB ({} of it free to hold an \
             original and decode it): {RAISE_MEMORY}",
            imaging::show_bytes(photo.size),
            budget.function_mb,
            imaging::show_bytes(budget.decode_bytes)
        );
        tracing::warn!(key = %photo.source.key, size = photo.size, %why, "thumbnails skipped, the original unread");
        return Ok(wanted
            .iter()
            .map(|_| Rendered::Skipped(why.clone()))
            .collect());
    }
    let original = s3::read_original(s3, &photo.source, limits).await?;
    let bytes = &original.bytes;
    let actual = s3::sha256_hex(bytes);
    if actual != photo.sha256 {
        return Err(PipelineError::IntegrityMismatch(format!(
            "{} now has SHA-256 {actual}, validate saw {}",
            photo.source.describe(),
            photo.sha256
        )));
    }
    let inspection = imaging::inspect(bytes, limits)?;
    let mut over: Vec<Option<OverBudget>> = vec![None; wanted.len()];
    if let Some(together) = imaging::over_budget(bytes, &inspection, wanted, limits)? {
        for (rendition, over) in wanted.iter().zip(&mut over) {
            let alone = std::slice::from_ref(rendition);
            *over = imaging::over_budget(bytes, &inspection, alone, limits)?;
        }
        let fitting = fitting(wanted, &over);
        if !fitting.is_empty()
            && imaging::over_budget(bytes, &inspection, &fitting, limits)?.is_some()
        {
            over.fill(Some(together));
        }
    }
    let mut made = match fitting(wanted, &over).as_slice() {
        [] => Vec::new(),
        fitting => imaging::make_thumbnails(bytes, &inspection, fitting, limits)?,
    }
    .into_iter();
    over.into_iter()
        .zip(wanted)
        .map(|(over, rendition)| match over {
            Some(over) => {
                tracing::warn!(key = %photo.source.key, %rendition, %over, "thumbnail skipped");
                Ok(Rendered::Skipped(format!("{over}: {RAISE_MEMORY}")))
            }
            None => made.next().map(Rendered::Made).ok_or_else(|| {
                PipelineError::Internal(format!("no thumbnail made for {rendition}"))
            }),
        })
        .collect()
}

/// The renditions of `wanted` not over budget.
fn fitting(wanted: &[Rendition], over: &[Option<OverBudget>]) -> Vec<Rendition> {
    wanted
        .iter()
        .zip(over)
        .filter(|(_, over)| over.is_none())
        .map(|(rendition, _)| *rendition)
        .collect()
}

/// The condition a thumbnail write is made on.
enum Condition {
    /// The key held nothing: `If-None-Match: *`.
    Creates,
    /// The key held the object with this ETag: `If-Match`.
    Replaces(String),
}

/// Writes one thumbnail on `condition`; `None` when the key changed since it was looked at.
async fn write(
    s3: &Client,
    bucket: &str,
    key: &str,
    photo: &Photo,
    rendition: &Rendition,
    thumb: &Thumbnail,
    condition: Condition,
) -> Result<Option<ThumbnailRecord>> {
    let bytes = thumb.bytes.len() as u64;
    let mut put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(rendition.format.content_type())
        .body(ByteStream::from(thumb.bytes.clone()))
        .set_metadata(Some(meta::source(&photo.source)))
        .metadata(meta::SOURCE_SHA256, &photo.sha256)
        .metadata(meta::RENDITION, rendition.to_string())
        .metadata(meta::WIDTH, thumb.width.to_string())
        .metadata(meta::HEIGHT, thumb.height.to_string());
    put = match condition {
        Condition::Creates => put.if_none_match("*"),
        Condition::Replaces(etag) => put.if_match(etag),
    };
    match put.send().await {
        Ok(_) => {}
        // 412 (the condition failed), 409 (a write in flight), 404 (If-Match on an object
        // deleted since): someone else wrote; look again.
        Err(err)
            if s3::lost_conditional_write(&err)
                || err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 404) =>
        {
            return Ok(None);
        }
        Err(err) => {
            return Err(PipelineError::from_sdk(
                &format!("PutObject s3://{bucket}/{key}"),
                err,
            ));
        }
    }
    tracing::info!(%key, thumb.width, thumb.height, bytes, "thumbnail written");
    Ok(Some(ThumbnailRecord {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        width: thumb.width,
        height: thumb.height,
        bytes,
    }))
}

/// What `key` holds: a thumbnail made from these very bytes with this rendition, something
/// else (with its ETag, to replace it only if it is still that), or nothing.
async fn existing_thumbnail(
    s3: &Client,
    bucket: &str,
    key: &str,
    photo: &Photo,
    rendition: &Rendition,
) -> Result<Existing> {
    let Some(head) = s3::head(s3, bucket, key).await? else {
        return Ok(Existing::Absent);
    };
    let other = || Existing::Other(head.e_tag().unwrap_or_default().to_owned());
    if meta::get(&head, meta::SOURCE_SHA256) != Some(photo.sha256.as_str())
        || meta::get(&head, meta::RENDITION) != Some(rendition.to_string().as_str())
    {
        return Ok(other());
    }
    let dimension = |name| meta::get(&head, name).and_then(|v| v.parse().ok());
    let (Some(width), Some(height)) = (dimension(meta::WIDTH), dimension(meta::HEIGHT)) else {
        return Ok(other());
    };
    Ok(Existing::Made(ThumbnailRecord {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        width,
        height,
        bytes: head.content_length().unwrap_or(0).max(0) as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    use aws_sdk_s3::types::error::NotFound;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;
    use photopipe::settings::MemoryBudget;
    use photopipe::testing;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 100, 50]));
        let mut out = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .expect("jpeg");
        out.into_inner()
    }

    /// Runs the thumbnail step on a photo uploaded as `photos/a.jpg` with these bytes; the
    /// thumbnails it made.
    async fn thumbnail_of(client: &Client, bytes: &[u8]) -> Result<Vec<ThumbnailRecord>> {
        let outcomes = thumbnail_within(client, bytes, InputLimits::default()).await?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| match outcome {
                RenditionOutcome::Made(record) => record,
                skipped => panic!("{skipped:?}"),
            })
            .collect())
    }

    /// Runs the thumbnail step on a photo uploaded as `photos/a.jpg` with these bytes and
    /// limits.
    async fn thumbnail_within(
        client: &Client,
        bytes: &[u8],
        limits: InputLimits,
    ) -> Result<Vec<RenditionOutcome>> {
        let photo = testing::photo("photos/a.jpg", bytes);
        let dependencies = Dependencies {
            s3: client.clone(),
            bucket: "thumbs".into(),
            settings: ThumbnailSettings::default(),
            limits,
        };
        handle(&dependencies, PhotoRequest { photo }).await
    }

    #[tokio::test]
    async fn writes_a_fitted_thumbnail_with_its_provenance() {
        let bytes = jpeg(1000, 500);
        let body = bytes.clone();
        let (head, current) = (no_thumbnail(), current("v1"));
        let get = mock!(Client::get_object)
            .match_requests(|r| r.version_id() == Some("v1"))
            .then_output(move || {
                GetObjectOutput::builder()
                    .content_length(body.len() as i64)
                    .body(ByteStream::from(body.clone()))
                    .build()
            });
        let sha = s3::sha256_hex(&bytes);
        let put = mock!(Client::put_object)
            .match_requests(move |r| {
                r.bucket() == Some("thumbs")
                    && r.key() == Some("256x256/a.jpg.jpg")
                    && r.if_none_match() == Some("*")
                    && r.content_type() == Some("image/jpeg")
                    && r.metadata().and_then(|m| m.get("source-sha256")) == Some(&sha)
                    && r.metadata()
                        .and_then(|m| m.get("rendition"))
                        .map(String::as_str)
                        == Some("256x256:fit:jpeg:q80")
                    && r.metadata()
                        .and_then(|m| m.get("width"))
                        .map(String::as_str)
                        == Some("256")
            })
            .then_output(|| PutObjectOutput::builder().build());
        let client = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&head, &current, &get, &put]
        );
        let record = thumbnail_of(&client, &bytes).await.expect("thumbnail");
        assert_eq!(record.len(), 1);
        let record = &record[0];
        assert_eq!((record.width, record.height), (256, 128));
        assert_eq!(record.key, "256x256/a.jpg.jpg");
        assert!(record.bytes > 0);
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_rendition_whose_decode_does_not_fit_is_skipped_by_name_and_nothing_written() {
        // A 2 MP JPEG in a function left 2 MiB for it and its decode: even its 1/4 decode
        // (the reduced decoder's planes, with its slack) does not fit.
        let bytes = jpeg(2000, 1000);
        let (head, current, get) = (no_thumbnail(), current("v1"), serving(bytes.clone()));
        let put = mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build());
        let client = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&head, &current, &get, &put]
        );
        let limits = InputLimits {
            memory: Some(MemoryBudget {
                function_mb: 128,
                decode_bytes: 2 << 20,
            }),
            ..InputLimits::default()
        };
        let outcomes = thumbnail_within(&client, &bytes, limits)
            .await
            .expect("skipped, not failed");
        let [RenditionOutcome::Skipped { rendition, skipped }] = outcomes.as_slice() else {
            panic!("{outcomes:?}");
        };
        assert_eq!(rendition, "256x256:fit:jpeg:q80");
        assert!(
            skipped.starts_with("2 MP baseline JPEG needs about ")
                || skipped.starts_with("2 MP JPEG needs about "),
            "{skipped}"
        );
        assert!(
            skipped.ends_with(
                "MB to decode, the function has 128 MB (1 MB of it free to decode with): \
                 thumbnail skipped; raise the thumbnail function's memory to make it"
            ),
            "{skipped}"
        );
        assert_eq!(
            put.num_calls(),
            0,
            "nothing is written for a skipped rendition"
        );
        // The same JPEG without a budget is made as ever.
        let made = thumbnail_of(&client, &bytes).await.expect("made");
        assert_eq!((made[0].width, made[0].height), (256, 128));
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn of_two_renditions_the_one_that_fits_is_made_and_the_other_skipped() {
        // 64×64 is made from the JPEG's 1/8 decode; 4096×4096 needs it whole and its own
        // buffers (a 2000×1000 rendition): over 64 MiB.
        let bytes = jpeg(2000, 1000);
        let (head, current, get) = (no_thumbnail(), current("v1"), serving(bytes.clone()));
        let put = mock!(Client::put_object)
            .match_requests(|r| r.key() == Some("64x64/a.jpg.jpg"))
            .then_output(|| PutObjectOutput::builder().build());
        let client = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&head, &current, &get, &put]
        );
        let dependencies = Dependencies {
            s3: client,
            bucket: "thumbs".into(),
            settings: "64x64,4096x4096".parse().expect("renditions"),
            limits: InputLimits {
                memory: Some(MemoryBudget {
                    function_mb: 160,
                    decode_bytes: 64 << 20,
                }),
                ..InputLimits::default()
            },
        };
        let photo = testing::photo("photos/a.jpg", &bytes);
        let outcomes = handle(&dependencies, PhotoRequest { photo })
            .await
            .expect("one made, one skipped");
        let [
            RenditionOutcome::Made(made),
            RenditionOutcome::Skipped { rendition, skipped },
        ] = outcomes.as_slice()
        else {
            panic!("{outcomes:?}");
        };
        assert_eq!(
            (made.key.as_str(), made.width, made.height),
            ("64x64/a.jpg.jpg", 64, 32)
        );
        assert_eq!(rendition, "4096x4096:fit:jpeg:q80");
        assert!(skipped.contains("the function has 160 MB"), "{skipped}");
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_original_too_large_to_hold_is_not_read_and_every_rendition_skipped_by_name() {
        // What validate accepted on its header: a 2 GiB JPEG, in a 1024 MB function.
        let photo = Photo {
            size: 2 << 30,
            width: 600,
            height: 400,
            ..testing::photo("photos/a.jpg", b"its first bytes")
        };
        let (head, current) = (no_thumbnail(), current("v1"));
        let get = mock!(Client::get_object).then_output(|| GetObjectOutput::builder().build());
        let put = mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build());
        let client = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&head, &current, &get, &put]
        );
        let dependencies = Dependencies {
            s3: client,
            bucket: "thumbs".into(),
            settings: "256x256,1024x768:fill:webp".parse().expect("renditions"),
            limits: InputLimits {
                memory: Some(MemoryBudget::for_function(1024)),
                ..InputLimits::default()
            },
        };
        let outcomes = handle(&dependencies, PhotoRequest { photo })
            .await
            .expect("skipped, not failed");
        let why = "the original is 2.0 GB; the thumbnail function has 1024 MB (928 MB of it \
                   free to hold an original and decode it): thumbnail skipped; raise the \
                   thumbnail function's memory to make it";
        assert_eq!(
            outcomes,
            [
                RenditionOutcome::Skipped {
                    rendition: "256x256:fit:jpeg:q80".into(),
                    skipped: why.into(),
                },
                RenditionOutcome::Skipped {
                    rendition: "1024x768:fill:webp:q80".into(),
                    skipped: why.into(),
                },
            ]
        );
        assert_eq!(
            (get.num_calls(), put.num_calls()),
            (0, 0),
            "the original is never read, nothing written"
        );
    }

    #[tokio::test]
    async fn reuses_a_thumbnail_made_from_the_same_bytes() {
        let bytes = jpeg(10, 10);
        let sha = s3::sha256_hex(&bytes);
        let head = mock!(Client::head_object).then_output(move || {
            HeadObjectOutput::builder()
                .content_length(321)
                .metadata("source-sha256", sha.clone())
                .metadata("rendition", "256x256:fit:jpeg:q80")
                .metadata("width", "10")
                .metadata("height", "10")
                .build()
        });
        let get = mock!(Client::get_object).then_output(|| GetObjectOutput::builder().build());
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &get]);
        let record = thumbnail_of(&client, &bytes).await.expect("reused");
        let reused: Vec<_> = record
            .iter()
            .map(|r| (r.width, r.height, r.bytes))
            .collect();
        assert_eq!(reused, vec![(10, 10, 321)]);
        assert_eq!(get.num_calls(), 0, "the original is not read again");
    }

    #[tokio::test]
    async fn refuses_an_original_whose_bytes_changed_since_validate() {
        let (head, current) = (no_thumbnail(), current("v1"));
        let get = mock!(Client::get_object).then_output(|| {
            GetObjectOutput::builder()
                .content_length(3)
                .body(ByteStream::from_static(b"new"))
                .build()
        });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &current, &get]);
        let err = thumbnail_of(&client, b"old").await.expect_err("mismatch");
        assert_eq!(err.error_name(), "Photo.IntegrityMismatch");
    }

    fn no_thumbnail() -> Rule {
        mock!(Client::head_object)
            .match_requests(|r| r.bucket() == Some("thumbs"))
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()))
    }

    /// An older upload's thumbnail under the key, ETag `"old"`.
    fn older_thumbnail() -> Rule {
        mock!(Client::head_object)
            .match_requests(|r| r.bucket() == Some("thumbs"))
            .then_output(|| {
                HeadObjectOutput::builder()
                    .e_tag("\"old\"")
                    .metadata("source-sha256", "00ff")
                    .metadata("rendition", "256x256:fit:jpeg:q80")
                    .metadata("width", "1")
                    .metadata("height", "1")
                    .build()
            })
    }

    /// The dropbox's HEAD of the original's key (no version): `version` is current.
    fn current(version: &'static str) -> Rule {
        mock!(Client::head_object)
            .match_requests(|r| r.bucket() == Some("drop") && r.version_id().is_none())
            .then_output(move || HeadObjectOutput::builder().version_id(version).build())
    }

    fn serving(bytes: Vec<u8>) -> Rule {
        mock!(Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .content_length(bytes.len() as i64)
                .body(ByteStream::from(bytes.clone()))
                .build()
        })
    }

    #[tokio::test]
    async fn replaces_an_older_uploads_thumbnail_only_if_it_is_still_that_one() {
        let bytes = jpeg(300, 300);
        let (head, current, get) = (older_thumbnail(), current("v1"), serving(bytes.clone()));
        let put = mock!(Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"old\"") && r.if_none_match().is_none())
            .then_output(|| PutObjectOutput::builder().build());
        let client = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&head, &current, &get, &put]
        );
        let records = thumbnail_of(&client, &bytes).await.expect("written");
        assert_eq!(records.len(), 1);
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_version_no_longer_current_writes_no_thumbnail() {
        let bytes = jpeg(300, 300);
        let put = mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build());
        let get = serving(bytes.clone());
        for holder in [
            current("v2"),
            mock!(Client::head_object)
                .match_requests(|r| r.bucket() == Some("drop"))
                .then_error(|| HeadObjectError::NotFound(NotFound::builder().build())),
        ] {
            let head = older_thumbnail();
            let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &holder, &get, &put]);
            let records = thumbnail_of(&client, &bytes).await.expect("skipped");
            assert!(records.is_empty(), "{records:?}");
        }
        assert_eq!(
            put.num_calls(),
            0,
            "a newer upload's thumbnail is never replaced"
        );
        assert_eq!(get.num_calls(), 0, "nothing is rendered for nothing");
    }

    #[tokio::test]
    async fn a_write_that_loses_to_a_newer_upload_looks_again_and_leaves_it() {
        // Round 1: the key holds an older thumbnail and this version is current, but a newer
        // upload's run writes first (412). Round 2: the newer one is current: nothing written.
        let bytes = jpeg(300, 300);
        let (head1, now_v1, get) = (older_thumbnail(), current("v1"), serving(bytes.clone()));
        let lost = mock!(Client::put_object).then_error(|| {
            PutObjectError::generic(ErrorMetadata::builder().code("PreconditionFailed").build())
        });
        let (head2, now_v2) = (older_thumbnail(), current("v2"));
        let client = mock_client!(
            aws_sdk_s3,
            RuleMode::Sequential,
            [&head1, &now_v1, &get, &lost, &head2, &now_v2]
        );
        let records = thumbnail_of(&client, &bytes).await.expect("left alone");
        assert!(records.is_empty());
        assert_eq!((lost.num_calls(), now_v2.num_calls()), (1, 1));
    }
}
