//! The image crate's decoders, for what has no faster path here: PNG, GIF (the first frame)
//! and animated WebP (the first frame); what each needs in memory, from its header; the
//! orientation and ICC profile of a container as it reads them; and the flattening of any
//! of its pixel layouts to 8-bit grey or RGB.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use photopipe::format::ImageFormat;
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result};

use crate::format::codec;
use crate::memory::{Need, SLACK, area, mp};
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

/// What [`decode`] needs of a `width`×`height` image (the header's): the image crate's
/// buffer in the decoder's own layout, plus the 8-bit copy [`flatten`] makes of any layout
/// but 8-bit grey and RGB, plus, for a GIF whose first frame is placed inside the screen,
/// the frame's own buffer, and, for an animated WebP, the canvas and the frame decode.
pub(crate) fn need(bytes: &[u8], format: ImageFormat, width: u32, height: u32) -> Result<Need> {
    let flattened = |colour: bool| area(width, height, if colour { 3 } else { 1 });
    match format {
        ImageFormat::Png => png_need(bytes, width, height),
        ImageFormat::Gif => {
            // RGBA8 at the screen's size, the first frame's own RGBA8 buffer when it does
            // not span the screen's width from its left edge, then RGB8.
            let frame = match gif_first_frame(bytes) {
                Some((0, _, frame_w, _)) if u32::from(frame_w) == width => 0,
                Some((_, _, frame_w, frame_h)) => area(frame_w.into(), frame_h.into(), 4),
                None => area(width, height, 4),
            };
            Ok(Need {
                peak: area(width, height, 4) + frame + flattened(true) + SLACK,
                decoded: (width, height, flattened(true)),
                image: format!("{} GIF", mp(width, height)),
            })
        }
        // An animation's first frame: the RGBA8 output and the canvas (4 + 4 bytes a
        // pixel), the frame's YUV, alpha and RGBA (up to 8 more), then RGB8.
        _ => Ok(Need {
            peak: area(width, height, 16) + SLACK,
            decoded: (width, height, flattened(true)),
            image: format!("{} animated {}", mp(width, height), format.name()),
        }),
    }
}

/// A PNG's need, from its header chunks (IHDR's bit depth and colour type, a tRNS that
/// adds alpha): the image crate expands palette and low bit depths to 8 bits and tRNS to
/// an alpha channel, and keeps 16 bits.
fn png_need(bytes: &[u8], width: u32, height: u32) -> Result<Need> {
    let corrupt =
        |e: png::DecodingError| PipelineError::InvalidImage(format!("PNG data is corrupt: {e}"));
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let reader = decoder.read_info().map_err(corrupt)?;
    let (colour, depth) = reader.output_color_type();
    let native = reader.output_buffer_size().map_or(u64::MAX, |n| n as u64);
    let eight_bit = depth == png::BitDepth::Eight;
    let (flat, copied) = match colour {
        png::ColorType::Grayscale => (1, !eight_bit),
        png::ColorType::Rgb => (3, !eight_bit),
        _ => (3, true),
    };
    let flattened = area(width, height, flat);
    let info = reader.info();
    let layout = match info.color_type {
        png::ColorType::Grayscale => "grey",
        png::ColorType::GrayscaleAlpha => "grey and alpha",
        png::ColorType::Rgb => "RGB",
        png::ColorType::Rgba => "RGBA",
        png::ColorType::Indexed => "palette",
    };
    Ok(Need {
        peak: native
            .saturating_add(if copied { flattened } else { 0 })
            .saturating_add(SLACK),
        decoded: (width, height, flattened),
        image: format!(
            "{} {}-bit {layout} PNG",
            mp(width, height),
            info.bit_depth as u8
        ),
    })
}

/// The first image descriptor of a GIF: left, top, width, height.
fn gif_first_frame(bytes: &[u8]) -> Option<(u16, u16, u16, u16)> {
    let le16 = |at: usize| Some(u16::from_le_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]));
    let flags = *bytes.get(10)?;
    let mut at = 13
        + if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        };
    loop {
        match *bytes.get(at)? {
            0x2C => return Some((le16(at + 1)?, le16(at + 3)?, le16(at + 5)?, le16(at + 7)?)),
            // An extension: its label, then sub-blocks up to an empty one.
            0x21 => {
                at += 2;
                loop {
                    let len = usize::from(*bytes.get(at)?);
                    at += 1 + len;
                    if len == 0 {
                        break;
                    }
                }
            }
            _ => return None,
        }
    }
}

/// The orientation and ICC profile in an image's container, as the image crate reads them.
pub(crate) fn metadata(decoder: &mut impl ImageDecoder) -> (Orientation, Option<Vec<u8>>) {
    let exif = decoder.exif_metadata().ok().flatten();
    let xmp = decoder.xmp_metadata().ok().flatten();
    let orientation = orientation(exif.as_deref(), xmp.as_deref());
    (orientation, decoder.icc_profile().ok().flatten())
}

/// Grey stays grey; alpha is composited over white; 16 bits become 8 (rounded as the image
/// crate does). An image already in 8-bit grey or RGB is kept as it is; any other layout
/// is copied once, into the 8-bit result, with no intermediate image.
fn flatten(image: DynamicImage) -> Pixels {
    let eight = |v: u16| ((u32::from(v) + 128) / 257) as u8;
    let (width, height) = (image.width(), image.height());
    let over_white = |rgba: &mut dyn Iterator<Item = [u8; 4]>| {
        let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
        for [r, g, b, a] in rgba {
            let alpha = u16::from(a);
            for channel in [r, g, b] {
                rgb.push(((u16::from(channel) * alpha + 255 * (255 - alpha) + 127) / 255) as u8);
            }
        }
        match RgbImage::from_raw(width, height, rgb) {
            Some(image) => Pixels::Rgb(image),
            None => unreachable!("buffer sized from the image's own dimensions"),
        }
    };
    match image {
        DynamicImage::ImageRgba8(rgba) => over_white(&mut rgba.pixels().map(|p| p.0)),
        DynamicImage::ImageLumaA8(la) => {
            over_white(&mut la.pixels().map(|p| [p[0], p[0], p[0], p[1]]))
        }
        DynamicImage::ImageRgba16(rgba) => over_white(&mut rgba.pixels().map(|p| p.0.map(eight))),
        DynamicImage::ImageLumaA16(la) => over_white(&mut la.pixels().map(|p| {
            let (l, a) = (eight(p[0]), eight(p[1]));
            [l, l, l, a]
        })),
        image if image.color().has_alpha() => {
            over_white(&mut image.to_rgba8().pixels().map(|p| p.0))
        }
        image if image.color().has_color() => Pixels::Rgb(image.into_rgb8()),
        image => Pixels::Gray(image.into_luma8()),
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
