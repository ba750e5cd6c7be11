//! Validate: is the uploaded object really an image we accept? Reads the exact version the
//! event names, recognises the format by its bytes, rejects empty, oversized and
//! decompression-bomb inputs from their size and header before decoding, proves the image
//! decodes within the function's memory (another way where its decode does not fit, or,
//! where nothing fits, accepting it on its header: see `photopipe_imaging::Proof`), and
//! records what later steps need (never the bytes themselves).

use aws_sdk_s3::Client;
use photopipe::event::SourceObject;
use photopipe::model::{Photo, ValidateRequest};
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result, s3};
use photopipe_imaging::{self as imaging, Proof};

/// What validate works with.
#[derive(Debug)]
pub struct Dependencies {
    pub s3: Client,
    pub limits: InputLimits,
}

pub async fn handle(dependencies: &Dependencies, request: ValidateRequest) -> Result<Photo> {
    let Dependencies { s3, limits } = dependencies;
    let mut source = request.event.source_object()?;
    if source.is_folder_key() {
        return Err(folder_marker(s3, &source).await);
    }
    let original = s3::read_original(s3, &source, limits).await?;
    let bytes = original.bytes;
    let inspection = imaging::inspect(&bytes, limits)?;
    match imaging::prove_decodes(&bytes, &inspection, limits)? {
        Proof::Decoded => {}
        Proof::Streamed(over) => {
            tracing::info!(key = %source.key, %over, "proved within memory without a full decode");
        }
        Proof::Header(over) => tracing::warn!(
            key = %source.key,
            %over,
            "accepted on its header: no decode of it fits in memory, its data is unread"
        ),
    }
    // Pin the version read, so every later step works on these very bytes.
    source.version_id = source.version_id.or(original.version_id);
    let photo = Photo {
        source,
        etag: original.etag,
        size: bytes.len() as u64,
        format: inspection.format,
        width: inspection.width,
        height: inspection.height,
        sha256: s3::sha256_hex(&bytes),
    };
    // Refused here, before anything is written, if its archive key cannot fit.
    s3::keys::archive_key(&photo.source, &photo.sha256)?;
    tracing::info!(key = %photo.source.key, format = ?photo.format, photo.width, photo.height, "accepted");
    Ok(photo)
}

