//! The HEIC/HEIF path: libheif decodes the primary image upright and shrinks it while
//! copying it out; its failures become the photo's errors; what it needs in memory.

use image::metadata::Orientation;
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result};

use crate::libheif::{self, HeifFailure};
use crate::limits::Inspection;
use crate::memory::{Need, SLACK, area, mp};
use crate::pixels::{Decoded, Pixels};
use crate::plan::{DecodeFor, area_shrink};

/// A HEIC/HEIF's primary image, decoded in full (HEVC has no reduced-size decode) and
/// shrunk while it is copied out by the largest whole factor that leaves every rendition
/// twice the pixels it needs, as WebP is. libheif has already turned it upright.
pub(crate) fn decode(
    bytes: &[u8],
    purpose: DecodeFor<'_>,
    limits: &InputLimits,
) -> Result<Decoded> {
    let decoded = libheif::decode(bytes, limits.max_pixels, |width, height| {
        area_shrink(width, height, Orientation::NoTransforms, purpose)
    })
    .map_err(failed)?;
    Ok(Decoded {
        pixels: Pixels::Rgb(decoded.rgb),
        orientation: Orientation::NoTransforms,
        icc: decoded.icc,
    })
}

/// What [`decode`] needs: HEVC has no reduced decode, so libde265's whole picture with its
/// per-block data, libheif's YCbCr planes, its interleaved RGB or RGBA (with alpha, its
/// alpha plane too) and any conversion between them (two bytes a sample above 8 bits);
/// the shrunk copy is small beside them. A bound from measurement rather than from
/// libheif's code: an iPhone-like 12 MP HEIC (4:2:0, 512×512 tiles) peaks at 4.6 bytes a
/// pixel in 8 bits and 7.5 in 10 (see the memory tests), counted here as 8 and 14, which
/// also covers 4:4:4 chroma and a single untiled picture.
pub(crate) fn need(bytes: &[u8], inspection: &Inspection, purpose: DecodeFor<'_>) -> Result<Need> {
    let (width, height) = (inspection.width, inspection.height);
    let (bits, alpha) = libheif::depth_and_alpha(bytes).map_err(failed)?;
    let per_pixel = match (bits > 8, alpha) {
        (false, false) => 8,
        (false, true) => 10,
        (true, false) => 14,
        (true, true) => 17,
    };
    let shrink = area_shrink(width, height, Orientation::NoTransforms, purpose);
    let (out_w, out_h) = (width.div_ceil(shrink), height.div_ceil(shrink));
    let depth = if bits > 8 {
        format!(" {bits}-bit")
    } else {
        String::new()
    };
    Ok(Need {
        peak: area(width, height, per_pixel) + area(out_w, out_h, 3) + SLACK,
        decoded: (out_w, out_h, area(out_w, out_h, 3)),
        image: format!("{}{depth} HEIC", mp(width, height)),
    })
}

