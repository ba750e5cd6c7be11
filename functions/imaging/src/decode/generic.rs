//! The image crate's decoders, for what has no faster path here: PNG, GIF (the first frame)
//! and animated WebP (the first frame); the orientation and ICC profile of a container as
//! it reads them; and the flattening of any of its pixel layouts to 8-bit grey or RGB.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use photopipe::format::ImageFormat;
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result};

use crate::format::codec;
use crate::orientation::orientation;
use crate::pixels::{Decoded, Pixels};

/// A PNG, a GIF's first frame or an animated WebP's, through the image crate within a memory
/// budget from the pixel limit.
pub(crate) fn decode(bytes: &[u8], format: ImageFormat, limits: &InputLimits) -> Result<Decoded> {
    let failed = |e: image::ImageError| {
        PipelineError::InvalidImage(format!("{} data is corrupt: {e}", format.name()))
    };
    let codec = codec(format)
        .ok_or_else(|| PipelineError::Internal(format!("no decoder for {}", format.name())))?;
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), codec)
        .into_decoder()
        .map_err(failed)?;
    let mut decode_limits = image::Limits::default();
    decode_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).min(1 << 30));
    decoder.set_limits(decode_limits).map_err(failed)?;
    let (orientation, icc) = metadata(&mut decoder);
    let image = DynamicImage::from_decoder(decoder).map_err(failed)?;
    Ok(Decoded {
        pixels: flatten(image),
        orientation,
        icc,
    })
}

/// The orientation and ICC profile in an image's container, as the image crate reads them.
pub(crate) fn metadata(decoder: &mut impl ImageDecoder) -> (Orientation, Option<Vec<u8>>) {
    let exif = decoder.exif_metadata().ok().flatten();
    let xmp = decoder.xmp_metadata().ok().flatten();
    let orientation = orientation(exif.as_deref(), xmp.as_deref());
    (orientation, decoder.icc_profile().ok().flatten())
}

/// Grey stays grey; alpha is composited over white; 16 bits become 8.
fn flatten(image: DynamicImage) -> Pixels {
    let color = image.color();
    if color.has_alpha() {
        let rgba = image.to_rgba8();
        let (width, height) = rgba.dimensions();
        let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
        for px in rgba.pixels() {
            let alpha = u16::from(px[3]);
            for &channel in &px.0[..3] {
                rgb.push(((u16::from(channel) * alpha + 255 * (255 - alpha) + 127) / 255) as u8);
            }
        }
        match RgbImage::from_raw(width, height, rgb) {
            Some(image) => Pixels::Rgb(image),
            None => unreachable!("buffer sized from the image's own dimensions"),
        }
    } else if color.has_color() {
        Pixels::Rgb(image.into_rgb8())
    } else {
        Pixels::Gray(image.into_luma8())
    }
}

#[cfg(test)]
mod tests {
    use image::DynamicImage;
    use photopipe::settings::{InputLimits, Rendition};

    use crate::inspect;
    use crate::test_support::{centre_of, encode_png, near, one};

    #[test]
    fn png_with_alpha_is_flattened_over_white_and_grey_stays_grey() {
        let transparent = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            300,
            300,
            image::Rgba([0, 0, 0, 0]),
        ));
        let png = encode_png(&transparent);
        let limits = InputLimits::default();
        let inspection = inspect(&png, &limits).expect("valid");
        let thumb = one(&png, &inspection, &Rendition::default(), &limits).expect("thumb");
        let image = image::load_from_memory(&thumb.bytes)
            .expect("decodes")
            .to_rgb8();
        assert!(image.get_pixel(10, 10).0.iter().all(|&c| c > 245));
        assert_eq!((thumb.width, thumb.height), (256, 256));

        let grey = DynamicImage::ImageLuma16(image::ImageBuffer::from_pixel(
            512,
            256,
            image::Luma([40000u16]),
        ));
        let png = encode_png(&grey);
        let inspection = inspect(&png, &limits).expect("valid");
        let thumb = one(&png, &inspection, &Rendition::default(), &limits).expect("thumb");
        assert_eq!(
            jpeg_components(&thumb.bytes),
            1,
            "a grey original gives a one-channel JPEG"
        );
        assert_eq!((thumb.width, thumb.height), (256, 128));
    }

    /// The component count of a baseline JPEG's frame header.
    fn jpeg_components(jpeg: &[u8]) -> u8 {
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("SOF0");
        jpeg[sof + 9]
    }

    #[test]
    fn gif_gives_its_first_frame() {
        let mut gif = Vec::new();
        {
            let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
            for colour in [[200, 30, 30, 255], [30, 30, 200, 255]] {
                let frame =
                    image::Frame::new(image::RgbaImage::from_pixel(80, 40, image::Rgba(colour)));
                encoder.encode_frame(frame).expect("frame");
            }
        }
        assert!(
            near(centre_of(&gif), [200, 30, 30]),
            "{:?}",
            centre_of(&gif)
        );
    }

    #[test]
    fn palette_and_sixteen_bit_pngs() {
        let mut palette = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut palette, 8, 8);
            encoder.set_color(png::ColorType::Indexed);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_palette(vec![10, 20, 30, 40, 180, 90]);
            let mut writer = encoder.write_header().expect("header");
            writer.write_image_data(&[1; 64]).expect("data");
        }
        assert!(
            near(centre_of(&palette), [40, 180, 90]),
            "{:?}",
            centre_of(&palette)
        );
        let deep = DynamicImage::ImageRgba16(image::ImageBuffer::from_pixel(
            50,
            30,
            image::Rgba([65535u16, 32896, 0, 65535]),
        ));
        assert!(
            near(centre_of(&encode_png(&deep)), [255, 128, 0]),
            "{:?}",
            centre_of(&encode_png(&deep))
        );
    }
}
