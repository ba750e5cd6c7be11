//! Validate: is the uploaded object really an image we accept? Reads the first bytes of
//! the exact version the event names (by range: its size comes with them), recognises the
//! format by its bytes and rejects empty, oversized and decompression-bomb inputs from their
//! size and header before reading the rest; proves the image decodes within the function's
//! memory (another way where its decode does not fit, or, where nothing fits, accepting it
//! on its header: see `photopipe_imaging::Proof`), reading it whole only where it fits in
//! memory and otherwise as it streams past; and records what later steps need (never the
//! bytes themselves).

use std::io::Read;

use aws_sdk_s3::Client;
use photopipe::event::SourceObject;
use photopipe::model::{Photo, ValidateRequest};
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result, s3};
use photopipe_imaging::{self as imaging, Header, Inspection, Partial, Proof};

/// What validate works with.
#[derive(Debug)]
pub struct Dependencies {
    pub s3: Client,
    pub limits: InputLimits,
}

/// The first bytes read of every original, in one ranged GetObject: enough for every header
/// the engine reads (a PNG's IHDR and the chunks before its image data, a GIF's screen and
/// first frame descriptor, a WebP's first chunks, a JPEG's frame header after its metadata
/// segments: EXIF with its thumbnail, XMP, an ICC profile, each up to 64 KiB, four of them
/// whole; a HEIC's `meta` box, a few KB, where it comes first), and small beside a photo.
/// A small photo is read whole by it; a non-image or a bomb is refused on it alone.
pub const HEAD_BYTES: u64 = 256 << 10;

/// The most read of an original too large to hold, looking for a header that is not in
/// its first bytes (a JPEG's frame header after more metadata, a HEIC's `meta` box at its
/// end), and in how many reads; past either, it is refused.
const HEADER_MAX_BYTES: u64 = 16 << 20;
const HEADER_MAX_READS: usize = 8;

/// How many chunks of a streamed original wait for the proof at most (each is what one
/// read of the body gives, tens of KB).
const STREAM_CHUNKS: usize = 16;

pub async fn handle(dependencies: &Dependencies, request: ValidateRequest) -> Result<Photo> {
    let Dependencies { s3, limits } = dependencies;
    let mut source = request.event.source_object()?;
    if source.is_folder_key() {
        return Err(folder_marker(s3, &source).await);
    }
    let head = s3::read_head(s3, &source, HEAD_BYTES).await?;
    limits.check_size(head.size)?;
    // Pin the version read, so every later read and step works on these very bytes.
    source.version_id = source.version_id.or(head.version_id);
    let (size, etag) = (head.size, head.etag);
    let mut partial = Partial::new(size, head.bytes);
    let (inspection, sha256) = if imaging::holds_original(size, limits) {
        // Refused on its first bytes where they hold its header; otherwise the whole file,
        // which fits in memory, decides.
        imaging::inspect_partial(&partial, limits)?;
        let bytes = s3::read_rest(s3, &source, &etag, partial.into_head(), size).await?;
        prove_whole(&source, &bytes, limits)?
    } else {
        let inspection = header_of_large(s3, &source, &etag, &mut partial, limits).await?;
        prove_streaming(s3, &source, &etag, partial, inspection, limits).await?
    };
    let photo = Photo {
        source,
        etag,
        size,
        format: inspection.format,
        width: inspection.width,
        height: inspection.height,
        sha256,
    };
    // Refused here, before anything is written, if its archive key cannot fit.
    s3::keys::archive_key(&photo.source, &photo.sha256)?;
    tracing::info!(key = %photo.source.key, format = ?photo.format, photo.width, photo.height, "accepted");
    Ok(photo)
}

/// The proof of an original read whole, and its SHA-256.
fn prove_whole(
    source: &SourceObject,
    bytes: &[u8],
    limits: &InputLimits,
) -> Result<(Inspection, String)> {
    let inspection = imaging::inspect(bytes, limits)?;
    let proof = imaging::prove_decodes(bytes, &inspection, limits)?;
    log_proof(source, &proof);
    Ok((inspection, s3::sha256_hex(bytes)))
}

