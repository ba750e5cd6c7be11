//! HEIC/HEIF stills (the iPhone's default) through libheif, with libde265 as its HEVC decoder:
//! the primary image's size from the container before any decoding, then the image decoded
//! upright to 8-bit RGB, shrunk by a whole factor while it is copied out of libheif.
//!
//! The container's own transformations (`irot`, `imir`, `clap`) are what libheif applies;
//! the EXIF orientation tag a HEIC also carries describes the same turn and must not be
//! applied a second time, so a decoded HEIF is always upright.

use std::cell::Cell;
use std::ops::Range;
use std::rc::Rc;

use image::RgbImage;
use libheif_rs::{
    ColorProfileNCLX, ColorSpace, DecodingOptions, HeifContext, HeifError, HeifErrorCode,
    HeifErrorSubCode, LibHeif, Reader, ReaderGrowStatus, RgbChroma, SecurityLimits,
};

use crate::limits::Partial;

/// Why a HEIF could not be read: the file is broken, or it holds a coding we did not build
/// (AV1, JPEG, uncompressed…).
#[derive(Debug)]
pub(crate) enum HeifFailure {
    Corrupt(String),
    Unsupported(String),
}

impl From<HeifError> for HeifFailure {
    fn from(error: HeifError) -> Self {
        let unsupported = matches!(error.code, HeifErrorCode::UnsupportedFeature)
            || matches!(error.sub_code, HeifErrorSubCode::UnsupportedCodec);
        if unsupported {
            Self::Unsupported(error.message)
        } else {
            Self::Corrupt(error.message)
        }
    }
}

/// The primary image's displayed size (after the container's rotation), from the boxes alone.
pub(crate) fn dimensions(bytes: &[u8]) -> Result<(u32, u32), HeifFailure> {
    let context = HeifContext::read_from_bytes(bytes)?;
    let primary = context.primary_image_handle()?;
    Ok((primary.width(), primary.height()))
}

/// Why the primary image's size could not be read from the parts of a HEIF read so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartialFailure {
    /// libheif asked for bytes not read yet: these, with some to spare.
    Missing(Range<u64>),
    /// It had every byte it asked for, and the file is still not one it reads.
    Failed,
}

/// The least read where libheif asks for bytes not read yet: its boxes are small, so one
/// range of this size usually holds the box it wanted and the next.
const MISSING_READ: u64 = 64 << 10;

/// The primary image's displayed size from the parts of a HEIF read so far, read through a
/// libheif reader that serves only those: libheif reads the boxes it needs (the `meta`
/// box, wherever it is, and the item data it points to, such as a grid's layout) and
/// skips the image data; where it asks for bytes not read, they are what is missing.
pub(crate) fn dimensions_of_partial(partial: &Partial) -> Result<(u32, u32), PartialFailure> {
    let missing = Rc::new(Cell::new(None));
    let reader = PartialReader {
        partial,
        position: 0,
        missing: Rc::clone(&missing),
    };
    let read = HeifContext::read_from_reader(Box::new(reader)).and_then(|context| {
        let primary = context.primary_image_handle()?;
        Ok((primary.width(), primary.height()))
    });
    match (read, missing.take()) {
        (_, Some(range)) => Err(PartialFailure::Missing(range)),
        (Ok(dimensions), None) => Ok(dimensions),
        (Err(_), None) => Err(PartialFailure::Failed),
    }
}

/// libheif's view of a [`Partial`]: the whole file's size, the parts read, and a note of
/// the first bytes it asked for that are not.
struct PartialReader<'a> {
    partial: &'a Partial,
    position: u64,
    missing: Rc<Cell<Option<Range<u64>>>>,
}

