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

mod colour;
mod encode;
mod format;
mod jpeg_reduced;
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

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageReader, RgbImage};
use photopipe::format::ImageFormat;
use photopipe::settings::{InputLimits, Rendition};
use photopipe::{PipelineError, Result};

pub use crate::format::{SNIFF_LEN, sniff};
pub use crate::limits::{Inspection, inspect};
pub use crate::pixels::{Decoded, Pixels, YCbCrPlanes};
pub use crate::plan::{Plan, fit_inside, plan};
pub use crate::render::Thumbnail;

use crate::colour::{cmyk_to_rgb, srgb_transform};
use crate::format::codec;
use crate::jpeg_reduced::Reduction;
use crate::limits::megapixels;
use crate::orientation::orientation;
use crate::plan::{DecodeFor, area_shrink, size_needed};
use crate::render::render;

/// Proves that an inspected original decodes: the smallest decode its format allows, which
/// still reads every byte of image data. What validate asks before accepting a photo.
pub fn prove_decodes(bytes: &[u8], inspection: &Inspection, limits: &InputLimits) -> Result<()> {
    decode(bytes, inspection, DecodeFor::Proof, limits).map(drop)
}

/// Decodes the image at the smallest size every rendition can still be made from, where
/// the format allows a reduced decode (JPEG: 1/2, 1/4, 1/8), else at full size. For the
/// proof it decodes as small as it can, which still reads all the image data. Every
/// decoder failure, a panic included, becomes `Photo.InvalidImage`.
fn decode(
    bytes: &[u8],
    inspection: &Inspection,
    purpose: DecodeFor<'_>,
    limits: &InputLimits,
) -> Result<Decoded> {
    guarded(inspection.format, || match inspection.format {
        ImageFormat::Jpeg => decode_jpeg(bytes, purpose),
        ImageFormat::Webp => decode_webp(bytes, purpose, limits),
        ImageFormat::Heif => decode_heif(bytes, purpose, limits),
        other => decode_generic(bytes, other, limits),
    })
}

fn guarded<T>(format: ImageFormat, work: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(PipelineError::InvalidImage(format!(
            "{} data is corrupt (the decoder gave up)",
            format.name()
        )))
    })
}

