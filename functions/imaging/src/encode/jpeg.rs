//! JPEG renditions through mozjpeg: baseline, Huffman tables optimised for the image,
//! libjpeg's standard quantisation, a JFIF header and no metadata.

use std::panic::{AssertUnwindSafe, catch_unwind};

use image::DynamicImage;

/// Baseline JPEG from libjpeg-turbo's encoder (mozjpeg reset to libjpeg's defaults: the
/// standard quantisation tables scaled by `quality`, 4:2:0 below quality 90 and 4:4:4 from
/// 90) with Huffman tables optimised for the image, so it is smaller than libjpeg-turbo's
/// default output at the same quality and reads in every decoder; a JFIF header, no
/// metadata. libjpeg reports errors by unwinding; they become an `Err` here.
pub(crate) fn encode(image: &DynamicImage, quality: u8) -> std::result::Result<Vec<u8>, String> {
    let rgb;
    let (colour, pixels) = match image {
        DynamicImage::ImageLuma8(gray) => (mozjpeg::ColorSpace::JCS_GRAYSCALE, gray.as_raw()),
        DynamicImage::ImageRgb8(rgb) => (mozjpeg::ColorSpace::JCS_RGB, rgb.as_raw()),
        other => {
            rgb = other.to_rgb8();
            (mozjpeg::ColorSpace::JCS_RGB, rgb.as_raw())
        }
    };
    let (width, height) = (image.width() as usize, image.height() as usize);
    let encode = || -> std::io::Result<Vec<u8>> {
        let mut compress = mozjpeg::Compress::new(colour);
        compress.set_fastest_defaults();
        compress.set_size(width, height);
        compress.set_quality(f32::from(quality));
        compress.set_optimize_coding(true);
        if colour == mozjpeg::ColorSpace::JCS_RGB {
            let chroma = if quality >= 90 { (1, 1) } else { (2, 2) };
            compress.set_chroma_sampling_pixel_sizes(chroma, chroma);
        }
        let mut started = compress.start_compress(Vec::new())?;
        started.write_scanlines(pixels)?;
        started.finish()
    };
    match catch_unwind(AssertUnwindSafe(encode)) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("libjpeg gave up".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{Rgb, RgbImage};
    use photopipe::settings::{InputLimits, Rendition};

    use crate::format::next_segment;
    use crate::inspect;
    use crate::test_support::{encode_jpeg, one, with_orientation};

    #[test]
    fn jpeg_thumbnails_decode_alike_in_independent_decoders() {
        let png = include_bytes!("../../../../samples/photos/chelsea.png");
        let limits = InputLimits::default();
        let inspection = inspect(png, &limits).expect("valid");
        let thumb = one(png, &inspection, &Rendition::default(), &limits).expect("thumb");
        let zune = image::load_from_memory_with_format(&thumb.bytes, image::ImageFormat::Jpeg)
            .expect("zune-jpeg")
            .to_rgb8();
        let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(&thumb.bytes));
        let pixels = decoder.decode().expect("jpeg-decoder");
        let worst = zune
            .as_raw()
            .iter()
            .zip(&pixels)
            .map(|(a, b)| a.abs_diff(*b))
            .max();
        assert_eq!(pixels.len(), zune.as_raw().len());
        // Chroma upsampling differs a little between decoders; a misread differs wholesale.
        assert!(
            worst.is_some_and(|w| w <= 8),
            "decoders disagree by {worst:?}"
        );
    }

    #[test]
    fn jpeg_output_is_one_interleaved_baseline_scan_subsampled_below_q90() {
        let png = include_bytes!("../../../../samples/photos/chelsea.png");
        let limits = InputLimits::default();
        let inspection = inspect(png, &limits).expect("valid");
        for (spec, luma_sampling) in [("256x256:q80", 0x22), ("256x256:q90", 0x11)] {
            let thumb =
                one(png, &inspection, &spec.parse().expect("spec"), &limits).expect("thumb");
            let (mut at, mut frame, mut scans) = (2, None, Vec::new());
            while let Some((marker, segment, next)) = next_segment(&thumb.bytes, at) {
                match marker {
                    0xC0..=0xCF if marker != 0xC4 => frame = Some((marker, segment[7])),
                    0xDA => scans.push(segment[0]),
                    0xD9 => break,
                    _ => {}
                }
                at = next;
            }
            // SOF0 (baseline) with Y's sampling; one scan holding all three components.
            assert_eq!(frame, Some((0xC0, luma_sampling)), "{spec}");
            assert_eq!(scans, [3], "{spec}");
        }
    }

    #[test]
    fn thumbnails_carry_no_exif() {
        let jpeg = with_orientation(
            &encode_jpeg(&RgbImage::from_pixel(400, 300, Rgb([9, 99, 199]))),
            6,
        );
        let limits = InputLimits::default();
        let inspection = inspect(&jpeg, &limits).expect("valid");
        let thumb = one(&jpeg, &inspection, &Rendition::default(), &limits).expect("thumb");
        assert!(!thumb.bytes.windows(6).any(|w| w == b"Exif\0\0"));
    }
}
