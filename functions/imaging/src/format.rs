//! Recognising an image by its bytes, the file name playing no part: magic numbers, the
//! brands of an ISO-BMFF `ftyp` box, and the walk over JPEG marker segments that both the
//! header reader and the reduced JPEG decoder make; and which of the image crate's decoders
//! serves a format.

use photopipe::format::ImageFormat;
use photopipe::{PipelineError, Result};

/// The image crate's decoder for the formats it decodes for us.
pub(crate) fn codec(format: ImageFormat) -> Option<image::ImageFormat> {
    match format {
        ImageFormat::Jpeg => Some(image::ImageFormat::Jpeg),
        ImageFormat::Png => Some(image::ImageFormat::Png),
        ImageFormat::Webp => Some(image::ImageFormat::WebP),
        ImageFormat::Gif => Some(image::ImageFormat::Gif),
        ImageFormat::Heif => None,
    }
}

/// How many leading bytes [`sniff`] needs at most.
pub const SNIFF_LEN: usize = 32;

/// Recognises the format from the first bytes; the file name plays no part.
pub fn sniff(head: &[u8]) -> Result<ImageFormat> {
    if head.is_empty() {
        return Err(PipelineError::InvalidImage("empty file".into()));
    }
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageFormat::Jpeg);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Ok(ImageFormat::Png);
    }
    if starts(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        return Ok(ImageFormat::Webp);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Ok(ImageFormat::Gif);
    }
    if head.get(4..8) == Some(b"ftyp") {
        if let Some(format) = sniff_ftyp(head)? {
            return Ok(format);
        }
        let brand = String::from_utf8_lossy(head.get(8..12).unwrap_or_default());
        return Err(PipelineError::InvalidImage(format!(
            "not a JPEG, PNG, WebP, GIF or HEIC image: an ISO media file of brand {brand:?} \
             (a video such as MP4 or QuickTime, or audio)"
        )));
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Err(PipelineError::UnsupportedFormat(
            "TIFF images are not supported; convert to JPEG or PNG".into(),
        ));
    }
    if starts(b"BM") && head.len() >= 14 {
        return Err(PipelineError::UnsupportedFormat(
            "BMP images are not supported; convert to PNG".into(),
        ));
    }
    let shown = &head[..head.len().min(8)];
    Err(PipelineError::InvalidImage(format!(
        "not a JPEG, PNG, WebP, GIF or HEIC image (first bytes {})",
        hex::encode(shown)
    )))
}

/// An ISO-BMFF file by its `ftyp` brands: HEVC-coded HEIF is ours, AVIF is recognised and
/// refused (no AV1 decoder is built), anything else (MP4, QuickTime…) is not an image.
/// `mif1`/`msf1` only say "HEIF", so the compatible brands that follow decide.
fn sniff_ftyp(head: &[u8]) -> Result<Option<ImageFormat>> {
    const HEVC: [&[u8; 4]; 6] = [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"];
    const AV1: [&[u8; 4]; 2] = [b"avif", b"avis"];
    let box_len = head.get(..4).map_or(0, |len| {
        u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize
    });
    let brands: Vec<&[u8]> = std::iter::once(8..12)
        .chain(
            (16..box_len.min(head.len()))
                .step_by(4)
                .map(|at| at..at + 4),
        )
        .filter_map(|range| head.get(range))
        .collect();
    let has = |set: &[&[u8; 4]]| brands.iter().any(|brand| set.iter().any(|b| b == brand));
    let major = brands.first().copied().unwrap_or_default();
    if AV1.iter().any(|b| *b == major) || (!has(&HEVC) && has(&AV1)) {
        return Err(PipelineError::UnsupportedFormat(
            "AVIF images are not supported; convert to JPEG or WebP".into(),
        ));
    }
    let heif = HEVC.iter().any(|b| *b == major) || matches!(major, b"mif1" | b"msf1");
    Ok(heif.then_some(ImageFormat::Heif))
}

/// The JPEG marker segment at or after `at`: its marker, its payload (empty for a standalone
/// marker such as RSTn or EOI) and where the next one may start.
pub(crate) fn next_segment(bytes: &[u8], mut at: usize) -> Option<(u8, &[u8], usize)> {
    while *bytes.get(at)? != 0xFF {
        at += 1;
    }
    while *bytes.get(at)? == 0xFF {
        at += 1;
    }
    let marker = *bytes.get(at)?;
    at += 1;
    if matches!(marker, 0x00 | 0x01 | 0xD0..=0xD9) {
        return Some((marker, &[], at));
    }
    let length = usize::from(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]));
    let segment = bytes.get(at + 2..at + length)?;
    Some((marker, segment, at + length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_not_name() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Ok(ImageFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Ok(ImageFormat::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(ImageFormat::Webp));
        assert_eq!(sniff(b"GIF89a.."), Ok(ImageFormat::Gif));
        assert_eq!(
            sniff(b""),
            Err(PipelineError::InvalidImage("empty file".into()))
        );
        let text = sniff(b"hello, I am a text file").expect_err("text is rejected");
        assert_eq!(
            text,
            PipelineError::InvalidImage(
                "not a JPEG, PNG, WebP, GIF or HEIC image (first bytes 68656c6c6f2c2049)".into()
            )
        );
        let tiff = sniff(b"II*\0\x08\0\0\0").expect_err("tiff is rejected");
        assert_eq!(tiff.error_name(), "Photo.UnsupportedFormat");
    }

    #[test]
    fn heif_is_told_apart_from_avif_and_other_iso_media_by_its_brands() {
        let ftyp = |brands: &[&[u8; 4]]| {
            let mut head = ((16 + 4 * (brands.len() - 1)) as u32)
                .to_be_bytes()
                .to_vec();
            head.extend_from_slice(b"ftyp");
            head.extend_from_slice(brands[0]);
            head.extend_from_slice(&[0, 0, 0, 0]);
            for brand in &brands[1..] {
                head.extend_from_slice(*brand);
            }
            sniff(&head)
        };
        assert_eq!(ftyp(&[b"heic", b"mif1", b"heic"]), Ok(ImageFormat::Heif));
        assert_eq!(ftyp(&[b"mif1", b"mif1", b"heic"]), Ok(ImageFormat::Heif));
        assert_eq!(ftyp(&[b"heix", b"mif1"]), Ok(ImageFormat::Heif));
        for avif in [
            ftyp(&[b"avif", b"mif1", b"miaf"]),
            ftyp(&[b"mif1", b"avif", b"miaf"]),
        ] {
            let error = avif.expect_err("AVIF is refused");
            assert_eq!(error.error_name(), "Photo.UnsupportedFormat");
            assert!(error.to_string().contains("AVIF"), "{error}");
        }
        let mp4 = ftyp(&[b"isom", b"iso2", b"mp41"]).expect_err("a video is no image");
        assert_eq!(
            mp4,
            PipelineError::InvalidImage(
                "not a JPEG, PNG, WebP, GIF or HEIC image: an ISO media file of brand \"isom\" \
                 (a video such as MP4 or QuickTime, or audio)"
                    .into()
            )
        );
    }
}