fn log_proof(source: &SourceObject, proof: &Proof) {
    match proof {
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
}

/// The header of an original too large to hold, from its first bytes and, where it is not
/// in them, the ranges the engine asks for next.
async fn header_of_large(
    s3: &Client,
    source: &SourceObject,
    etag: &str,
    partial: &mut Partial,
    limits: &InputLimits,
) -> Result<Inspection> {
    for _ in 0..HEADER_MAX_READS {
        match imaging::inspect_partial(partial, limits)? {
            Header::Inspected(inspection) => return Ok(inspection),
            Header::Needs(range)
                if partial.read() + (range.end - range.start) <= HEADER_MAX_BYTES =>
            {
                let bytes = s3::read_range(s3, source, etag, range.clone()).await?;
                partial.insert(range.start, bytes);
            }
            Header::Needs(_) => break,
        }
    }
    let format = imaging::sniff(&partial.head()[..partial.head().len().min(imaging::SNIFF_LEN)])?;
    Err(PipelineError::InvalidImage(format!(
        "no {} header in the first {} read of this {} file, too large to read whole in \
         memory",
        format.name(),
        imaging::show_bytes(partial.read()),
        imaging::show_bytes(partial.size())
    )))
}

/// The proof of an original too large to hold, and its SHA-256: its bytes stream past once,
/// from S3, hashed, and handed to the proof on a thread of its own as they arrive (a PNG's
/// rows are read from them; any other format is accepted on its header, and the bytes are
/// only hashed). A proof that refuses the image stops the read.
async fn prove_streaming(
    s3: &Client,
    source: &SourceObject,
    etag: &str,
    partial: Partial,
    inspection: Inspection,
    limits: &InputLimits,
) -> Result<(Inspection, String)> {
    let size = partial.size();
    let head = partial.into_head();
    let mut sha256 = s3::StreamingSha256::default();
    sha256.update(&head);
    let from = head.len() as u64;
    let (chunks, received) = tokio::sync::mpsc::channel(STREAM_CHUNKS);
    let limits_for_proof = *limits;
    let mut prover = tokio::task::spawn_blocking(move || {
        let stream = std::io::Cursor::new(&head[..]).chain(ChunkReader::new(received));
        imaging::prove_streamed(stream, &head, size, &inspection, &limits_for_proof)
    });
    let mut proof = None;
    if from < size {
        let mut body = s3::get_rest(s3, source, etag, from).await?.body;
        while let Some(chunk) = body.try_next().await.map_err(|e| {
            PipelineError::Transient(format!("reading {} failed: {e}", source.describe()))
        })? {
            sha256.update(&chunk);
            if proof.is_none() && chunks.send(chunk).await.is_err() {
                // The proof reads no more: it refused the image (the read stops here) or
                // needs nothing more of it (the rest is only hashed).
                proof = Some(finished(&mut prover).await?);
            }
        }
    }
    drop(chunks);
    let proof = match proof {
        Some(proof) => proof,
        None => finished(&mut prover).await?,
    };
    if sha256.length() != size {
        return Err(PipelineError::Transient(format!(
            "reading {} gave {} of its {size} bytes",
            source.describe(),
            sha256.length()
        )));
    }
    log_proof(source, &proof);
    Ok((inspection, sha256.finish()))
}

/// The proof's outcome, once its thread is done.
async fn finished(prover: &mut tokio::task::JoinHandle<Result<Proof>>) -> Result<Proof> {
    prover
        .await
        .map_err(|e| PipelineError::Internal(format!("the proof's thread failed: {e}")))?
}

/// The chunks of an S3 body, sent from the async side, read as one stream on the proof's
/// blocking thread; the end of the stream is the sender dropped.
struct ChunkReader<B> {
    chunks: tokio::sync::mpsc::Receiver<B>,
    current: Option<B>,
    at: usize,
}

impl<B> ChunkReader<B> {
    fn new(chunks: tokio::sync::mpsc::Receiver<B>) -> Self {
        Self {
            chunks,
            current: None,
            at: 0,
        }
    }
}

impl<B: AsRef<[u8]>> Read for ChunkReader<B> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(rest) = self.current.as_ref().map(|c| &c.as_ref()[self.at..])
                && (!rest.is_empty() || buf.is_empty())
            {
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                self.at += n;
                return Ok(n);
            }
            match self.chunks.blocking_recv() {
                Some(chunk) => {
                    self.current = Some(chunk);
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
    }
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
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
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
        let get = serving(std::sync::Arc::new(body), |_| true);
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get])
    }

    /// A GetObject rule for `photos/My Trip/a b.png` at `v7` serving `object` as S3 does:
    /// the bytes of the range asked for, with a `Content-Range` giving its total, or the
    /// whole object when no range is; it answers the requests whose `Range` header
    /// `answers`.
    fn serving(
        object: std::sync::Arc<Vec<u8>>,
        answers: impl Fn(Option<&str>) -> bool + Send + Sync + 'static,
    ) -> Rule {
        mock!(Client::get_object)
            .match_requests(move |r| {
                r.key() == Some("photos/My Trip/a b.png")
                    && r.version_id() == Some("v7")
                    && answers(r.range())
            })
            .then_compute_output(move |r| {
                let total = object.len() as u64;
                let output = GetObjectOutput::builder().e_tag("\"e1\"").version_id("v7");
                let Some(range) = r.range() else {
                    return output
                        .content_length(total as i64)
                        .body(ByteStream::from(object.to_vec()))
                        .build();
                };
                let (from, to) = range
                    .strip_prefix("bytes=")
                    .and_then(|r| r.split_once('-'))
                    .expect("a byte range");
                let from: u64 = from.parse().expect("start");
                let to = match to {
                    "" => total - 1,
                    to => to.parse::<u64>().expect("end").min(total - 1),
                };
                output
                    .content_range(format!("bytes {from}-{to}/{total}"))
                    .content_length((to + 1 - from) as i64)
                    .body(ByteStream::from(
                        object[from as usize..=to as usize].to_vec(),
                    ))
                    .build()
            })
    }

    /// The first range validate reads.
    const FIRST: &str = "bytes=0-262143";

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

    /// `width`×`height` of noise (which compresses little), from a fixed seed.
    fn noise(width: u32, height: u32) -> image::RgbImage {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        image::RgbImage::from_fn(width, height, |_, _| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let [r, g, b, ..] = state.to_le_bytes();
            image::Rgb([r, g, b])
        })
    }

    fn encoded(image: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, format).expect("encodes");
        out.into_inner()
    }

    /// A GetObject rule answering validate's first range of an object of `size` bytes that
    /// starts with `start` (ETag `"big"`): what S3 answers for an object it holds.
    fn first_range_of(start: &[u8], size: u64) -> Rule {
        let mut head = start.to_vec();
        head.resize(HEAD_BYTES as usize, 0);
        mock!(Client::get_object)
            .match_requests(|r| r.range() == Some(FIRST) && r.version_id() == Some("v7"))
            .then_output(move || {
                GetObjectOutput::builder()
                    .content_range(format!("bytes 0-262143/{size}"))
                    .content_length(HEAD_BYTES as i64)
                    .e_tag("\"big\"")
                    .version_id("v7")
                    .body(ByteStream::from(head.clone()))
                    .build()
            })
    }

    /// Any GetObject but of the first range: what must not be asked for.
    fn beyond_the_first_range() -> Rule {
        mock!(Client::get_object)
            .match_requests(|r| r.range() != Some(FIRST))
            .then_output(|| GetObjectOutput::builder().build())
    }

    fn within_1024_mb() -> InputLimits {
        InputLimits {
            memory: Some(MemoryBudget::for_function(1024)),
            ..InputLimits::default()
        }
    }

    #[tokio::test]
    async fn a_3_gb_video_is_refused_on_its_first_range_alone() {
        let mut mp4 = 32u32.to_be_bytes().to_vec();
        mp4.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2avc1mp41");
        mp4.extend_from_slice(&8u32.to_be_bytes());
        mp4.extend_from_slice(b"free");
        for limits in [InputLimits::default(), within_1024_mb()] {
            let (first, beyond) = (
                first_range_of(&mp4, 3_000_000_000),
                beyond_the_first_range(),
            );
            let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&first, &beyond]);
            let err = validate(client, limits, request("photos/My+Trip/a+b.png"))
                .await
                .expect_err("a video is no photo");
            assert_eq!(
                err,
                PipelineError::InvalidImage(
                    "not a JPEG, PNG, WebP, GIF or HEIC image: an ISO media file of brand \
                     \"isom\" (a video such as MP4 or QuickTime, or audio)"
                        .into()
                )
            );
            assert_eq!(
                (first.num_calls(), beyond.num_calls()),
                (1, 0),
                "{limits:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_png_claiming_60000_by_60000_is_refused_on_its_first_range_alone() {
        let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bomb.extend_from_slice(&60000u32.to_be_bytes());
        bomb.extend_from_slice(&60000u32.to_be_bytes());
        bomb.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        // A 40 MB one read whole if it passed, and a 3 GB one that would stream.
        for (size, limits) in [
            (40_000_000, InputLimits::default()),
            (40_000_000, within_1024_mb()),
            (3_000_000_000, within_1024_mb()),
        ] {
            let (first, beyond) = (first_range_of(&bomb, size), beyond_the_first_range());
            let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&first, &beyond]);
            let err = validate(client, limits, request("photos/My+Trip/a+b.png"))
                .await
                .expect_err("a bomb");
            assert_eq!(
                err,
                PipelineError::InvalidImage(
                    "PNG header claims 60000×60000 = 3600 MP, limit 100 MP".into()
                )
            );
            assert_eq!((first.num_calls(), beyond.num_calls()), (1, 0), "{size}");
        }
    }

    #[tokio::test]
    async fn a_small_jpeg_is_read_in_one_request_a_larger_one_in_two() {
        let small = encoded(&noise(40, 30), image::ImageFormat::Jpeg);
        let large = encoded(&noise(1200, 900), image::ImageFormat::Jpeg);
        assert!(large.len() as u64 > HEAD_BYTES, "{} bytes", large.len());
        for (bytes, width, calls) in [(small, 40, 1), (large, 1200, 2)] {
            let object = std::sync::Arc::new(bytes.clone());
            let first = serving(object.clone(), |range| range == Some(FIRST));
            let rest = serving(object, |range| range == Some("bytes=262144-"));
            let whole = mock!(Client::get_object)
                .match_requests(|r| r.range().is_none())
                .then_output(|| GetObjectOutput::builder().build());
            let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&first, &rest, &whole]);
            let photo = validate(client, within_1024_mb(), request("photos/My+Trip/a+b.png"))
                .await
                .expect("valid");
            assert_eq!(
                (photo.format, photo.width, photo.size, photo.etag.as_str()),
                (ImageFormat::Jpeg, width, bytes.len() as u64, "\"e1\"")
            );
            assert_eq!(photo.sha256, s3::sha256_hex(&bytes));
            assert_eq!(photo.source.version_id.as_deref(), Some("v7"));
            assert_eq!(
                (first.num_calls() + rest.num_calls(), whole.num_calls()),
                (calls, 0)
            );
        }
    }

    #[tokio::test]
    async fn an_empty_object_is_refused_as_empty() {
        use aws_sdk_s3::operation::get_object::GetObjectError;
        use aws_smithy_types::error::ErrorMetadata;
        // S3 satisfies no range of an empty object.
        let get = mock!(Client::get_object).then_error(|| {
            GetObjectError::generic(ErrorMetadata::builder().code("InvalidRange").build())
        });
        let head = mock!(Client::head_object)
            .match_requests(|r| r.version_id() == Some("v7"))
            .then_output(|| {
                aws_sdk_s3::operation::head_object::HeadObjectOutput::builder()
                    .content_length(0)
                    .build()
            });
        let client = mock_client!(aws_sdk_s3, [&get, &head]);
        let err = validate(client, within_1024_mb(), request("photos/My+Trip/a+b.png"))
            .await
            .expect_err("empty");
        assert_eq!(err, PipelineError::InvalidImage("empty file".into()));
    }

    /// A file of `size` bytes in the temporary directory that starts with `start`, the rest a
    /// hole (no disk used, read as zeros); removed when dropped.
    struct SparseFile(std::path::PathBuf);

    impl SparseFile {
        fn new(name: &str, start: &[u8], size: u64) -> Self {
            let path =
                std::env::temp_dir().join(format!("photopipe-{}-{name}", std::process::id()));
            std::fs::write(&path, start).expect("written");
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_len(size))
                .expect("grown");
            Self(path)
        }

        fn sha256(&self) -> String {
            let mut file = std::fs::File::open(&self.0).expect("opens");
            let mut hash = s3::StreamingSha256::default();
            let mut buffer = vec![0; 1 << 20];
            loop {
                match file.read(&mut buffer).expect("reads") {
                    0 => return hash.finish(),
                    n => hash.update(&buffer[..n]),
                }
            }
        }
    }

    impl Drop for SparseFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[tokio::test]
    async fn a_2_gb_jpeg_too_large_to_hold_is_accepted_on_its_header_and_only_streamed_past() {
        // A valid 600×400 JPEG header, and 2 GiB in all: more than a 1024 MB function holds.
        let size: u64 = 2 << 30;
        let start = encoded(&noise(600, 400), image::ImageFormat::Jpeg);
        let file = SparseFile::new("2gb.jpg", &start, size);
        let expected = file.sha256();
        let rest_body = ByteStream::read_from()
            .path(&file.0)
            .offset(HEAD_BYTES)
            .buffer_size(1 << 20)
            .build()
            .await
            .expect("file");
        let rest_body = std::sync::Mutex::new(Some(rest_body));
        let first = first_range_of(&start, size);
        let rest = mock!(Client::get_object)
            .match_requests(|r| {
                r.range() == Some("bytes=262144-")
                    && r.if_match() == Some("\"big\"")
                    && r.version_id() == Some("v7")
            })
            .then_compute_output(move |_| {
                let body = rest_body.lock().expect("lock").take();
                GetObjectOutput::builder()
                    .content_range(format!("bytes 262144-{}/{size}", size - 1))
                    .content_length((size - HEAD_BYTES) as i64)
                    .body(body.expect("the rest is read once"))
                    .build()
            });
        let whole = mock!(Client::get_object)
            .match_requests(|r| r.range().is_none())
            .then_output(|| GetObjectOutput::builder().build());
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&first, &rest, &whole]);
        let photo = validate(client, within_1024_mb(), request("photos/My+Trip/a+b.jpg"))
            .await
            .expect("accepted on its header");
        assert_eq!(
            (photo.format, photo.width, photo.height, photo.size),
            (ImageFormat::Jpeg, 600, 400, size)
        );
        assert_eq!(
            photo.sha256, expected,
            "every byte hashed as it streamed past"
        );
        assert_eq!(photo.etag, "\"big\"");
        assert_eq!(
            (first.num_calls(), rest.num_calls(), whole.num_calls()),
            (1, 1, 0)
        );
        let peak = peak_resident();
        assert!(
            peak < 512 << 20,
            "peak resident {peak} bytes: never held whole"
        );
    }

    #[tokio::test]
    async fn a_png_too_large_to_hold_is_proved_row_by_row_as_it_streams_a_damaged_one_refused() {
        // 9 MB of noise in a function left 6 MiB: its rows are read as they stream past.
        let png = encoded(&noise(2000, 1500), image::ImageFormat::Png);
        assert!(png.len() > 6 << 20, "{} bytes", png.len());
        let limits = InputLimits {
            memory: Some(MemoryBudget {
                function_mb: 102,
                decode_bytes: 6 << 20,
            }),
            ..InputLimits::default()
        };
        let mut damaged = png.clone();
        damaged[png.len() / 2] ^= 0x55;
        let cut = png[..png.len() - 1000].to_vec();
        for (bytes, valid) in [(png, true), (damaged, false), (cut, false)] {
            let object = std::sync::Arc::new(bytes.clone());
            let first = serving(object.clone(), |range| range == Some(FIRST));
            let rest = serving(object, |range| range == Some("bytes=262144-"));
            let whole = mock!(Client::get_object)
                .match_requests(|r| r.range().is_none())
                .then_output(|| GetObjectOutput::builder().build());
            let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&first, &rest, &whole]);
            let validated = validate(client, limits, request("photos/My+Trip/a+b.png")).await;
            assert_eq!((first.num_calls(), whole.num_calls()), (1, 0));
            if valid {
                let photo = validated.expect("valid");
                assert_eq!((photo.width, photo.height), (2000, 1500));
                assert_eq!(photo.sha256, s3::sha256_hex(&bytes));
                assert_eq!(rest.num_calls(), 1);
            } else {
                let err = validated.expect_err("damaged");
                assert_eq!(err.error_name(), "Photo.InvalidImage");
                assert!(err.to_string().starts_with("PNG data is corrupt"), "{err}");
            }
        }
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