/// A libheif failure as the photo's error.
fn failed(failure: HeifFailure) -> PipelineError {
    match failure {
        HeifFailure::Corrupt(reason) => {
            PipelineError::InvalidImage(format!("HEIC/HEIF data is corrupt: {reason}"))
        }
        HeifFailure::Unsupported(reason) => PipelineError::UnsupportedFormat(format!(
            "this HEIF holds a coding other than HEVC: {reason}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use image::metadata::Orientation;
    use image::{Rgb, RgbImage};
    use photopipe::PipelineError;
    use photopipe::format::ImageFormat;
    use photopipe::settings::InputLimits;

    use crate::decode::decode;
    use crate::plan::DecodeFor;
    use crate::test_support::{one, red_corner};
    use crate::{inspect, make_thumbnails};

    /// A HEIC fixture from `fixtures/` (written by `fixtures/make_heif.py`: libheif and x265).
    fn heic_fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The fixture thumbnailed into a PNG `spec` box, decoded again.
    fn heic_thumbnail(name: &str, spec: &str) -> RgbImage {
        let bytes = heic_fixture(name);
        let limits = InputLimits::default();
        let inspection = inspect(&bytes, &limits).expect("valid HEIC");
        assert_eq!(inspection.format, ImageFormat::Heif);
        let thumb =
            one(&bytes, &inspection, &spec.parse().expect("spec"), &limits).expect("thumbnail");
        image::load_from_memory(&thumb.bytes)
            .expect("decodes")
            .to_rgb8()
    }

    /// Each channel of `actual` within `tolerance` of `expected`.
    fn near_rgb(actual: Rgb<u8>, expected: [u8; 3], tolerance: u8) -> bool {
        actual
            .0
            .iter()
            .zip(expected)
            .all(|(&a, e)| a.abs_diff(e) <= tolerance)
    }

    #[test]
    fn heic_stored_sideways_like_an_iphone_comes_out_upright_turned_once() {
        // Stored 64×48 red left, blue right, with `irot` and EXIF orientation 6 both saying
        // "turn right": upright it is 48×64 with red on top. Applying EXIF as well would
        // turn it again (red on the right).
        let bytes = heic_fixture("rotated.heic");
        let inspection = inspect(&bytes, &InputLimits::default()).expect("valid");
        assert_eq!((inspection.width, inspection.height), (48, 64));
        assert_eq!(red_corner(&bytes), (48, 64, "top"));
        let thumb = heic_thumbnail("rotated.heic", "48x64:png");
        assert!(near_rgb(*thumb.get_pixel(24, 8), [220, 20, 20], 12));
        assert!(near_rgb(*thumb.get_pixel(24, 56), [20, 20, 220], 12));
    }

    #[test]
    fn heic_grid_tiles_are_joined_and_shrunk_while_copied_out() {
        // 600×400 in 256×256 tiles, one colour per quadrant: the seams fall inside them.
        let thumb = heic_thumbnail("grid.heic", "300x300:png");
        assert_eq!(thumb.dimensions(), (300, 200));
        for (x, y, colour) in [
            (75, 50, [230, 30, 30]),
            (225, 50, [30, 200, 30]),
            (75, 150, [30, 30, 230]),
            (225, 150, [240, 240, 40]),
            (128, 128, [30, 30, 230]), // a tile corner at (256, 256) of the original
        ] {
            let pixel = *thumb.get_pixel(x, y);
            assert!(near_rgb(pixel, colour, 12), "({x}, {y}) is {pixel:?}");
        }
        // A 64×64 box needs 64×43; the copy keeps one pixel in 4×4 (150×100), not 600×400.
        let bytes = heic_fixture("grid.heic");
        let limits = InputLimits::default();
        let inspection = inspect(&bytes, &limits).expect("valid");
        let decoded = decode(
            &bytes,
            &inspection,
            DecodeFor::Renditions(&["64x64".parse().expect("spec")]),
            &limits,
        )
        .expect("decodes");
        assert_eq!(decoded.pixels.dimensions(), (150, 100));
        assert_eq!(decoded.orientation, Orientation::NoTransforms);
    }

    #[test]
    fn heic_alpha_display_p3_and_ten_bit_grey() {
        let alpha = heic_thumbnail("alpha.heic", "32x32:png");
        assert!(near_rgb(*alpha.get_pixel(4, 16), [0, 160, 0], 12));
        assert!(near_rgb(*alpha.get_pixel(28, 16), [255, 255, 255], 4));
        // P3 (128, 200, 128) is sRGB ≈ (103, 203, 120), as for the PNG above, whether an
        // ICC profile or an `nclx` box (CICP primaries 12) says it is P3.
        for fixture in ["display-p3.heic", "display-p3-nclx.heic"] {
            let p3 = heic_thumbnail(fixture, "16x16:png");
            assert!(
                near_rgb(*p3.get_pixel(8, 8), [103, 203, 120], 4),
                "{fixture}: {:?}",
                p3.get_pixel(8, 8)
            );
        }
        // A 10-bit monochrome ramp becomes an 8-bit grey ramp.
        let ramp = heic_thumbnail("gray-10bit.heic", "64x16:png");
        let (left, right) = (*ramp.get_pixel(2, 8), *ramp.get_pixel(61, 8));
        for pixel in [left, right] {
            assert!(pixel[0].abs_diff(pixel[1]) <= 2 && pixel[1].abs_diff(pixel[2]) <= 2);
        }
        assert!(left[0] < 30 && right[0] > 225, "{left:?} … {right:?}");
    }

    #[test]
    fn broken_or_oversized_heic_gets_a_named_error_not_a_panic() {
        let bytes = heic_fixture("grid.heic");
        let limits = InputLimits::default();
        let inspection = inspect(&bytes, &limits).expect("valid");
        let mut truncated = bytes.clone();
        truncated.truncate(bytes.len() / 2);
        let error =
            decode(&truncated, &inspection, DecodeFor::Proof, &limits).expect_err("truncated");
        assert_eq!(error.error_name(), "Photo.InvalidImage");
        let mut garbled = bytes.clone();
        let end = garbled.len();
        garbled[end - 3000..]
            .iter_mut()
            .for_each(|byte| *byte ^= 0x5A);
        let garbled = make_thumbnails(
            &garbled,
            &inspection,
            &["64x64".parse().expect("spec")],
            &limits,
        );
        assert!(
            matches!(garbled, Err(PipelineError::InvalidImage(_))),
            "{garbled:?}"
        );
        let header_only = &bytes[..64];
        let error = inspect(header_only, &limits).expect_err("no boxes after ftyp");
        assert_eq!(error.error_name(), "Photo.InvalidImage");
        // 600×400 is 0.24 MP: over a 0.1 MP limit, refused from the boxes, before decoding.
        let small = InputLimits {
            max_pixels: 100_000,
            ..limits
        };
        let error = inspect(&bytes, &small).expect_err("over the limit");
        assert!(error.to_string().contains("600×400"), "{error}");
        let error =
            decode(&bytes, &inspection, DecodeFor::Proof, &small).expect_err("over the limit");
        assert_eq!(error.error_name(), "Photo.InvalidImage");
    }
}
