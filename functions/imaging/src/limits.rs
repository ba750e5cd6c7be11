//! The first look at an upload, before any decoder: its size in bytes, its format, and the
//! dimensions its header claims, read straight from the header bytes and checked against
//! the input limits, so a decompression bomb is refused before a pixel is decoded. The
//! header is read from the whole original ([`inspect`]) or from the parts of it read so far
//! by range ([`inspect_partial`]), which says which bytes it needs next where those do not
//! hold the header.

use std::ops::Range;

use photopipe::format::ImageFormat;
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result};

use crate::format::{SNIFF_LEN, next_segment, sniff};
use crate::libheif::{self, PartialFailure};

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
    let (width, height) = header_dimensions(format, bytes).ok_or_else(|| malformed(format))?;
    checked(format, width, height, limits)
}

/// An original of which only some byte ranges have been read (by range, from S3): the
/// first bytes, and any other ranges [`inspect_partial`] asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    size: u64,
    /// Sorted, neither overlapping nor adjacent; the first starts at 0.
    parts: Vec<(u64, Vec<u8>)>,
}

impl Partial {
    /// An original of `size` bytes whose first bytes are `head`.
    pub fn new(size: u64, head: Vec<u8>) -> Self {
        Self {
            size,
            parts: vec![(0, head)],
        }
    }

    /// The original's size in bytes (not what is read of it).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The bytes read from its start on, without a gap.
    pub fn head(&self) -> &[u8] {
        &self.parts[0].1
    }

    /// The bytes read from its start on, without a gap.
    pub fn into_head(mut self) -> Vec<u8> {
        self.parts.swap_remove(0).1
    }

    /// How many of its bytes are read, in all.
    pub fn read(&self) -> u64 {
        self.parts.iter().map(|(_, bytes)| bytes.len() as u64).sum()
    }

    /// Adds the bytes read at offset `at` (cut to the original's size), merged with the
    /// parts they overlap or touch.
    pub fn insert(&mut self, at: u64, mut bytes: Vec<u8>) {
        bytes.truncate(self.size.saturating_sub(at) as usize);
        let mut merged = (at, bytes);
        let mut kept = Vec::with_capacity(self.parts.len() + 1);
        for part in std::mem::take(&mut self.parts) {
            let (start, end) = (part.0, part.0 + part.1.len() as u64);
            let (m_start, m_end) = (merged.0, merged.0 + merged.1.len() as u64);
            if end < m_start || m_end < start {
                kept.push(part);
                continue;
            }
            // Overlapping or touching: one part over both, the earlier bytes kept.
            let start_all = start.min(m_start);
            let mut all = vec![0; (end.max(m_end) - start_all) as usize];
            let mut put = |(at, bytes): &(u64, Vec<u8>)| {
                let from = (*at - start_all) as usize;
                all[from..from + bytes.len()].copy_from_slice(bytes);
            };
            put(&merged);
            put(&part);
            merged = (start_all, all);
        }
        kept.push(merged);
        kept.sort_by_key(|(at, _)| *at);
        self.parts = kept;
    }

    /// Fills `buf` from offset `at`; false where any of those bytes are not read.
    pub(crate) fn read_at(&self, at: u64, buf: &mut [u8]) -> bool {
        let end = at + buf.len() as u64;
        self.parts.iter().any(|(start, bytes)| {
            let part_end = start + bytes.len() as u64;
            if *start <= at && end <= part_end {
                let from = (at - start) as usize;
                buf.copy_from_slice(&bytes[from..from + buf.len()]);
                true
            } else {
                false
            }
        })
    }
}

/// What the bytes read so far tell of an original's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// Its format and dimensions, within the limits.
    Inspected(Inspection),
    /// Its header goes on beyond what is read: these bytes are needed next (a JPEG's frame
    /// header after large metadata segments, a HEIC's `meta` box after its image data).
    Needs(Range<u64>),
}