impl Reader for PartialReader<'_> {
    fn position(&mut self) -> u64 {
        self.position
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.read_exact(buf).map(|()| buf.len())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        let (at, size) = (self.position, self.partial.size());
        if at + buf.len() as u64 > size {
            // Beyond the end of the file: no read gets it.
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if !self.partial.read_at(at, buf) {
            let first = self.missing.take();
            let end = (at + (buf.len() as u64).max(MISSING_READ)).min(size);
            self.missing.set(first.or(Some(at..end)));
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.position += buf.len() as u64;
        Ok(())
    }

    fn seek(&mut self, position: u64) -> std::io::Result<u64> {
        self.position = position;
        Ok(position)
    }

    fn wait_for_file_size(&mut self, target_size: u64) -> ReaderGrowStatus {
        if target_size > self.partial.size() {
            ReaderGrowStatus::SizeBeyondEof
        } else {
            ReaderGrowStatus::SizeReached
        }
    }
}

/// The primary image's bits per luma sample (8, 10, 12) and whether it has an alpha
/// plane, from the boxes alone.
pub(crate) fn depth_and_alpha(bytes: &[u8]) -> Result<(u8, bool), HeifFailure> {
    let context = HeifContext::read_from_bytes(bytes)?;
    let primary = context.primary_image_handle()?;
    Ok((primary.luma_bits_per_pixel(), primary.has_alpha_channel()))
}

/// A decoded primary image: upright RGB (alpha composited over white) and its ICC profile.
pub(crate) struct DecodedHeif {
    pub rgb: RgbImage,
    pub icc: Option<Vec<u8>>,
}

/// Decodes the primary image, refusing more than `max_pixels` before decoding (libheif checks
/// its tiles against the same limit), and keeps one pixel in `shrink`×`shrink`: each output
/// pixel is the mean of its block.
pub(crate) fn decode(
    bytes: &[u8],
    max_pixels: u64,
    shrink: impl FnOnce(u32, u32) -> u32,
) -> Result<DecodedHeif, HeifFailure> {
    let lib = LibHeif::new();
    let mut context = HeifContext::read_from_bytes(bytes)?;
    let mut security = SecurityLimits::new();
    security.set_max_image_size_pixels(max_pixels);
    context.set_security_limits(&security)?;
    // Tiles are decoded one after another on this thread, as every other format is.
    context.set_max_decoding_threads(0);
    let primary = context.primary_image_handle()?;
    let (width, height) = (primary.width(), primary.height());
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(HeifFailure::Corrupt(format!(
            "primary image is {width}×{height}, over the pixel limit"
        )));
    }
    let alpha = primary.has_alpha_channel();
    let chroma = if alpha {
        RgbChroma::Rgba
    } else {
        RgbChroma::Rgb
    };
    let icc = primary
        .color_profile_raw()
        .map(|profile| profile.data)
        .or_else(|| {
            primary
                .color_profile_nclx()
                .and_then(|nclx| nclx_as_icc(&nclx))
        });
    let mut options = DecodingOptions::new()
        .ok_or_else(|| HeifFailure::Corrupt("libheif gave no decoding options".into()))?;
    // A tile that fails to decode (a truncated file) is an error, not a grey patch.
    options.set_strict_decoding(true);
    options.set_convert_hdr_to_8bit(true);
    let image = lib.decode(&primary, ColorSpace::Rgb(chroma), Some(options))?;
    let planes = image.planes();
    let plane = planes
        .interleaved
        .ok_or_else(|| HeifFailure::Corrupt("libheif returned no interleaved RGB plane".into()))?;
    let channels = if alpha { 4 } else { 3 };
    let factor = shrink(plane.width, plane.height).max(1);
    let rgb = box_shrink(
        plane.data,
        plane.width,
        plane.height,
        plane.stride,
        channels,
        factor,
    );
    Ok(DecodedHeif { rgb, icc })
}

/// An ICC profile for colour described by code points (an `nclx` box, as some Android phones
/// write for Display P3) rather than by an ICC profile; `None` where the primaries are
/// sRGB's or unspecified (taken as sRGB) and for HDR transfers (PQ, HLG), which a profile
/// of this kind does not render.
fn nclx_as_icc(nclx: &ColorProfileNCLX) -> Option<Vec<u8>> {
    use moxcms::{CicpColorPrimaries, CicpProfile, MatrixCoefficients, TransferCharacteristics};
    let code = |value: u32| u8::try_from(value).ok();
    let primaries = CicpColorPrimaries::try_from(code(nclx.color_primaries() as u32)?).ok()?;
    if matches!(
        primaries,
        CicpColorPrimaries::Bt709 | CicpColorPrimaries::Unspecified
    ) {
        return None;
    }
    let transfer =
        match TransferCharacteristics::try_from(code(nclx.transfer_characteristics() as u32)?) {
            Ok(TransferCharacteristics::Smpte2084 | TransferCharacteristics::Hlg) => return None,
            Ok(TransferCharacteristics::Unspecified) | Err(_) => TransferCharacteristics::Srgb,
            Ok(transfer) => transfer,
        };
    let profile = moxcms::ColorProfile::new_from_cicp(CicpProfile {
        color_primaries: primaries,
        transfer_characteristics: transfer,
        matrix_coefficients: MatrixCoefficients::Bt709,
        full_range: true,
    });
    profile.encode().ok()
}

