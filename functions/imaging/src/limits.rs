//! The first look at an upload, before any decoder: its size in bytes, its format, and the
//! dimensions its header claims, read straight from the header bytes and checked against
//! the input limits, so a decompression bomb is refused before a pixel is decoded.

use photopipe::format::ImageFormat;
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result};

use crate::format::{SNIFF_LEN, next_segment, sniff};
use crate::libheif;

/// What the header says, checked against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspection {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// Sniffs the format and reads only the header's dimensions, rejecting decompression bombs
/// before a single pixel is decoded.
pub fn inspect(bytes: &[u8], limits: &InputLimits) -> Result<Inspection> {
    limits.check_size(bytes.len() as u64)?;
    let format = sniff(&bytes[..bytes.len().min(SNIFF_LEN)])?;
    let (width, height) = header_dimensions(format, bytes).ok_or_else(|| {
        PipelineError::InvalidImage(format!(
            "{} header is truncated or malformed",
            format.name()
        ))
    })?;
    if width == 0 || height == 0 {
        return Err(PipelineError::InvalidImage(format!(
            "{} header claims {width}×{height}",
            format.name()
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(PipelineError::InvalidImage(format!(
            "{} header claims {width}×{height} = {} MP, limit {} MP",
            format.name(),
            megapixels(pixels),
            megapixels(limits.max_pixels)
        )));
    }
    Ok(Inspection {
        format,
        width,
        height,
    })
}

/// Reads the dimensions straight from the header bytes, without a decoder: a hostile file
/// gets no further than this before its claimed size is checked.
fn header_dimensions(format: ImageFormat, bytes: &[u8]) -> Option<(u32, u32)> {
    let le16 = |at: usize| {
        Some(u32::from(u16::from_le_bytes(
            bytes.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let le24 = |at: usize| {
        let b = bytes.get(at..at + 3)?;
        Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
    };
    match format {
        ImageFormat::Png => {
            (bytes.get(12..16)? == b"IHDR").then_some(())?;
            let be32 =
                |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
            Some((be32(16)?, be32(20)?))
        }
        ImageFormat::Gif => Some((le16(6)?, le16(8)?)),
        ImageFormat::Webp => match bytes.get(12..16)? {
            b"VP8 " => {
                (bytes.get(23..26)? == [0x9d, 0x01, 0x2a]).then_some(())?;
                Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff))
            }
            b"VP8L" => {
                (*bytes.get(20)? == 0x2f).then_some(())?;
                let bits = u32::from_le_bytes(bytes.get(21..25)?.try_into().ok()?);
                Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
            }
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            _ => None,
        },
        ImageFormat::Heif => libheif::dimensions(bytes).ok(),
        ImageFormat::Jpeg => {
            // Walk the marker segments to the first start-of-frame.
            let mut at = 2;
            loop {
                let (marker, segment, next) = next_segment(bytes, at)?;
                let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
                if sof {
                    let be16 = |i: usize| {
                        Some(u32::from(u16::from_be_bytes([
                            *segment.get(i)?,
                            *segment.get(i + 1)?,
                        ])))
                    };
                    return Some((be16(3)?, be16(1)?));
                }
                if marker == 0xD9 || marker == 0xDA {
                    return None;
                }
                at = next;
            }
        }
    }
}

/// A pixel count in megapixels as the error messages show it: whole from 10 MP or when the
/// fraction is under 0.05, else to one decimal.
pub(crate) fn megapixels(pixels: u64) -> String {
    let mp = pixels as f64 / 1e6;
    if mp >= 10.0 || mp.fract() < 0.05 {
        format!("{mp:.0}")
    } else {
        format!("{mp:.1}")
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{DynamicImage, Rgb, RgbImage};

    use super::*;

    #[test]
    fn rejects_a_decompression_bomb_from_its_header() {
        // A valid 30000×30000 PNG header followed by nothing: rejected before decoding.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&30000u32.to_be_bytes());
        png.extend_from_slice(&30000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0]);
        let crc = crc32(&png[12..]);
        png.extend_from_slice(&crc.to_be_bytes());
        let err = inspect(&png, &InputLimits::default()).expect_err("bomb rejected");
        assert_eq!(
            err,
            PipelineError::InvalidImage(
                "PNG header claims 30000×30000 = 900 MP, limit 100 MP".into()
            )
        );
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn rejects_empty_and_oversized_files() {
        let limits = InputLimits {
            max_bytes: 10,
            max_pixels: 100,
            memory: None,
        };
        assert_eq!(
            inspect(&[], &limits),
            Err(PipelineError::InvalidImage("empty file".into()))
        );
        assert_eq!(
            inspect(&[0xFF; 11], &limits),
            Err(PipelineError::InvalidImage(
                "file is 11 bytes, limit 10 bytes".into()
            ))
        );
    }

    #[test]
    fn reads_dimensions_from_every_header() {
        let limits = InputLimits::default();
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(123, 45, Rgb([1, 2, 3])));
        for format in [
            image::ImageFormat::Png,
            image::ImageFormat::Gif,
            image::ImageFormat::Jpeg,
            image::ImageFormat::WebP,
        ] {
            let mut bytes = Vec::new();
            image
                .write_to(&mut Cursor::new(&mut bytes), format)
                .expect("encodes");
            let inspection = inspect(&bytes, &limits).expect("valid");
            assert_eq!(
                (inspection.width, inspection.height),
                (123, 45),
                "{format:?}"
            );
        }
    }
}
