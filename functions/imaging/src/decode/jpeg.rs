//! The JPEG path: the reduced decoder from the lowest coefficients where the renditions are
//! small enough, else jpeg-decoder with DCT scaling; Adobe CMYK becomes RGB.

use std::io::Cursor;

use image::{GrayImage, RgbImage};
use photopipe::{PipelineError, Result};

use super::jpeg_reduced::{self, Reduction};
use crate::colour::cmyk_to_rgb;
use crate::orientation::orientation;
use crate::pixels::{Decoded, Pixels};
use crate::plan::{DecodeFor, size_needed};

/// A JPEG at the smallest size `purpose` needs: from its lowest coefficients where that
/// suffices, else through jpeg-decoder, DCT-scaled.
pub(crate) fn decode(bytes: &[u8], purpose: DecodeFor<'_>) -> Result<Decoded> {
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