/// Averages `factor`×`factor` blocks of 8-bit RGB or RGBA rows (edge blocks average what
/// they hold) into RGB; alpha is composited over white pixel by pixel, before averaging.
fn box_shrink(
    data: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    channels: usize,
    factor: u32,
) -> RgbImage {
    let out_w = width.div_ceil(factor);
    let out_h = height.div_ceil(factor);
    let (width, factor_px) = (width as usize, factor as usize);
    let mut out = Vec::with_capacity(out_w as usize * out_h as usize * 3);
    // u64: validate asks for the smallest decode, a block of up to half the image, whose sum
    // overflows u32 from about 4100×4100 pixels.
    let mut sums = vec![0u64; out_w as usize * 3];
    for band in 0..out_h as usize {
        sums.fill(0);
        let rows = (band * factor_px)..((band + 1) * factor_px).min(height as usize);
        let band_rows = rows.len();
        for row in rows {
            let line = &data[row * stride..row * stride + width * channels];
            let blocks = line
                .chunks(factor_px * channels)
                .zip(sums.chunks_exact_mut(3));
            for (block, sum) in blocks {
                for px in block.chunks_exact(channels) {
                    if channels == 4 {
                        let alpha = u32::from(px[3]);
                        for (total, &value) in sum.iter_mut().zip(px) {
                            let over_white =
                                (u32::from(value) * alpha + 255 * (255 - alpha) + 127) / 255;
                            *total += u64::from(over_white);
                        }
                    } else {
                        sum[0] += u64::from(px[0]);
                        sum[1] += u64::from(px[1]);
                        sum[2] += u64::from(px[2]);
                    }
                }
            }
        }
        for (block, sum) in sums.chunks_exact(3).enumerate() {
            let count = ((width - block * factor_px).min(factor_px) * band_rows) as u64;
            out.extend(sum.iter().map(|&total| ((total + count / 2) / count) as u8));
        }
    }
    match RgbImage::from_raw(out_w, out_h, out) {
        Some(image) => image,
        None => unreachable!("buffer sized from the output's own dimensions"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libheif_was_built_with_libde265_and_nothing_else() {
        // libheif builds without a decoder and then refuses every HEIC; libheif-sys's build
        // script does not rerun when libde265 appears later.
        let lib = LibHeif::new();
        let hevc = lib.decoder_descriptors(8, Some(libheif_rs::CompressionFormat::Hevc));
        assert!(
            hevc.iter().any(|decoder| decoder.id() == "libde265"),
            "libheif has no HEVC decoder: run `scripts/libde265 host`, then `cargo clean -p libheif-sys`"
        );
        let all: Vec<String> = lib
            .decoder_descriptors(16, None)
            .iter()
            .map(|decoder| decoder.id().to_owned())
            .collect();
        assert_eq!(all, ["libde265"], "the host build must match the Lambda's");
    }

    #[test]
    fn box_shrink_averages_blocks_and_keeps_partial_edges() {
        // 3×2 RGB, factor 2: one full 2×2 block and one 1×2 edge block.
        let data = [
            0, 0, 0, 100, 100, 100, 7, 7, 7, //
            200, 200, 200, 40, 40, 40, 9, 9, 9,
        ];
        let out = box_shrink(&data, 3, 2, 9, 3, 2);
        assert_eq!(out.dimensions(), (2, 1));
        assert_eq!(out.as_raw(), &[85, 85, 85, 8, 8, 8]);
    }

    #[test]
    fn box_shrink_reads_rows_by_stride_and_composites_alpha_over_white() {
        // 1×2 RGBA with 3 bytes of row padding: opaque red over transparent anything.
        let data = [255, 0, 0, 255, 1, 2, 3, 9, 9, 9, 0, 0, 0, 0, 0, 0];
        let out = box_shrink(&data, 1, 2, 7, 4, 1);
        assert_eq!(out.as_raw(), &[255, 0, 0, 255, 255, 255]);
    }
}
