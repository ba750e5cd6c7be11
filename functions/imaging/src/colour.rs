//! Colour: an embedded RGB profile converted to sRGB (moxcms), Adobe CMYK turned into RGB,
//! and JFIF's YCbCr into RGB.

use std::sync::Arc;

use image::RgbImage;
use photopipe::{PipelineError, Result};

pub(crate) type SrgbTransform = dyn moxcms::TransformExecutor<u8> + Send + Sync;

/// A transform from an embedded RGB profile to sRGB; `None` for a profile that does not
/// parse or is not RGB (the pixels are then taken as sRGB, as browsers do).
pub(crate) fn srgb_transform(icc: &[u8]) -> Option<Arc<SrgbTransform>> {
    let source = moxcms::ColorProfile::new_from_slice(icc).ok()?;
    let transform = source
        .create_transform_8bit(
            moxcms::Layout::Rgb,
            &moxcms::ColorProfile::new_srgb(),
            moxcms::Layout::Rgb,
            moxcms::TransformOptions::default(),
        )
        .ok()?;
    Some(transform)
}

/// Converts `rgb` in place to sRGB with a transform from [`srgb_transform`].
pub(crate) fn convert_to_srgb(transform: &SrgbTransform, rgb: &mut RgbImage) -> Result<()> {
    let source = rgb.as_raw().clone();
    transform
        .transform(&source, rgb)
        .map_err(|e| PipelineError::Internal(format!("colour conversion to sRGB failed: {e:?}")))
}

/// jpeg-decoder hands Adobe CMYK/YCCK over as plain ink amounts (it undoes Adobe's
/// inversion, as libjpeg users like Pillow do), so each channel is paper minus ink, times
/// paper minus black.
pub(crate) fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let paper = 255 - u16::from(px[3]);
        for &ink in &px[..3] {
            rgb.push((((255 - u16::from(ink)) * paper + 127) / 255) as u8);
        }
    }
    rgb
}

/// JFIF's YCbCr to RGB (ITU-R BT.601, full range), rounded and clamped to 8 bits.
pub(crate) fn jfif_to_rgb(y: f32, cb: f32, cr: f32) -> [u8; 3] {
    let (cb, cr) = (cb - 128.0, cr - 128.0);
    let to_u8 = |v: f32| (v.clamp(0.0, 255.0) + 0.5) as u8;
    [
        to_u8(y + 1.402 * cr),
        to_u8(y - 0.344_136 * cb - 0.714_136 * cr),
        to_u8(y + 1.772 * cb),
    ]
}

#[cfg(test)]
mod tests {
    use image::{ImageEncoder, Rgb, RgbImage};
    use photopipe::settings::{InputLimits, Rendition};

    use crate::inspect;
    use crate::test_support::one;

    #[test]
    fn adobe_cmyk_keeps_its_colours() {
        // Pillow's sample: a red square top left on black, with red lettering.
        let jpeg = include_bytes!("../../../samples/photos/cmyk.jpg");
        let limits = InputLimits::default();
        let inspection = inspect(jpeg, &limits).expect("valid");
        let thumb = one(jpeg, &inspection, &Rendition::default(), &limits).expect("thumb");
        let image = image::load_from_memory(&thumb.bytes)
            .expect("decodes")
            .to_rgb8();
        let [r, g, b] = image.get_pixel(1, 1).0;
        assert!(
            r > 200 && g < 60 && b < 60,
            "top left should be red, is {r},{g},{b}"
        );
        let [r, g, b] = image.get_pixel(50, 95).0;
        assert!(
            r < 40 && g < 40 && b < 40,
            "background should be black, is {r},{g},{b}"
        );
    }

    #[test]
    fn an_embedded_display_p3_profile_is_converted_to_srgb() {
        // P3 (128, 200, 128) is sRGB ≈ (103, 203, 120); taken as sRGB it would look washed out.
        let p3 = moxcms::ColorProfile::new_display_p3()
            .encode()
            .expect("profile encodes");
        let mut png = Vec::new();
        let mut encoder = image::codecs::png::PngEncoder::new(&mut png);
        encoder.set_icc_profile(p3).expect("png takes a profile");
        RgbImage::from_pixel(32, 32, Rgb([128, 200, 128]))
            .write_with_encoder(encoder)
            .expect("png encodes");
        let limits = InputLimits::default();
        let inspection = inspect(&png, &limits).expect("valid");
        let thumb = one(
            &png,
            &inspection,
            &"32x32:png".parse().expect("spec"),
            &limits,
        )
        .expect("thumb");
        let [r, g, b] = image::load_from_memory(&thumb.bytes)
            .expect("decodes")
            .to_rgb8()
            .get_pixel(16, 16)
            .0;
        let near = |actual: u8, expected: i32| (i32::from(actual) - expected).abs() <= 3;
        assert!(
            near(r, 103) && near(g, 203) && near(b, 120),
            "got {r},{g},{b}"
        );
    }
}
