//! Helpers the tests of several modules share: test images and their encodings, a JPEG
//! tagged with an EXIF orientation (and a WebP carrying one), one rendition made through the
//! public entry points, and what a thumbnail looks like where it matters.

use std::io::Cursor;

use image::{DynamicImage, ImageEncoder, Rgb, RgbImage};
use photopipe::Result;
use photopipe::settings::{InputLimits, OutputFormat, Rendition};

use crate::libwebp;
use crate::{Inspection, Thumbnail, inspect, make_thumbnails};

/// One rendition of an original.
pub(crate) fn one(
    bytes: &[u8],
    inspection: &Inspection,
    rendition: &Rendition,
    limits: &InputLimits,
) -> Result<Thumbnail> {
    make_thumbnails(bytes, inspection, std::slice::from_ref(rendition), limits)
        .map(|mut all| all.remove(0))
}

/// `image` as a PNG.
pub(crate) fn encode_png(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("png encodes");
    out
}

/// `image` as a JPEG at quality 90, from the image crate's encoder.
pub(crate) fn encode_jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("jpeg encodes");
    out
}

/// A landscape whose left half is red and right half blue: where red ends up tells
/// which way a thumbnail was turned.
pub(crate) fn red_left_blue_right(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    })
}

/// A JPEG with an APP1 Exif segment holding only an orientation tag.
pub(crate) fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0*\0\0\0\x08"); // big-endian, IFD0 at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, next IFD = 0
    let mut segment = b"Exif\0\0".to_vec();
    segment.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((segment.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The colour of the thumbnail's centre, for one rendition of `bytes`.
pub(crate) fn centre_of(bytes: &[u8]) -> [u8; 3] {
    let limits = InputLimits::default();
    let inspection = inspect(bytes, &limits).expect("valid");
    let thumb = one(
        bytes,
        &inspection,
        &"64x64:png".parse().expect("spec"),
        &limits,
    )
    .expect("thumb");
    let image = image::load_from_memory(&thumb.bytes)
        .expect("decodes")
        .to_rgb8();
    image.get_pixel(image.width() / 2, image.height() / 2).0
}

/// Each channel of `actual` within 3 of `expected`.
pub(crate) fn near(actual: [u8; 3], expected: [u8; 3]) -> bool {
    actual.iter().zip(expected).all(|(a, e)| a.abs_diff(e) <= 3)
}

/// Which way up a 64×32 thumbnail of the red-left, blue-right 200×100 image came out:
/// the corner red is in.
pub(crate) fn red_corner(bytes: &[u8]) -> (u32, u32, &'static str) {
    let limits = InputLimits::default();
    let inspection = inspect(bytes, &limits).expect("valid");
    let rendition = Rendition {
        width: 64,
        height: 64,
        format: OutputFormat::Png,
        ..Rendition::default()
    };
    let thumb = one(bytes, &inspection, &rendition, &limits).expect("thumbnail");
    let image = image::load_from_memory(&thumb.bytes)
        .expect("decodes")
        .to_rgb8();
    let (w, h) = (image.width() - 1, image.height() - 1);
    let red = |x: u32, y: u32| image.get_pixel(x, y)[0] > 128;
    let side = match () {
        _ if red(0, h / 2) && !red(w, h / 2) => "left",
        _ if red(w, h / 2) && !red(0, h / 2) => "right",
        _ if red(w / 2, 0) && !red(w / 2, h) => "top",
        _ => "bottom",
    };
    (image.width(), image.height(), side)
}

/// A lossy WebP of `image` in the extended format, with an EXIF chunk holding
/// `orientation`.
pub(crate) fn webp_with_orientation(image: &RgbImage, orientation: u16) -> Vec<u8> {
    let simple = libwebp::encode_lossy(image, 90).expect("encodes");
    let tiff = &with_orientation(&encode_jpeg(image), orientation)[12..12 + 26];
    let mut body = b"WEBPVP8X".to_vec();
    body.extend_from_slice(&10u32.to_le_bytes());
    body.extend_from_slice(&[0x08, 0, 0, 0]); // flags: EXIF present
    body.extend_from_slice(&(image.width() - 1).to_le_bytes()[..3]);
    body.extend_from_slice(&(image.height() - 1).to_le_bytes()[..3]);
    body.extend_from_slice(&simple[12..]); // the VP8 chunk
    body.extend_from_slice(b"EXIF");
    body.extend_from_slice(&(tiff.len() as u32).to_le_bytes());
    body.extend_from_slice(tiff);
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(body.len() as u32).to_le_bytes());
    webp.extend_from_slice(&body);
    webp
}

/// A `width`×`height` PNG of black (every sample zero), written row by row so that a large
/// one never exists uncompressed: 100 MP of 16-bit RGBA (800 MB raw) is a few hundred KB.
pub(crate) fn black_png(
    width: u32,
    height: u32,
    colour: png::ColorType,
    depth: png::BitDepth,
) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(colour);
    encoder.set_depth(depth);
    encoder.set_filter(png::Filter::NoFilter);
    let mut writer = encoder.write_header().expect("header");
    let mut rows = writer.stream_writer().expect("stream");
    let row = vec![0u8; (width as usize * colour.samples() * depth as usize).div_ceil(8)];
    for _ in 0..height {
        rows.write_all(&row).expect("row");
    }
    rows.finish().expect("image data");
    drop(writer);
    out
}
