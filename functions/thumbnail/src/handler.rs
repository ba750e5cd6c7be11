//! Thumbnail: renders the validated original into every configured rendition (one decode)
//! and writes them to the thumbnails bucket under keys derived from the source key. A
//! thumbnail already made from the same bytes with the same rendition (a duplicate event, a
//! redrive) is found and reused, not made again.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use photopipe::model::{Photo, PhotoRequest, ThumbnailRecord};
use photopipe::s3::checksum::{self, Recorded};
use photopipe::s3::{self, meta};
use photopipe::settings::{InputLimits, Rendition, ThumbnailSettings};
use photopipe::{PipelineError, Result};
use photopipe_imaging::{self as imaging, Thumbnail};

/// What thumbnail works with: where thumbnails go and how they are made.
#[derive(Debug)]
pub struct Dependencies {
    pub s3: Client,
    /// The thumbnails bucket.
    pub bucket: String,
    pub settings: ThumbnailSettings,
    pub limits: InputLimits,
}

pub async fn handle(
    dependencies: &Dependencies,
    request: PhotoRequest,
) -> Result<Vec<ThumbnailRecord>> {
    let Dependencies {
        s3,
        bucket,
        settings,
        limits,
    } = dependencies;
    let photo = request.photo;
    let renditions = &settings.renditions;
    let mut records = Vec::with_capacity(renditions.len());
    for rendition in renditions {
        let key = s3::thumbnail_key(&photo.source, rendition);
        records.push(existing_thumbnail(s3, bucket, &key, &photo, rendition).await?);
    }
    let missing: Vec<Rendition> = renditions
        .iter()
        .zip(&records)
        .filter(|(_, record)| record.is_none())
        .map(|(r, _)| *r)
        .collect();
    if missing.is_empty() {
        tracing::info!(key = %photo.source.key, "every thumbnail already made from these bytes");
        return Ok(records.into_iter().flatten().collect());
    }
    let original = s3::read_original(s3, &photo.source, limits).await?;
    let actual = s3::sha256_hex(&original.bytes);
    if actual != photo.sha256 {
        return Err(PipelineError::IntegrityMismatch(format!(
            "{} now has SHA-256 {actual}, validate saw {}",
            photo.source.describe(),
            photo.sha256
        )));
    }
    let inspection = imaging::inspect(&original.bytes, limits)?;
    let mut made =
        imaging::make_thumbnails(&original.bytes, &inspection, &missing, limits)?.into_iter();
    for (rendition, record) in renditions.iter().zip(records.iter_mut()) {
        if record.is_none() {
            let thumb = made
                .next()
                .ok_or_else(|| PipelineError::Internal("a rendition was not made".into()))?;
            *record = Some(write(s3, bucket, &photo, rendition, thumb).await?);
        }
    }
    Ok(records.into_iter().flatten().collect())
}

async fn write(
    s3: &Client,
    bucket: &str,
    photo: &Photo,
    rendition: &Rendition,
    thumb: Thumbnail,
) -> Result<ThumbnailRecord> {
    let key = s3::thumbnail_key(&photo.source, rendition);
    let bytes = thumb.bytes.len() as u64;
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .content_type(rendition.format.content_type())
        .body(ByteStream::from(thumb.bytes))
        .set_metadata(Some(meta::source(&photo.source)))
        .metadata(meta::SOURCE_SHA256, &photo.sha256)
        .metadata(meta::RENDITION, rendition.to_string())
        .metadata(meta::WIDTH, thumb.width.to_string())
        .metadata(meta::HEIGHT, thumb.height.to_string())
        .send()
        .await
        .map_err(|err| PipelineError::from_sdk(&format!("PutObject s3://{bucket}/{key}"), err))?;
    tracing::info!(%key, thumb.width, thumb.height, bytes, "thumbnail written");
    Ok(ThumbnailRecord {
        bucket: bucket.to_owned(),
        key,
        width: thumb.width,
        height: thumb.height,
        bytes,
    })
}

/// The thumbnail at `key`, if one made from these very bytes with this rendition is there.
async fn existing_thumbnail(
    s3: &Client,
    bucket: &str,
    key: &str,
    photo: &Photo,
    rendition: &Rendition,
) -> Result<Option<ThumbnailRecord>> {
    let Recorded::Same(head) =
        checksum::recorded(s3, bucket, key, meta::SOURCE_SHA256, &photo.sha256).await?
    else {
        return Ok(None);
    };
    if meta::get(&head, meta::RENDITION) != Some(rendition.to_string().as_str()) {
        return Ok(None);
    }
    let dimension = |name| meta::get(&head, name).and_then(|v| v.parse().ok());
    let (Some(width), Some(height)) = (dimension(meta::WIDTH), dimension(meta::HEIGHT)) else {
        return Ok(None);
    };
    Ok(Some(ThumbnailRecord {
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
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_sdk_s3::types::error::NotFound;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use photopipe::testing;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 100, 50]));
        let mut out = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .expect("jpeg");
        out.into_inner()
    }

    /// Runs the thumbnail step on a photo uploaded as `photos/a.jpg` with these bytes.
    async fn thumbnail_of(client: &Client, bytes: &[u8]) -> Result<Vec<ThumbnailRecord>> {
        let photo = testing::photo("photos/a.jpg", bytes);
        let dependencies = Dependencies {
            s3: client.clone(),
            bucket: "thumbs".into(),
            settings: ThumbnailSettings::default(),
            limits: InputLimits::default(),
        };
        handle(&dependencies, PhotoRequest { photo }).await
    }

    #[tokio::test]
    async fn writes_a_fitted_thumbnail_with_its_provenance() {
        let bytes = jpeg(1000, 500);
        let body = bytes.clone();
        let head = mock!(Client::head_object)
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
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
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &get, &put]);
        let record = thumbnail_of(&client, &bytes).await.expect("thumbnail");
        assert_eq!(record.len(), 1);
        let record = &record[0];
        assert_eq!((record.width, record.height), (256, 128));
        assert_eq!(record.key, "256x256/a.jpg.jpg");
        assert!(record.bytes > 0);
        assert_eq!(put.num_calls(), 1);
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
        let head = mock!(Client::head_object)
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let get = mock!(Client::get_object).then_output(|| {
            GetObjectOutput::builder()
                .content_length(3)
                .body(ByteStream::from_static(b"new"))
                .build()
        });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &get]);
        let err = thumbnail_of(&client, b"old").await.expect_err("mismatch");
        assert_eq!(err.error_name(), "Photo.IntegrityMismatch");
    }
}
