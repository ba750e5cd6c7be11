//! Decoding, once per image and as small as its purpose allows: the dispatch to each
//! format's decoder, behind a guard that turns a decoder's panic into `Photo.InvalidImage`.

mod generic;
mod heif;
mod jpeg;
mod jpeg_reduced;
mod webp;

use std::panic::{AssertUnwindSafe, catch_unwind};

use photopipe::format::ImageFormat;
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result};

use crate::limits::Inspection;
use crate::pixels::Decoded;
use crate::plan::DecodeFor;

/// Decodes the image at the smallest size every rendition can still be made from, where
/// the format allows a reduced decode (JPEG: 1/2, 1/4, 1/8; WebP scaled by libwebp; HEIC
/// shrunk as it is copied out), else at full size. For the proof it decodes as small as it
/// can, which still reads all the image data. Every
/// decoder failure, a panic included, becomes `Photo.InvalidImage` (a HEIF holding a coding
/// other than HEVC: `Photo.UnsupportedFormat`).
pub(crate) fn decode(
    bytes: &[u8],
    inspection: &Inspection,
    purpose: DecodeFor<'_>,
    limits: &InputLimits,
) -> Result<Decoded> {
    guarded(inspection.format, || match inspection.format {
        ImageFormat::Jpeg => jpeg::decode(bytes, purpose),
        ImageFormat::Webp => webp::decode(bytes, purpose, limits),
        ImageFormat::Heif => heif::decode(bytes, purpose, limits),
        other => generic::decode(bytes, other, limits),
    })
}

/// Runs a decoder; a panic in it becomes `Photo.InvalidImage`.
fn guarded<T>(format: ImageFormat, work: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(PipelineError::InvalidImage(format!(
            "{} data is corrupt (the decoder gave up)",
            format.name()
        )))
    })
}
