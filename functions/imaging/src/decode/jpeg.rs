//! The JPEG path: the reduced decoder from the lowest coefficients where the renditions are
//! small enough, else jpeg-decoder with DCT scaling; Adobe CMYK becomes RGB. What either
//! needs in memory, from the header; and validate's proof, by jpeg-decoder at 1/8 or, where
//! that does not fit (its progressive mode holds every coefficient), by the reduced
//! decoder reading every scan.

use std::io::Cursor;

use image::{GrayImage, RgbImage};
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result};

use super::Proof;
use super::jpeg_reduced::{self, Reduction};
use crate::colour::cmyk_to_rgb;
use crate::memory::{self, Need, SLACK, area, mp};
use crate::orientation::orientation;
use crate::pixels::{Decoded, Pixels};
use crate::plan::{DecodeFor, size_needed};

/// How a JPEG is decoded for a purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// From its lowest coefficients; `then_eighth`: at 1/8 if this one declines.
    Reduced {
        reduction: Reduction,
        then_eighth: bool,
    },
    /// jpeg-decoder, DCT-scaled to at least this size.
    Scaled(u32, u32),
}

/// The path `purpose` takes through a `width`×`height` JPEG.
fn path(
    width: u32,
    height: u32,
    purpose: DecodeFor<'_>,
    orientation: image::metadata::Orientation,
) -> Path {
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
    let reduced = |reduction, then_eighth| Path::Reduced {
        reduction,
        then_eighth,
    };
    match purpose {
        DecodeFor::Proof => Path::Scaled(2, 2),
        DecodeFor::Renditions(_) if fits(16) => reduced(Reduction::Eighth, false),
        DecodeFor::Renditions(_) if fits(8) => reduced(Reduction::Quarter, true),
        DecodeFor::Renditions(_) if fits(4) => reduced(Reduction::Half, false),
        // A 1/4 or 1/2 DCT-scaled decode keeps only the lowest frequencies of each block,
        // which rings and aliases where the photo has fine texture; decoding twice the size
        // needed leaves the Lanczos pass at least a halving, as Pillow's reducing gap does.
        DecodeFor::Renditions(_) => {
            Path::Scaled(want_w.saturating_mul(2), want_h.saturating_mul(2))
        }
    }
}

/// A JPEG at the smallest size `purpose` needs: from its lowest coefficients where that
/// suffices, else through jpeg-decoder, DCT-scaled. A reduced decode that declines the
/// data (the file is corrupt) falls back to jpeg-decoder only where that fits in the
/// budget of `limits`.
pub(crate) fn decode(
    bytes: &[u8],
    purpose: DecodeFor<'_>,
    limits: &InputLimits,
) -> Result<Decoded> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(corrupt)?;
    let orientation = orientation(decoder.exif_data(), decoder.xmp_data());
    let icc = decoder.icc_profile();
    let header = info(&decoder)?;
    let (width, height) = (u32::from(header.width), u32::from(header.height));
    let (want_w, want_h) = match path(width, height, purpose, orientation) {
        Path::Reduced {
            reduction,
            then_eighth,
        } => {
            let reduced = jpeg_reduced::decode(bytes, reduction).or_else(|| {
                then_eighth
                    .then(|| jpeg_reduced::decode(bytes, Reduction::Eighth))
                    .flatten()
            });
            if let Some(pixels) = reduced {
                return Ok(Decoded {
                    pixels,
                    orientation,
                    icc,
                });
            }
            let (want_w, want_h) = size_needed(width, height, orientation, purpose);
            let fallback = (want_w.saturating_mul(2), want_h.saturating_mul(2));
            if let Err(over) = memory::check(&scaled_need(bytes, fallback)?, bytes.len(), limits) {
                return Err(PipelineError::InvalidImage(format!(
                    "JPEG data is corrupt: its lowest coefficients do not decode, and the \
                     lenient full decoder does not fit: {over}"
                )));
            }
            fallback
        }
        Path::Scaled(want_w, want_h) => (want_w, want_h),
    };
    let clamp = |v: u32| u16::try_from(v.max(1)).unwrap_or(u16::MAX);
    decoder
        .scale(clamp(want_w), clamp(want_h))
        .map_err(corrupt)?;
    let data = decoder.decode().map_err(corrupt)?;
    let info = info(&decoder)?;
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