/// Why a key ending in `/` is not processed: an empty one is a folder marker (the run ends
/// successfully, nothing to do); one with bytes in it is kept in quarantine, since no
/// derived name can be made from a folder's.
async fn folder_marker(s3: &aws_sdk_s3::Client, source: &SourceObject) -> PipelineError {
    match s3::head_source(s3, source).await {
        Err(err) => err,
        Ok(None) => PipelineError::SourceMissing(format!("{} no longer exists", source.describe())),
        Ok(Some(head)) => match head.content_length().unwrap_or(0) {
            0 => PipelineError::FolderMarker(format!(
                "{} is a folder marker, not a photo: nothing to do",
                source.describe()
            )),
            bytes => PipelineError::InvalidImage(format!(
                "{} ends in '/' like a folder but holds {bytes} bytes: upload the file under a \
                 name that does not end in '/'",
                source.describe()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_smithy_mocks::{mock, mock_client};
    use photopipe::event::ObjectCreatedEvent;
    use photopipe::format::ImageFormat;
    use photopipe::settings::MemoryBudget;

    fn request(key: &str) -> ValidateRequest {
        let event: ObjectCreatedEvent = serde_json::from_value(serde_json::json!({
            "detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "drop"}, "object": {"key": key, "version-id": "v7"}}
        }))
        .expect("event");
        ValidateRequest { event }
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([1, 2, 3]));
        let mut out = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    }

    async fn validate(s3: Client, limits: InputLimits, request: ValidateRequest) -> Result<Photo> {
        handle(&Dependencies { s3, limits }, request).await
    }

    fn client_serving(body: Vec<u8>) -> Client {
        let get = mock!(Client::get_object)
            .match_requests(|r| {
                r.key() == Some("photos/My Trip/a b.png") && r.version_id() == Some("v7")
            })
            .then_output(move || {
                GetObjectOutput::builder()
                    .content_length(body.len() as i64)
                    .e_tag("\"e1\"")
                    .version_id("v7")
                    .body(ByteStream::from(body.clone()))
                    .build()
            });
        mock_client!(aws_sdk_s3, [&get])
    }

    #[tokio::test]
    async fn accepts_a_real_image_and_records_its_checksum() {
        let bytes = png(40, 30);
        let client = client_serving(bytes.clone());
        let photo = validate(
            client,
            InputLimits::default(),
            request("photos/My+Trip/a+b.png"),
        )
        .await
        .expect("valid");
        assert_eq!(photo.source.key, "photos/My Trip/a b.png");
        assert_eq!(photo.source.version_id.as_deref(), Some("v7"));
        assert_eq!(
            (photo.format, photo.width, photo.height),
            (ImageFormat::Png, 40, 30)
        );
        assert_eq!(photo.size, bytes.len() as u64);
        assert_eq!(photo.sha256, s3::sha256_hex(&bytes));
    }

    #[tokio::test]
    async fn rejects_text_named_like_an_image() {
        let client = client_serving(b"just some text, not a picture".to_vec());
        let err = validate(
            client,
            InputLimits::default(),
            request("photos/My+Trip/a+b.png"),
        )
        .await
        .expect_err("rejected");
        assert_eq!(err.error_name(), "Photo.InvalidImage");
        assert!(
            err.to_string()
                .starts_with("not a JPEG, PNG, WebP, GIF or HEIC image"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn rejects_images_over_the_pixel_limit() {
        let client = client_serving(png(200, 100));
        let limits = InputLimits {
            max_bytes: 1 << 20,
            max_pixels: 10_000,
            memory: None,
        };
        let err = validate(client, limits, request("photos/My+Trip/a+b.png"))
            .await
            .expect_err("rejected");
        assert_eq!(err.error_name(), "Photo.InvalidImage");
        assert!(err.to_string().contains("200×100"), "{err}");
    }

    /// A 10000×10000 16-bit RGBA PNG of black, written row by row (its 800 MB of samples
    /// compress to under a MB).
    fn huge_png() -> Vec<u8> {
        use std::io::Write;
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, 10_000, 10_000);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Sixteen);
        encoder.set_filter(png::Filter::NoFilter);
        let mut writer = encoder.write_header().expect("header");
        let mut rows = writer.stream_writer().expect("rows");
        let row = vec![0u8; 10_000 * 8];
        for _ in 0..10_000 {
            rows.write_all(&row).expect("row");
        }
        rows.finish().expect("image data");
        drop(writer);
        out
    }

    /// The process's peak resident memory so far, in bytes.
    fn peak_resident() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let kb = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches(" kB").parse::<u64>().ok())
            .expect("VmHWM");
        kb * 1024
    }

    #[tokio::test]
    async fn a_100_mp_16_bit_png_is_proved_row_by_row_within_a_1024_mb_function() {
        // Decoded whole it would take 800 MB of RGBA16 and 300 MB of RGB8: more than the
        // function has. Row by row, the process stays far under its budget.
        let bytes = huge_png();
        let limits = InputLimits {
            memory: Some(MemoryBudget::for_function(1024)),
            ..InputLimits::default()
        };
        let budget = limits.memory.map(|m| m.decode_bytes).unwrap_or_default();
        let photo = validate(
            client_serving(bytes.clone()),
            limits,
            request("photos/My+Trip/a+b.png"),
        )
        .await
        .expect("valid");
        assert_eq!((photo.width, photo.height), (10_000, 10_000));
        let peak = peak_resident();
        assert!(peak < budget / 4, "peak resident {peak} bytes");
        // Cut short, the rows run out: refused, on the same path.
        let truncated = bytes[..bytes.len() / 2].to_vec();
        let err = validate(
            client_serving(truncated),
            limits,
            request("photos/My+Trip/a+b.png"),
        )
        .await
        .expect_err("truncated");
        assert_eq!(err.error_name(), "Photo.InvalidImage");
        assert!(err.to_string().starts_with("PNG data is corrupt"), "{err}");
    }

    fn head_answering(length: i64) -> Client {
        let head = mock!(Client::head_object)
            .match_requests(|r| r.version_id() == Some("v7"))
            .then_output(move || {
                aws_sdk_s3::operation::head_object::HeadObjectOutput::builder()
                    .content_length(length)
                    .build()
            });
        mock_client!(aws_sdk_s3, [&head])
    }

    #[tokio::test]
    async fn an_empty_folder_marker_ends_the_run_one_with_bytes_is_rejected() {
        for key in ["photos/", "photos/trip/"] {
            let err = validate(head_answering(0), InputLimits::default(), request(key))
                .await
                .expect_err("not a photo");
            assert_eq!(err.error_name(), "Photo.FolderMarker", "{key}");
        }
        let err = validate(
            head_answering(12),
            InputLimits::default(),
            request("photos/x/"),
        )
        .await
        .expect_err("kept");
        assert_eq!(err.error_name(), "Photo.InvalidImage");
        assert!(err.to_string().contains("holds 12 bytes"), "{err}");
    }

    #[tokio::test]
    async fn a_key_whose_archive_key_cannot_fit_is_refused_by_name() {
        // 1021 bytes: a valid S3 key, but its archive key would be 1031.
        let name = format!("{}.png", "n".repeat(1010));
        let get = mock!(Client::get_object).then_output(|| {
            let body = png(4, 4);
            GetObjectOutput::builder()
                .content_length(body.len() as i64)
                .version_id("v7")
                .body(ByteStream::from(body))
                .build()
        });
        let client = mock_client!(aws_sdk_s3, [&get]);
        let err = validate(
            client,
            InputLimits::default(),
            request(&format!("photos/{name}")),
        )
        .await
        .expect_err("too long");
        assert_eq!(err.error_name(), "Photo.KeyTooLong");
    }
}