fn decode_jpeg(bytes: &[u8], purpose: DecodeFor<'_>) -> Result<Decoded> {
    let corrupt =
        |e: jpeg_decoder::Error| PipelineError::InvalidImage(format!("JPEG data is corrupt: {e}"));
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(corrupt)?;
    let orientation = orientation(decoder.exif_data(), decoder.xmp_data());
    let icc = decoder.icc_profile();
    let header = decoder
        .info()
        .ok_or_else(|| PipelineError::InvalidImage("JPEG has no frame header".into()))?;
    let (width, height) = (u32::from(header.width), u32::from(header.height));
    let (want_w, want_h) = size_needed(width, height, orientation, purpose);
    // The lowest coefficients make the reduced image far faster than a DCT-scaled decode.
    // The scale is the smallest that leaves the Lanczos pass at least a halving (as below):
    // 1/8 from the DC alone, 1/4 or 1/2 from each luma block's lowest 2×2 or 4×4
    // frequencies. A progressive JPEG keeps those AC coefficients in refinement scans this
    // decoder does not read: it takes the 1/8 image when that is at least the size needed,
    // else the DCT-scaled decode. (The proof must read all the data, so it takes none of
    // these.)
    let fits =
        |divisor: u32| want_w <= width.div_ceil(divisor) && want_h <= height.div_ceil(divisor);
    let reduced = match purpose {
        DecodeFor::Proof => None,
        DecodeFor::Renditions(_) if fits(16) => jpeg_reduced::decode(bytes, Reduction::Eighth),
        DecodeFor::Renditions(_) if fits(8) => jpeg_reduced::decode(bytes, Reduction::Quarter)
            .or_else(|| jpeg_reduced::decode(bytes, Reduction::Eighth)),
        DecodeFor::Renditions(_) if fits(4) => jpeg_reduced::decode(bytes, Reduction::Half),
        DecodeFor::Renditions(_) => None,
    };
    if let Some(pixels) = reduced {
        return Ok(Decoded {
            pixels,
            orientation,
            icc,
        });
    }
    // A 1/4 or 1/2 DCT-scaled decode keeps only the lowest frequencies of each block, which
    // rings and aliases where the photo has fine texture; decoding twice the size needed
    // leaves the Lanczos pass at least a halving, as Pillow's reducing gap does.
    let clamp = |v: u32| u16::try_from(v.saturating_mul(2).max(1)).unwrap_or(u16::MAX);
    decoder
        .scale(clamp(want_w), clamp(want_h))
        .map_err(corrupt)?;
    let data = decoder.decode().map_err(corrupt)?;
    let info = decoder
        .info()
        .ok_or_else(|| PipelineError::InvalidImage("JPEG has no frame header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let short = || PipelineError::InvalidImage("JPEG data ends early".into());
    let pixels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => {
            Pixels::Gray(GrayImage::from_raw(width, height, data).ok_or_else(short)?)
        }
        jpeg_decoder::PixelFormat::L16 => {
            let gray = data.chunks_exact(2).map(|px| px[0]).collect();
            Pixels::Gray(GrayImage::from_raw(width, height, gray).ok_or_else(short)?)
        }
        jpeg_decoder::PixelFormat::RGB24 => {
            Pixels::Rgb(RgbImage::from_raw(width, height, data).ok_or_else(short)?)
        }
        jpeg_decoder::PixelFormat::CMYK32 => {
            Pixels::Rgb(RgbImage::from_raw(width, height, cmyk_to_rgb(&data)).ok_or_else(short)?)
        }
    };
    Ok(Decoded {
        pixels,
        orientation,
        icc,
    })
}

fn decode_generic(bytes: &[u8], format: ImageFormat, limits: &InputLimits) -> Result<Decoded> {
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
fn metadata(decoder: &mut impl ImageDecoder) -> (Orientation, Option<Vec<u8>>) {
    let exif = decoder.exif_metadata().ok().flatten();
    let xmp = decoder.xmp_metadata().ok().flatten();
    let orientation = orientation(exif.as_deref(), xmp.as_deref());
    (orientation, decoder.icc_profile().ok().flatten())
}

/// A still WebP goes through libwebp, scaled while it decodes by the largest whole factor
/// that leaves every rendition twice the pixels it needs (the Lanczos pass does the rest); an animation's first frame goes through the image crate. The
/// container's metadata comes from the image crate's parser, which reads only chunk headers.
fn decode_webp(bytes: &[u8], purpose: DecodeFor<'_>, limits: &InputLimits) -> Result<Decoded> {
    let corrupt =
        |reason: String| PipelineError::InvalidImage(format!("WebP data is corrupt: {reason}"));
    let header = libwebp::features(bytes).map_err(corrupt)?;
    if header.animated {
        return decode_generic(bytes, ImageFormat::Webp, limits);
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
    let mut container = ImageReader::with_format(Cursor::new(bytes), image::ImageFormat::WebP)
        .into_decoder()
        .map_err(|e| corrupt(e.to_string()))?;
    let (orientation, icc) = metadata(&mut container);
    let shrink = area_shrink(header.width, header.height, orientation, purpose);
    let rgb = libwebp::decode(
        bytes,
        &header,
        header.width.div_ceil(shrink),
        header.height.div_ceil(shrink),
    )
    .map_err(corrupt)?;
    Ok(Decoded {
        pixels: Pixels::Rgb(rgb),
        orientation,
        icc,
    })
}

/// A HEIC/HEIF's primary image, decoded in full (HEVC has no reduced-size decode) and
/// shrunk while it is copied out by the largest whole factor that leaves every rendition
/// twice the pixels it needs, as WebP is. libheif has already turned it upright.
fn decode_heif(bytes: &[u8], purpose: DecodeFor<'_>, limits: &InputLimits) -> Result<Decoded> {
    let decoded = libheif::decode(bytes, limits.max_pixels, |width, height| {
        area_shrink(width, height, Orientation::NoTransforms, purpose)
    })
    .map_err(|failure| match failure {
        libheif::HeifFailure::Corrupt(reason) => {
            PipelineError::InvalidImage(format!("HEIC/HEIF data is corrupt: {reason}"))
        }
        libheif::HeifFailure::Unsupported(reason) => PipelineError::UnsupportedFormat(format!(
            "this HEIF holds a coding other than HEVC: {reason}"
        )),
    })?;
    Ok(Decoded {
        pixels: Pixels::Rgb(decoded.rgb),
        orientation: Orientation::NoTransforms,
        icc: decoded.icc,
    })
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
    use super::*;
    use crate::test_support::{
        centre_of, encode_jpeg, encode_png, near, one, red_corner, red_left_blue_right,
        webp_with_orientation, with_orientation,
    };
    use image::Rgb;

    #[test]
    fn truncated_jpeg_is_invalid_not_a_panic() {
        let jpeg = encode_jpeg(&RgbImage::from_pixel(64, 48, Rgb([200, 10, 10])));
        let truncated = &jpeg[..jpeg.len() / 2];
        let limits = InputLimits::default();
        let inspection = inspect(truncated, &limits).expect("header is intact");
        let result = one(truncated, &inspection, &Rendition::default(), &limits);
        // jpeg-decoder fills a truncated scan with grey; either way it must not panic.
        if let Err(err) = result {
            assert_eq!(err.error_name(), "Photo.InvalidImage");
        }
        let garbage = [0xFF, 0xD8, 0xFF, 0xC0, 0, 0, 1, 2, 3];
        let err = inspect(&garbage, &limits).expect_err("garbage rejected");
        assert_eq!(err.error_name(), "Photo.InvalidImage");
    }

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

    #[test]
    fn an_mpo_gives_its_first_image() {
        // An MPO is a JPEG followed by more JPEGs (other views); the first is the photo.
        let mut mpo = encode_jpeg(&RgbImage::from_pixel(64, 64, Rgb([20, 160, 60])));
        mpo.extend(encode_jpeg(&RgbImage::from_pixel(
            64,
            64,
            Rgb([160, 20, 60]),
        )));
        assert!(
            near(centre_of(&mpo), [20, 160, 60]),
            "{:?}",
            centre_of(&mpo)
        );
    }

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
