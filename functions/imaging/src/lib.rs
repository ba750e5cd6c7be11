//! photopipe's imaging engine: recognise an image by its bytes, check its header against the
//! limits before decoding anything, decode it once at the smallest size its renditions need
//! (JPEG from its lowest coefficients or DCT scaling, WebP scaled by libwebp, HEIC through
//! libheif), then for each rendition crop and resize with Lanczos3, turn it upright, convert
//! an embedded colour profile to sRGB and encode it without metadata.
//!
//! The entry points say what a caller means: [`inspect`] reads the header against the
//! limits ([`inspect_partial`] from the parts of an original read so far, by range),
//! [`prove_decodes`] is validate's proof that the image data decodes ([`prove_streamed`]
//! of an original too large to hold, as it streams past), [`over_budget`]
//! says whether the decode for some renditions fits in the function's memory, and
//! [`make_thumbnails`] makes every rendition from one decode. Every decode is held to the
//! memory budget of the limits, estimated from the header before a pixel is decoded. This
//! is the only crate of the workspace that links C (libwebp, mozjpeg, libheif with
//! libde265).

// The way of an image through the crate: format recognises it by its bytes; limits checks
// its header against the input limits; memory estimates what its decode needs against the
// budget; decode decodes it once, as small as its purpose allows, into pixels (orientation
// reads which way up it is meant to be); then for each rendition render plans it (plan),
// resizes it (resize), turns it upright, converts it to sRGB (colour) and encodes it
// (encode). libheif and libwebp wrap those C libraries; libwebp is the workspace's only
// unsafe code.
mod colour;
mod decode;
mod encode;
mod format;
mod libheif;
mod libwebp;
mod limits;
mod memory;
mod orientation;
mod pixels;
mod plan;
mod render;
mod resize;
#[cfg(test)]
mod test_support;

use photopipe::settings::{InputLimits, Rendition};
use photopipe::{PipelineError, Result};

pub use crate::decode::Proof;
pub use crate::format::{SNIFF_LEN, sniff};
pub use crate::limits::{Header, Inspection, Partial, inspect, inspect_partial};
pub use crate::memory::{OverBudget, holds_original, show_bytes};
pub use crate::pixels::{Decoded, Pixels, YCbCrPlanes};
pub use crate::plan::{Plan, fit_inside, plan};
pub use crate::render::Thumbnail;

use crate::colour::srgb_transform;
use crate::decode::decode;
use crate::plan::DecodeFor;
use crate::render::render;

/// Proves that an inspected original decodes: the smallest decode its format allows, which
/// still reads every byte of image data, within the memory budget of `limits`; the
/// [`Proof`] says how (or that nothing fits, and it was accepted on its header). What
/// validate asks before accepting a photo.
pub fn prove_decodes(bytes: &[u8], inspection: &Inspection, limits: &InputLimits) -> Result<Proof> {
    decode::prove(bytes, inspection, limits)
}

/// validate's proof for an original too large to hold in memory ([`holds_original`] says
/// which), from `source`, its every byte from the first as it arrives (from S3): a PNG row
/// by row; any other format accepted on its header ([`Proof::Header`]). `head` is its first
/// bytes, which hold its header; `size` its length in bytes.
pub fn prove_streamed(
    source: impl std::io::Read,
    head: &[u8],
    size: u64,
    inspection: &Inspection,
    limits: &InputLimits,
) -> Result<Proof> {
    decode::prove_streamed(source, head, size, inspection, limits)
}

/// Why the one decode that makes `renditions` does not fit in the memory budget of
/// `limits` beside the original's `bytes`, or `None` where it does (or there is no
/// budget): its estimated peak, from the header, with the renditions' own buffers.
pub fn over_budget(
    bytes: &[u8],
    inspection: &Inspection,
    renditions: &[Rendition],
    limits: &InputLimits,
) -> Result<Option<OverBudget>> {
    let need = decode::need(bytes, inspection, purpose(renditions))?;
    Ok(memory::check(&need, bytes.len(), limits).err())
}

/// Makes every rendition of an inspected original from one decode: resized, upright,
/// converted to sRGB, with no metadata. With no renditions there is nothing to size the
/// decode by: it makes nothing, but still decodes as [`prove_decodes`] does. A decode over
/// the memory budget of `limits` is not begun: that is `Photo.Internal`, as a caller with
/// a budget asks [`over_budget`] first.
pub fn make_thumbnails(
    bytes: &[u8],
    inspection: &Inspection,
    renditions: &[Rendition],
    limits: &InputLimits,
) -> Result<Vec<Thumbnail>> {
    if let Some(over) = over_budget(bytes, inspection, renditions, limits)? {
        return Err(PipelineError::Internal(format!(
            "asked for thumbnails over the memory budget: {over}"
        )));
    }
    let decoded = decode(bytes, inspection, purpose(renditions), limits)?;
    let to_srgb = match &decoded.pixels {
        Pixels::Rgb(_) | Pixels::YCbCr(_) => decoded.icc.as_deref().and_then(srgb_transform),
        Pixels::Gray(_) => None,
    };
    renditions
        .iter()
        .map(|rendition| render(&decoded, rendition, to_srgb.as_deref()))
        .collect()
}

/// What a decode for `renditions` is for: with none, the proof's smallest decode.
fn purpose(renditions: &[Rendition]) -> DecodeFor<'_> {
    match renditions {
        [] => DecodeFor::Proof,
        renditions => DecodeFor::Renditions(renditions),
    }
}

#[cfg(test)]
mod tests {
    use image::{Rgb, RgbImage};

    use super::*;
    use crate::test_support::{encode_jpeg, with_orientation};

    #[test]
    fn several_renditions_from_one_decode_in_every_format() {
        // 300×200 stored, orientation 6: upright it is 200×300 (portrait).
        let jpeg = with_orientation(
            &encode_jpeg(&RgbImage::from_fn(300, 200, |x, _| {
                Rgb([(x % 256) as u8, 80, 160])
            })),
            6,
        );
        let limits = InputLimits::default();
        let inspection = inspect(&jpeg, &limits).expect("valid");
        let renditions: Vec<Rendition> = [
            "100x100",
            "64x64:fill:png",
            "150x50:fill:webp",
            "400x400:fit:jpeg:upscale",
        ]
        .iter()
        .map(|s| s.parse().expect("spec"))
        .collect();
        let thumbs = make_thumbnails(&jpeg, &inspection, &renditions, &limits).expect("thumbnails");
        let sizes: Vec<_> = thumbs.iter().map(|t| (t.width, t.height)).collect();
        assert_eq!(sizes, vec![(67, 100), (64, 64), (150, 50), (267, 400)]);
        let formats: Vec<_> = thumbs
            .iter()
            .map(|t| image::guess_format(&t.bytes).expect("known format"))
            .collect();
        assert_eq!(
            formats,
            vec![
                image::ImageFormat::Jpeg,
                image::ImageFormat::Png,
                image::ImageFormat::WebP,
                image::ImageFormat::Jpeg
            ]
        );
        for thumb in &thumbs {
            let decoded = image::load_from_memory(&thumb.bytes).expect("decodes");
            assert_eq!(
                (decoded.width(), decoded.height()),
                (thumb.width, thumb.height)
            );
        }
    }
}