/// [`inspect`] from the parts of an original read so far: refuses what is not an image,
/// or is too large or a decompression bomb, from them alone, or says which bytes it needs
/// next where they do not hold the header.
pub fn inspect_partial(partial: &Partial, limits: &InputLimits) -> Result<Header> {
    limits.check_size(partial.size)?;
    let head = partial.head();
    let format = sniff(&head[..head.len().min(SNIFF_LEN)])?;
    let whole = head.len() as u64 >= partial.size;
    let dimensions = match format {
        ImageFormat::Heif if !whole => match libheif::dimensions_of_partial(partial) {
            Ok(dimensions) => Some(dimensions),
            Err(PartialFailure::Missing(range)) => return Ok(Header::Needs(range)),
            Err(PartialFailure::Failed) => return Err(malformed(format)),
        },
        _ => header_dimensions(format, head),
    };
    match dimensions {
        Some((width, height)) => checked(format, width, height, limits).map(Header::Inspected),
        None if whole => Err(malformed(format)),
        // A header cut short: the next bytes, as many again as are read (a JPEG's segments
        // are at most 64 KiB each).
        None => {
            let from = head.len() as u64;
            Ok(Header::Needs(from..(from * 2).min(partial.size)))
        }
    }
}

fn malformed(format: ImageFormat) -> PipelineError {
    PipelineError::InvalidImage(format!(
        "{} header is truncated or malformed",
        format.name()
    ))
}

