//! photopipe's imaging engine: recognise an image by its bytes, check its header against the
//! limits before decoding anything, decode it once at the smallest size its renditions need
//! (JPEG from its lowest coefficients or DCT scaling, WebP scaled by libwebp, HEIC through
//! libheif), then for each rendition crop and resize with Lanczos3, turn it upright, convert
//! an embedded colour profile to sRGB and encode it without metadata.
//!
//! The entry points say what a caller means: [`inspect`] reads the header against the
//! limits, [`prove_decodes`] is validate's proof that the image data decodes, and
//! [`make_thumbnails`] makes every rendition from one decode. This is the only crate of the
//! workspace that links C (libwebp, mozjpeg, libheif with libde265).

// The way of an image through the crate: format recognises it by its bytes; limits checks
// its header against the input limits; decode decodes it once, as small as its purpose
// allows, into pixels (orientation reads which way up it is meant to be); then for each
// rendition render plans it (plan), resizes it (resize), turns it upright, converts it to
// sRGB (colour) and encodes it (encode). libheif and libwebp wrap those C libraries;
// libwebp is the workspace's only unsafe code.
mod colour;
mod decode;
mod encode;
mod format;
mod libheif;
mod libwebp;
mod limits;
mod orientation;
mod pixels;
mod plan;
mod render;
mod resize;
#[cfg(test)]
mod test_support;

use photopipe::Result;
use photopipe::settings::{InputLimits, Rendition};

pub use crate::format::{SNIFF_LEN, sniff};
pub use crate::limits::{Inspection, inspect};
pub use crate::pixels::{Decoded, Pixels, YCbCrPlanes};
pub use crate::plan::{Plan, fit_inside, plan};
pub use crate::render::Thumbnail;

use crate::colour::srgb_transform;
use crate::decode::decode;
use crate::plan::DecodeFor;
use crate::render::render;

/// Proves that an inspected original decodes: the smallest decode its format allows, which
/// still reads every byte of image data. What validate asks before accepting a photo.
pub fn prove_decodes(bytes: &[u8], inspection: &Inspection, limits: &InputLimits) -> Result<()> {
    decode(bytes, inspection, DecodeFor::Proof, limits).map(drop)
}

/// Makes every rendition of an inspected original from one decode: resized, upright,
/// converted to sRGB, with no metadata. With no renditions there is nothing to size the
/// decode by: it makes nothing, but still decodes as [`prove_decodes`] does.
pub fn make_thumbnails(
    bytes: &[u8],
    inspection: &Inspection,
    renditions: &[Rendition],
    limits: &InputLimits,
) -> Result<Vec<Thumbnail>> {
    let purpose = match renditions {
        [] => DecodeFor::Proof,
        renditions => DecodeFor::Renditions(renditions),
    };
    let decoded = decode(bytes, inspection, purpose, limits)?;
    let to_srgb = match &decoded.pixels {
        Pixels::Rgb(_) | Pixels::YCbCr(_) => decoded.icc.as_deref().and_then(srgb_transform),
        Pixels::Gray(_) => None,
    };
    renditions
        .iter()
        .map(|rendition| render(&decoded, rendition, to_srgb.as_deref()))
        .collect()
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