/// What [`decode`] needs for `purpose`: the reduced decoder's few bytes a block where it
/// takes the JPEG (its layout is one it handles), else jpeg-decoder's (see
/// [`scaled_need`]).
pub(crate) fn need(bytes: &[u8], purpose: DecodeFor<'_>) -> Result<Need> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(corrupt)?;
    let orientation = orientation(decoder.exif_data(), decoder.xmp_data());
    let header = info(&decoder)?;
    let (width, height) = (u32::from(header.width), u32::from(header.height));
    match path(width, height, purpose, orientation) {
        Path::Reduced { reduction, .. } if jpeg_reduced::supports(bytes, reduction) => {
            Ok(reduced_need(width, height, reduction))
        }
        Path::Reduced {
            then_eighth: true, ..
        } if jpeg_reduced::supports(bytes, Reduction::Eighth) => {
            Ok(reduced_need(width, height, Reduction::Eighth))
        }
        Path::Reduced { .. } => {
            let (want_w, want_h) = size_needed(width, height, orientation, purpose);
            scaled_need(bytes, (want_w.saturating_mul(2), want_h.saturating_mul(2)))
        }
        Path::Scaled(want_w, want_h) => scaled_need(bytes, (want_w, want_h)),
    }
}

/// validate's proof: jpeg-decoder at 1/8 where that fits in the budget; else, for a
/// layout the reduced decoder handles, every scan read by it to the end of the image (a
/// JPEG it cannot read is corrupt); else nothing fits, and the JPEG is accepted on its
/// header (see [`super::prove`]).
pub(crate) fn prove(bytes: &[u8], width: u32, height: u32, limits: &InputLimits) -> Result<Proof> {
    let need = need(bytes, DecodeFor::Proof)?;
    let Err(over) = memory::check(&need, bytes.len(), limits) else {
        decode(bytes, DecodeFor::Proof, limits)?;
        return Ok(Proof::Decoded);
    };
    if !jpeg_reduced::supports(bytes, Reduction::Eighth) {
        return Ok(Proof::Header(over));
    }
    let reduced = reduced_need(width, height, Reduction::Eighth);
    if memory::check(&reduced, bytes.len(), limits).is_err() {
        return Ok(Proof::Header(over));
    }
    if jpeg_reduced::reads_to_the_end(bytes) {
        Ok(Proof::Streamed(over))
    } else {
        Err(PipelineError::InvalidImage(
            "JPEG data is corrupt or ends early (read by its DC coefficients, scan by scan)".into(),
        ))
    }
}

/// What jpeg-decoder needs to decode at least `want`: each component's plane at the scaled
/// size and the output in its pixel format (RGB from CMYK a second copy); a progressive
/// JPEG's every coefficient at full size (two bytes a sample), a lossless one's 16-bit
/// planes and output at full size. Components are counted at full resolution (4:4:4), an
/// upper bound for subsampled chroma.
fn scaled_need(bytes: &[u8], (want_w, want_h): (u32, u32)) -> Result<Need> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(corrupt)?;
    let header = info(&decoder)?;
    let (width, height) = (u32::from(header.width), u32::from(header.height));
    let clamp = |v: u32| u16::try_from(v.max(1)).unwrap_or(u16::MAX);
    let (out_w, out_h) = decoder
        .scale(clamp(want_w), clamp(want_h))
        .map_err(corrupt)?;
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    let (components, layout) = match header.pixel_format {
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::L16 => (1, "greyscale "),
        jpeg_decoder::PixelFormat::RGB24 => (3, ""),
        jpeg_decoder::PixelFormat::CMYK32 => (4, "CMYK "),
    };
    let held = area(out_w, out_h, if components == 1 { 1 } else { 3 });
    let planes = components * area(out_w + 32, out_h + 32, 1);
    let output = area(out_w, out_h, components) + if components == 4 { held } else { 0 };
    let blocks = area(width.div_ceil(8) + 2, height.div_ceil(8) + 2, 1);
    let (coding, full) = match header.coding_process {
        jpeg_decoder::CodingProcess::DctSequential => ("baseline", 0),
        jpeg_decoder::CodingProcess::DctProgressive => ("progressive", components * blocks * 128),
        jpeg_decoder::CodingProcess::Lossless => (
            "lossless",
            components * area(width, height, 4) + area(width, height, 1),
        ),
    };
    Ok(Need {
        peak: planes + output + full + SLACK,
        decoded: (out_w, out_h, held),
        image: format!("{} {coding} {layout}JPEG", mp(width, height)),
    })
}