/// The header's dimensions checked against the limits.
fn checked(
    format: ImageFormat,
    width: u32,
    height: u32,
    limits: &InputLimits,
) -> Result<Inspection> {
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
    fn a_partial_original_merges_what_is_read_and_serves_only_that() {
        let mut partial = Partial::new(100, vec![1; 10]);
        partial.insert(50, vec![2; 10]);
        partial.insert(200, vec![9; 5]);
        assert_eq!(
            partial.read(),
            20,
            "nothing kept beyond the original's size"
        );
        let mut buf = [0; 5];
        assert!(partial.read_at(52, &mut buf));
        assert_eq!(buf, [2; 5]);
        assert!(!partial.read_at(8, &mut buf), "bytes 10..13 are not read");
        // Touching the head on one side and the other part on the other: one part.
        partial.insert(10, vec![3; 40]);
        assert_eq!(partial.head().len(), 60);
        assert_eq!(partial.read(), 60);
        assert!(partial.read_at(8, &mut buf));
        assert_eq!(buf, [1, 1, 3, 3, 3]);
        assert_eq!(partial.clone().into_head()[48..52], [3, 3, 2, 2]);
    }

    /// A JPEG of `width`×`height` with `segments` APP2 segments of 64 KiB before its frame
    /// header, as a large ICC profile is carried.
    fn jpeg_after_metadata(width: u32, height: u32, segments: usize) -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(width, height, Rgb([9, 9, 9])));
        let mut jpeg = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .expect("encodes");
        let mut out = jpeg[..2].to_vec();
        for _ in 0..segments {
            out.extend_from_slice(&[0xFF, 0xE2, 0xFF, 0xFF]);
            out.extend(std::iter::repeat_n(0x55, 0xFFFF - 2));
        }
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn a_jpeg_frame_header_after_large_metadata_is_read_from_the_next_range() {
        let jpeg = jpeg_after_metadata(123, 45, 6);
        let size = jpeg.len() as u64;
        let limits = InputLimits::default();
        let mut partial = Partial::new(size, jpeg[..256 << 10].to_vec());
        let Ok(Header::Needs(range)) = inspect_partial(&partial, &limits) else {
            panic!("the frame header is past 384 KiB of APP2 segments");
        };
        assert_eq!(range, (256 << 10)..size.min(512 << 10));
        partial.insert(
            range.start,
            jpeg[range.start as usize..range.end as usize].to_vec(),
        );
        assert_eq!(
            inspect_partial(&partial, &limits),
            Ok(Header::Inspected(Inspection {
                format: ImageFormat::Jpeg,
                width: 123,
                height: 45
            }))
        );
        // The same from the whole file, and one cut short in its metadata is malformed.
        assert_eq!(inspect(&jpeg, &limits).map(|i| i.width), Ok(123));
        assert_eq!(
            inspect(&jpeg[..300 << 10], &limits),
            Err(PipelineError::InvalidImage(
                "JPEG header is truncated or malformed".into()
            ))
        );
    }

    #[test]
    fn a_bomb_or_a_non_image_is_refused_from_the_first_range_of_a_large_file() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&60000u32.to_be_bytes());
        png.extend_from_slice(&60000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0]);
        let limits = InputLimits {
            max_bytes: 5 << 30,
            ..InputLimits::default()
        };
        let partial = Partial::new(3_000_000_000, png);
        assert_eq!(
            inspect_partial(&partial, &limits),
            Err(PipelineError::InvalidImage(
                "PNG header claims 60000×60000 = 3600 MP, limit 100 MP".into()
            ))
        );
        let mut mp4 = 24u32.to_be_bytes().to_vec();
        mp4.extend_from_slice(b"ftypisom\0\0\x02\0isommp41");
        let error = inspect_partial(&Partial::new(3_000_000_000, mp4), &limits)
            .expect_err("a video is no image");
        assert_eq!(error.error_name(), "Photo.InvalidImage");
        let too_big = inspect_partial(&Partial::new(6 << 30, vec![0xFF, 0xD8, 0xFF]), &limits);
        assert_eq!(
            too_big,
            Err(PipelineError::InvalidImage(format!(
                "file is {} bytes, limit {} bytes",
                6u64 << 30,
                5u64 << 30
            )))
        );
    }

    /// A HEIC fixture rewritten as `ftyp`, `mdat`, `meta` (its `meta` box at the end, as
    /// some writers put it) with every byte of its image data at the offset it had, so its
    /// `iloc` still points at it; `padding` bytes after the image data.
    fn heic_with_meta_at_end(name: &str, padding: usize) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name);
        let heic = std::fs::read(path).expect("fixture");
        let box_size =
            |at: usize| u32::from_be_bytes(heic[at..at + 4].try_into().expect("4")) as usize;
        let ftyp = box_size(0);
        let meta = ftyp..ftyp + box_size(ftyp);
        assert_eq!(&heic[meta.start + 4..meta.start + 8], b"meta");
        let mdat_size = heic.len() + padding - ftyp;
        let mut out = heic[..ftyp].to_vec();
        out.extend_from_slice(&(mdat_size as u32).to_be_bytes());
        out.extend_from_slice(b"mdat");
        out.resize(meta.end, 0);
        out.extend_from_slice(&heic[meta.end..]);
        out.resize(out.len() + padding, 0);
        out.extend_from_slice(&heic[meta]);
        out
    }

    #[test]
    fn a_heic_whose_meta_box_is_at_the_end_is_read_from_the_ranges_libheif_asks_for() {
        let limits = InputLimits::default();
        for (name, width, height) in [("grid.heic", 600, 400), ("large.heic", 4032, 3024)] {
            let heic = heic_with_meta_at_end(name, 1 << 20);
            assert_eq!(
                inspect(&heic, &limits).map(|i| (i.width, i.height)),
                Ok((width, height)),
                "{name}: libheif reads the rewritten file whole"
            );
            let mut partial = Partial::new(heic.len() as u64, heic[..256 << 10].to_vec());
            let mut asked = Vec::new();
            let inspection = loop {
                match inspect_partial(&partial, &limits).expect(name) {
                    Header::Inspected(inspection) => break inspection,
                    Header::Needs(range) => {
                        assert!(asked.len() < 4, "{name}: {asked:?}");
                        asked.push(range.clone());
                        let bytes = heic[range.start as usize..range.end as usize].to_vec();
                        partial.insert(range.start, bytes);
                    }
                }
            };
            assert_eq!(
                (inspection.width, inspection.height),
                (width, height),
                "{name}"
            );
            assert!(!asked.is_empty(), "{name}");
            assert!(
                partial.read() < 512 << 10,
                "{name}: read {} bytes",
                partial.read()
            );
        }
    }

    #[test]
    fn a_heic_whose_meta_box_is_at_the_start_is_read_from_its_first_bytes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/large.heic");
        let mut heic = std::fs::read(path).expect("fixture");
        // Its image data made to run on for a GB (only its first bytes are read).
        let mdat = 2831;
        assert_eq!(&heic[mdat + 4..mdat + 8], b"mdat");
        let size = 1u64 << 30;
        heic[mdat..mdat + 4].copy_from_slice(&((size as usize - mdat) as u32).to_be_bytes());
        // Its `meta` box is in its first 16 KiB, which are all that is read.
        let partial = Partial::new(size, heic[..16 << 10].to_vec());
        assert_eq!(
            inspect_partial(&partial, &InputLimits::default()),
            Ok(Header::Inspected(Inspection {
                format: ImageFormat::Heif,
                width: 4032,
                height: 3024
            }))
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
