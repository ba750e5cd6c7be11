//! Encoding a finished rendition in its format, without metadata: JPEG through mozjpeg, PNG
//! through the image crate, lossy WebP through libwebp. A failure here is ours, not the
//! photo's: `Internal`.

mod jpeg;

use image::DynamicImage;
use photopipe::settings::{OutputFormat, Rendition};
use photopipe::{PipelineError, Result};

use crate::libwebp;

/// The rendition's file: `image` encoded in its format at its quality.
pub(crate) fn encode(image: &DynamicImage, rendition: &Rendition) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let encoding_failed = |e: &dyn std::fmt::Display| {
        PipelineError::Internal(format!("thumbnail encoding failed: {e}"))
    };
    match rendition.format {
        OutputFormat::Jpeg => {
            bytes = jpeg::encode(image, rendition.quality).map_err(|e| encoding_failed(&e))?;
        }
        OutputFormat::Png => image
            .write_with_encoder(image::codecs::png::PngEncoder::new(&mut bytes))
            .map_err(|e| encoding_failed(&e))?,
        OutputFormat::Webp => {
            bytes = libwebp::encode_lossy(&image.to_rgb8(), rendition.quality)
                .map_err(|e| encoding_failed(&e))?;
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use image::{Rgb, RgbImage};
    use photopipe::settings::InputLimits;

    use crate::inspect;
    use crate::test_support::{one, webp_with_orientation};

    #[test]
    fn webp_renditions_are_lossy_at_their_quality_without_metadata() {
        // Noise, so quality shows in the size.
        let mut seed = 7u32;
        let noisy = RgbImage::from_fn(300, 200, |_, _| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let [a, b, c, _] = seed.to_le_bytes();
            Rgb([a, b, c])
        });
        let tagged = webp_with_orientation(&noisy, 6);
        let limits = InputLimits::default();
        let inspection = inspect(&tagged, &limits).expect("valid");
        let sized = |spec: &str| {
            let thumb = one(&tagged, &inspection, &spec.parse().expect("spec"), &limits)
                .expect("thumbnail");
            assert_eq!((thumb.width, thumb.height), (100, 150), "{spec}");
            assert_eq!(
                &thumb.bytes[12..16],
                b"VP8 ",
                "{spec}: lossy, simple format"
            );
            let found = |tag: &[u8]| thumb.bytes.windows(4).any(|w| w == tag);
            assert!(
                !found(b"EXIF") && !found(b"XMP ") && !found(b"ICCP"),
                "{spec}"
            );
            let decoded = image::load_from_memory(&thumb.bytes).expect("decodes");
            assert_eq!((decoded.width(), decoded.height()), (100, 150));
            thumb.bytes.len()
        };
        let (low, high) = (sized("150x150:webp:q30"), sized("150x150:webp:q95"));
        assert!(low * 3 / 2 < high, "q30 {low} bytes, q95 {high} bytes");
    }
}
