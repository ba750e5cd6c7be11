//! The WebP path: a still image through libwebp, scaled while it decodes; an animation's
//! first frame through the image crate; what either needs in memory.

use std::io::Cursor;

use image::ImageReader;
use photopipe::format::ImageFormat;
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result};

use super::generic::{self, metadata};
use crate::libwebp::{self, Features};
use crate::limits::{Inspection, megapixels};
use crate::memory::{Need, SLACK, area, mp};
use crate::pixels::{Decoded, Pixels};
use crate::plan::{DecodeFor, area_shrink};

/// A still WebP goes through libwebp, scaled while it decodes by the largest whole factor
/// that leaves every rendition twice the pixels it needs (the Lanczos pass does the rest);
/// an animation's first frame goes through the image crate. The container's metadata comes
/// from the image crate's parser, which reads only chunk headers.
pub(crate) fn decode(
    bytes: &[u8],
    purpose: DecodeFor<'_>,
    limits: &InputLimits,
) -> Result<Decoded> {
    let corrupt =
        |reason: String| PipelineError::InvalidImage(format!("WebP data is corrupt: {reason}"));
    let header = libwebp::features(bytes).map_err(corrupt)?;
    if header.animated {
        return generic::decode(bytes, ImageFormat::Webp, limits);
    }
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels > limits.max_pixels {
        return Err(PipelineError::InvalidImage(format!(
            "WebP bitstream is {}×{}, limit {} MP",
            header.width,
            header.height,
            megapixels(limits.max_pixels)
        )));
    }
    let (orientation, icc) = container_metadata(bytes)?;
    let (width, height) = scaled_size(&header, orientation, purpose);
    let rgb = libwebp::decode(bytes, &header, width, height).map_err(corrupt)?;
    Ok(Decoded {
        pixels: Pixels::Rgb(rgb),
        orientation,
        icc,
    })
}

/// What [`decode`] needs for `purpose`: for a still image, libwebp's whole ARGB image of a
/// lossless one (four bytes a pixel), or a lossy one's rows and alpha plane (with the
/// lossless alpha coding's own ARGB, up to five bytes a pixel), and the scaled output
/// twice (alpha composited into a copy); for an animation, the image crate's.
pub(crate) fn need(bytes: &[u8], inspection: &Inspection, purpose: DecodeFor<'_>) -> Result<Need> {
    let header = libwebp::features(bytes)
        .map_err(|reason| PipelineError::InvalidImage(format!("WebP data is corrupt: {reason}")))?;
    if header.animated {
        return generic::need(
            bytes,
            ImageFormat::Webp,
            inspection.width,
            inspection.height,
        );
    }
    let (orientation, _) = container_metadata(bytes)?;
    let (out_w, out_h) = scaled_size(&header, orientation, purpose);
    let (width, height) = (header.width, header.height);
    let whole = match (header.lossless, header.has_alpha) {
        (true, _) => area(width, height, 4),
        (false, true) => area(width, height, 5),
        (false, false) => 0,
    };
    let rows = 256 * u64::from(width);
    let output = area(out_w, out_h, if header.has_alpha { 4 + 3 } else { 3 });
    let coding = if header.lossless { "lossless" } else { "lossy" };
    let alpha = if header.has_alpha { " with alpha" } else { "" };
    Ok(Need {
        peak: whole + rows + output + SLACK,
        decoded: (out_w, out_h, area(out_w, out_h, 3)),
        image: format!("{} {coding} WebP{alpha}", mp(width, height)),
    })
}

/// The orientation and ICC profile in the container, from the image crate's parser, which
/// reads only chunk headers and metadata chunks.
fn container_metadata(bytes: &[u8]) -> Result<(image::metadata::Orientation, Option<Vec<u8>>)> {
    let mut container = ImageReader::with_format(Cursor::new(bytes), image::ImageFormat::WebP)
        .into_decoder()
        .map_err(|e| PipelineError::InvalidImage(format!("WebP data is corrupt: {e}")))?;
    Ok(metadata(&mut container))
}

/// The size libwebp decodes a still image to for `purpose`.
fn scaled_size(
    header: &Features,
    orientation: image::metadata::Orientation,
    purpose: DecodeFor<'_>,
) -> (u32, u32) {
    let shrink = area_shrink(header.width, header.height, orientation, purpose);
    (
        header.width.div_ceil(shrink),
        header.height.div_ceil(shrink),
    )
}

#[cfg(test)]
mod tests {
    use image::DynamicImage;
    use photopipe::PipelineError;
    use photopipe::format::ImageFormat;
    use photopipe::settings::InputLimits;

    use crate::decode::decode;
    use crate::format::{SNIFF_LEN, sniff};
    use crate::inspect;
    use crate::plan::DecodeFor;
    use crate::test_support::{
        centre_of, near, red_corner, red_left_blue_right, webp_with_orientation,
    };

    #[test]
    fn webp_lossless_with_alpha_is_flattened() {
        let mut webp = Vec::new();
        let half_clear = image::RgbaImage::from_pixel(40, 40, image::Rgba([0, 0, 255, 128]));
        DynamicImage::ImageRgba8(half_clear)
            .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
            .expect("webp encodes");
        assert_eq!(sniff(&webp[..SNIFF_LEN]), Ok(ImageFormat::Webp));
        // Half-transparent blue over white.
        assert!(
            near(centre_of(&webp), [127, 127, 255]),
            "{:?}",
            centre_of(&webp)
        );
    }

    #[test]
    fn lossy_webp_is_scaled_while_decoding_and_turned_upright() {
        let base = red_left_blue_right(800, 400);
        let limits = InputLimits::default();
        let plain = webp_with_orientation(&base, 1);
        let inspection = inspect(&plain, &limits).expect("valid");
        assert_eq!((inspection.width, inspection.height), (800, 400));
        // A 64×64 box needs 64×32: libwebp hands over twice that (800/6 × 400/6), not 800×400.
        let decoded = decode(
            &plain,
            &inspection,
            DecodeFor::Renditions(&["64x64".parse().expect("spec")]),
            &limits,
        )
        .expect("decodes");
        assert_eq!(decoded.pixels.dimensions(), (134, 67));
        assert_eq!(red_corner(&plain), (64, 32, "left"));
        assert_eq!(
            red_corner(&webp_with_orientation(&base, 6)),
            (32, 64, "top")
        );
        assert_eq!(
            red_corner(&webp_with_orientation(&base, 3)),
            (64, 32, "right")
        );
        // The proof (validate) still decodes every byte, at the smallest size.
        let mut truncated = plain.clone();
        truncated.truncate(plain.len() - 40);
        assert!(matches!(
            decode(&truncated, &inspection, DecodeFor::Proof, &limits),
            Err(PipelineError::InvalidImage(_))
        ));
    }
}