/// What the reduced decoder needs at `reduction`: per component and block, its
/// coefficients (four bytes each), its levels and their trimmed copy, every component
/// counted at luma's resolution and samples. Its pixels are the levels.
fn reduced_need(width: u32, height: u32, reduction: Reduction) -> Need {
    let samples = reduction.samples() as u64;
    let blocks = area(width.div_ceil(8) + 2, height.div_ceil(8) + 2, 1);
    let levels = 3 * blocks * samples * samples;
    let scaled = |v: u32| (u64::from(v) * samples).div_ceil(8) as u32;
    Need {
        peak: 3 * blocks * samples * samples * 4 + 2 * levels + SLACK,
        decoded: (scaled(width), scaled(height), levels),
        image: format!("{} JPEG", mp(width, height)),
    }
}

fn corrupt(e: jpeg_decoder::Error) -> PipelineError {
    PipelineError::InvalidImage(format!("JPEG data is corrupt: {e}"))
}

fn info(decoder: &jpeg_decoder::Decoder<Cursor<&[u8]>>) -> Result<jpeg_decoder::ImageInfo> {
    decoder
        .info()
        .ok_or_else(|| PipelineError::InvalidImage("JPEG has no frame header".into()))
}

#[cfg(test)]
mod tests {
    use image::{Rgb, RgbImage};
    use photopipe::settings::{InputLimits, Rendition};

    use crate::inspect;
    use crate::test_support::{centre_of, encode_jpeg, near, one};

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
    fn over_budget_the_proof_reads_every_scan_by_the_dc_coefficients() {
        use photopipe::settings::MemoryBudget;

        use crate::decode::{Proof, prove};

        let image = RgbImage::from_fn(640, 480, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 60]));
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 85);
        encoder.set_progressive(true);
        encoder
            .encode(image.as_raw(), 640, 480, jpeg_encoder::ColorType::Rgb)
            .expect("encodes");
        let unlimited = InputLimits::default();
        let inspection = inspect(&progressive, &unlimited).expect("valid");
        assert_eq!(
            prove(&progressive, &inspection, &unlimited),
            Ok(Proof::Decoded)
        );
        // Every coefficient of a progressive 0.3 MP JPEG is 2 MB: with the decoders' slack,
        // over a 5 MB budget that the reduced decoder's few bytes a block still fit.
        let small = InputLimits {
            memory: Some(MemoryBudget {
                function_mb: 128,
                decode_bytes: 5 << 20,
            }),
            ..unlimited
        };
        let Ok(Proof::Streamed(over)) = prove(&progressive, &inspection, &small) else {
            panic!("not read scan by scan");
        };
        assert!(
            over.to_string()
                .starts_with("0.3 MP progressive JPEG needs about"),
            "{over}"
        );
        // Cut inside its AC scans, long after the DC ones: still found.
        let truncated = &progressive[..progressive.len() * 3 / 4];
        let error = prove(truncated, &inspection, &small).expect_err("truncated");
        assert_eq!(error.error_name(), "Photo.InvalidImage");
        // CMYK is not a layout the reduced decoder reads: accepted on its header.
        let cmyk = include_bytes!("../../../../samples/photos/cmyk.jpg");
        let inspection = inspect(cmyk, &unlimited).expect("valid");
        let none = InputLimits {
            memory: Some(MemoryBudget {
                function_mb: 128,
                decode_bytes: 0,
            }),
            ..unlimited
        };
        assert!(matches!(
            prove(cmyk, &inspection, &none),
            Ok(Proof::Header(_))
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
}
