//! A 1/8-, 1/4- or 1/2-scale JPEG decode from the lowest coefficients alone.
//!
//! At 1/8 scale each 8×8 block becomes one pixel whose value is the block's DC coefficient
//! (the IDCT of a DC-only block is `DC × Q₀ / 8 + 128`), so nothing but the DC coefficients
//! needs decoding. A progressive JPEG stores them in its first scans, ahead of the AC scans
//! that make up most of the file: those are skipped byte-wise. In a baseline JPEG the AC
//! coefficients sit between the DC ones: their Huffman codes are read to find the next block,
//! but nothing is dequantised, transformed or stored. The result is the image a full 1/8
//! decode gives, for a fraction of the work.
//!
//! At 1/4 (1/2) scale each luma block becomes 2×2 (4×4) pixels: the means over its parts of
//! the block band-limited to its lowest 2×2 (4×4) frequencies. Those coefficients come first
//! in a block's zigzag order, so they are read up to the last of them and the rest are
//! skipped as at 1/8. A block mean alone (the 1/8 image) aliases fine texture when the
//! Lanczos pass has little left to shrink; these coefficients keep it, as a full DCT-scaled
//! decode does. Chroma is read at half luma's scale, 1/8 at most (a thumbnail's own JPEG
//! subsamples it), which keeps most of the speed. Only sequential (baseline) JPEGs are read
//! at 1/4 and 1/2: a progressive one spreads its AC coefficients over refinement scans.
//!
//! The planes come out at their own resolutions; the resize upsamples chroma and converts to
//! RGB at the rendition's size.
//!
//! It handles 8-bit greyscale and YCbCr (JFIF) images; for anything else (CMYK, RGB-coded,
//! arithmetic coding, 12-bit, corrupt data) it answers `None` and the caller decodes
//! normally.

mod bits;
mod huffman;
mod idct;
mod markers;
mod scan;

use image::GrayImage;

use self::huffman::Tables;
use self::idct::block_levels;
use self::markers::{Component, frame, huffman_tables, quant_tables};
use self::scan::decode_scan;
use crate::format::next_segment;
use crate::pixels::{Pixels, YCbCrPlanes};

/// How far [`decode`] reduces the image, and so which coefficients it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reduction {
    /// 1/8: one pixel per block, from its DC coefficient.
    Eighth,
    /// 1/4: 2×2 luma pixels per block from its lowest 2×2 frequencies; chroma at 1/8.
    Quarter,
    /// 1/2: 4×4 luma pixels per block from its lowest 4×4 frequencies; chroma at 1/4.
    Half,
}

impl Reduction {
    /// Luma levels across (and down) per block.
    pub(crate) fn samples(self) -> usize {
        match self {
            Self::Eighth => 1,
            Self::Quarter => 2,
            Self::Half => 4,
        }
    }
}

/// The reduced image of a JPEG, or `None` when this decoder does not handle it.
pub(crate) fn decode(bytes: &[u8], reduction: Reduction) -> Option<Pixels> {
    read(bytes, reduction, false)
}

/// Whether every scan of a JPEG this decoder handles (see [`supports`]) reads to the end
/// of the image: a baseline JPEG's every Huffman code, a progressive one's DC scans and the
/// structure of its AC scans, up to the end-of-image marker. validate's proof for a JPEG
/// whose full decode does not fit in memory: it needs a few bytes a block.
pub(crate) fn reads_to_the_end(bytes: &[u8]) -> bool {
    read(bytes, Reduction::Eighth, true).is_some()
}

/// Whether this decoder handles the layout the header describes at `reduction` (8-bit
/// Huffman-coded greyscale or YCbCr with luma the finest plane, progressive only at 1/8),
/// so that it declines such a JPEG only for its data. Reads the segments up to the first
/// scan, allocating nothing.
pub(crate) fn supports(bytes: &[u8], reduction: Reduction) -> bool {
    let (mut components, mut adobe_transform) = (None, None);
    let mut at = 2;
    while let Some((marker, segment, next)) = next_segment(bytes, at) {
        match marker {
            0xC0..=0xC2 if components.is_none() => {
                let progressive = marker == 0xC2;
                if segment.first() != Some(&8) || (progressive && reduction != Reduction::Eighth) {
                    return false;
                }
                match frame(segment, reduction.samples()) {
                    Some((_, _, found)) if planar(&found) => components = Some(found.len()),
                    _ => return false,
                }
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return false,
            0xEE if segment.starts_with(b"Adobe") => adobe_transform = segment.get(11).copied(),
            0xDA | 0xD9 => break,
            _ => {}
        }
        at = next;
    }
    // Three components stored as RGB (Adobe transform 0) are not YCbCr.
    matches!(components, Some(count) if !(count == 3 && adobe_transform == Some(0)))
}

/// Reads the coefficients `reduction` needs and makes the reduced image: up to the scan
/// that completes every DC coefficient, or, `to_the_end`, through every scan to the
/// end-of-image marker.
fn read(bytes: &[u8], reduction: Reduction, to_the_end: bool) -> Option<Pixels> {
    // Per table, the quantisation steps in natural order.
    let mut quant = [[0u16; 64]; 4];
    let mut tables = Tables::default();
    let mut components: Vec<Component> = Vec::new();
    let (mut width, mut height, mut restart_interval) = (0usize, 0usize, 0usize);
    let mut adobe_transform = None;
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut at = 2;
    loop {
        let (marker, segment, next) = next_segment(bytes, at)?;
        if marker == 0xD9 || marker == 0x00 || (0xD0..=0xD7).contains(&marker) {
            // To the end is to the end-of-image marker, not to a stray one.
            if to_the_end && marker != 0xD9 {
                return None;
            }
            break;
        }
        at = next;
        match marker {
            // Baseline, extended and progressive Huffman frames; nothing else.
            0xC0..=0xC2 => {
                if segment[0] != 8 || !components.is_empty() {
                    return None;
                }
                if marker == 0xC2 && reduction != Reduction::Eighth {
                    return None;
                }
                (width, height, components) = frame(segment, reduction.samples())?;
                for component in &mut components {
                    let stride = component.samples * component.samples;
                    component.coefficients =
                        vec![0; component.blocks_w * component.blocks_h * stride];
                }
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xC4 => huffman_tables(segment, &mut tables)?,
            0xDB => quant_tables(segment, &mut quant)?,
            0xDD => {
                restart_interval =
                    usize::from(u16::from_be_bytes([*segment.first()?, *segment.get(1)?]))
            }
            0xEE if segment.starts_with(b"Adobe") => adobe_transform = segment.get(11).copied(),
            0xDA => {
                if components.is_empty() {
                    return None;
                }
                at = decode_scan(
                    bytes,
                    at,
                    segment,
                    &mut components,
                    &tables,
                    restart_interval,
                )?;
                if !to_the_end && components.iter().all(|c| c.dc_precision == Some(0)) {
                    break;
                }
            }
            _ => {}
        }
    }
    // Not every DC bit arrived: a truncated file. Let the full decoder judge it.
    if components.is_empty() || components.iter().any(|c| c.dc_precision != Some(0)) {
        return None;
    }
    if components.len() == 3 && adobe_transform == Some(0) {
        return None; // RGB stored as is, not YCbCr.
    }
    pixels(&components, &quant, width, height)
}

/// Turns the stored coefficients into the reduced image of a `width`×`height` JPEG: a grey
/// plane, or the three YCbCr planes at their own resolutions (`None` for a sampling where
/// luma is not the finest or the chroma planes differ, which the full decoder handles).
fn pixels(
    components: &[Component],
    quant: &[[u16; 64]; 4],
    width: usize,
    height: usize,
) -> Option<Pixels> {
    let h_max = components.iter().map(|c| c.h).max()?;
    let v_max = components.iter().map(|c| c.v).max()?;
    let plane = |c: &Component| -> Option<GrayImage> {
        let (mut levels, levels_w) = block_levels(c, &quant[c.quant_table]);
        // The component's own size, reduced; the levels beyond it are padding.
        let w = ((width * c.h).div_ceil(h_max) * c.samples).div_ceil(8);
        let h = ((height * c.v).div_ceil(v_max) * c.samples).div_ceil(8);
        if levels_w != w {
            levels = levels
                .chunks_exact(levels_w)
                .take(h)
                .flat_map(|row| &row[..w])
                .copied()
                .collect();
        }
        levels.truncate(w * h);
        GrayImage::from_raw(w as u32, h as u32, levels)
    };
    if !planar(components) {
        return None;
    }
    match components {
        [luma] => Some(Pixels::Gray(plane(luma)?)),
        [luma, cb, cr] => {
            let scale = |chroma: usize, max: usize| {
                (chroma * cb.samples) as f64 / (max * luma.samples) as f64
            };
            let chroma_scale = (scale(cb.h, h_max), scale(cb.v, v_max));
            Some(Pixels::YCbCr(YCbCrPlanes {
                luma: plane(luma)?,
                cb: plane(cb)?,
                cr: plane(cr)?,
                chroma_scale,
            }))
        }
        _ => None,
    }
}

/// Whether the components make planes [`pixels`] hands over: one grey plane, or luma the
/// finest of three with the two chroma planes sampled alike.
fn planar(components: &[Component]) -> bool {
    match components {
        [_] => true,
        [luma, cb, cr] => {
            let finest = components.iter().all(|c| c.h <= luma.h && c.v <= luma.v);
            finest && (cb.h, cb.v) == (cr.h, cr.v)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use crate::resize::resize;
    use image::RgbImage;
    use jpeg_encoder::SamplingFactor;

    /// jpeg-decoder's own DCT-scaled decode, the reference. Its 1/4 scale uses the same four
    /// coefficients, as a 2-point IDCT rather than quarter means.
    fn reference(jpeg: &[u8], reduction: Reduction) -> (u32, u32, Vec<u8>) {
        let mut decoder = jpeg_decoder::Decoder::new(jpeg);
        decoder.read_info().expect("header");
        let info = decoder.info().expect("info");
        let smallest = |v: u16| (usize::from(v) * reduction.samples()).div_ceil(8) as u16;
        decoder
            .scale(smallest(info.width), smallest(info.height))
            .expect("scale");
        let pixels = decoder.decode().expect("decodes");
        let info = decoder.info().expect("info");
        (u32::from(info.width), u32::from(info.height), pixels)
    }

    fn assert_matches_reference(jpeg: &[u8], reduction: Reduction, what: &str) {
        let (width, height, expected) = reference(jpeg, reduction);
        let decoded = decode(jpeg, reduction);
        let actual = match decoded.unwrap_or_else(|| panic!("{what}: not decoded")) {
            Pixels::Gray(gray) => {
                assert_eq!(gray.dimensions(), (width, height), "{what}");
                gray.into_raw()
            }
            Pixels::Rgb(_) => panic!("{what}: RGB, not planes"),
            Pixels::YCbCr(planes) => {
                // The chroma upsampled as a rendition of the full reduced size does it.
                assert_eq!(planes.luma.dimensions(), (width, height), "{what}");
                let whole = Plan {
                    crop: (0.0, 0.0, f64::from(width), f64::from(height)),
                    size: (width, height),
                };
                let rgb = resize(&Pixels::YCbCr(planes), &whole).expect("resizes");
                rgb.into_rgb8().into_raw()
            }
        };
        assert_eq!(actual.len(), expected.len(), "{what}");
        let total: u64 = actual
            .iter()
            .zip(&expected)
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        let mean = total as f64 / actual.len() as f64;
        // Not identical: jpeg-decoder upsamples chroma linearly (here the rendition's Lanczos
        // does), and at 1/4 it reads chroma's AC too and is a 2-point IDCT, weighting the
        // first AC 1/8 where the quarter means weight it 0.113.
        assert!(
            mean < 2.5,
            "{what}: mean difference {mean:.2} from a full {reduction:?} decode"
        );
    }

    /// A smooth, colourful test image.
    fn scene(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([
                (x * 255 / width) as u8,
                (y * 255 / height) as u8,
                ((x + y) * 255 / (width + height)) as u8,
            ])
        })
    }

    fn encoded(
        image: &RgbImage,
        progressive: bool,
        sampling: SamplingFactor,
        restart: Option<u16>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
        encoder.set_progressive(progressive);
        encoder.set_sampling_factor(sampling);
        if let Some(interval) = restart {
            encoder.set_restart_interval(interval);
        }
        let (w, h) = (image.width() as u16, image.height() as u16);
        encoder
            .encode(image.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
            .expect("encodes");
        out
    }

    #[test]
    fn matches_a_full_eighth_scale_decode() {
        let image = scene(203, 117);
        for progressive in [true, false] {
            for sampling in [
                SamplingFactor::F_1_1,
                SamplingFactor::F_2_2,
                SamplingFactor::F_2_1,
            ] {
                for restart in [None, Some(3)] {
                    let what =
                        format!("progressive {progressive} {sampling:?} restart {restart:?}");
                    let jpeg = encoded(&image, progressive, sampling, restart);
                    assert_matches_reference(&jpeg, Reduction::Eighth, &what);
                }
            }
        }
        let meadow = include_bytes!("../../../../../samples/photos/My Trip/green meadow.jpg");
        let what = "green meadow (libjpeg, progressive)";
        assert_matches_reference(meadow, Reduction::Eighth, what);
        let hopper = include_bytes!("../../../../../samples/photos/hopper-rotated.jpg");
        assert_matches_reference(hopper, Reduction::Eighth, "hopper (libjpeg, baseline)");
    }

    #[test]
    fn matches_full_quarter_and_half_scale_decodes() {
        // Smooth, so the reduced IDCTs and the part means agree; the layout, sampling and
        // restarts are what is checked here (the texture test checks the AC arithmetic).
        let image = scene(203, 117);
        for sampling in [
            SamplingFactor::F_1_1,
            SamplingFactor::F_2_2,
            SamplingFactor::F_2_1,
        ] {
            for restart in [None, Some(3)] {
                let jpeg = encoded(&image, false, sampling, restart);
                for reduction in [Reduction::Quarter, Reduction::Half] {
                    let what = format!("baseline {sampling:?} restart {restart:?} {reduction:?}");
                    assert_matches_reference(&jpeg, reduction, &what);
                }
            }
        }
    }

    #[test]
    fn quarter_and_half_keep_texture_a_block_mean_loses() {
        // Vertical stripes 4 px wide: every 8-px block holds one light and one dark stripe,
        // so its mean is flat grey, while its halves are light and dark.
        let stripes = GrayImage::from_fn(64, 32, |x, _| {
            image::Luma([if (x / 4) % 2 == 0 { 40 } else { 210 }])
        });
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 95)
            .encode(stripes.as_raw(), 64, 32, jpeg_encoder::ColorType::Luma)
            .expect("encodes");
        let spread = |reduction| match decode(&jpeg, reduction) {
            Some(Pixels::Gray(gray)) => {
                let (low, high) = gray
                    .pixels()
                    .fold((255, 0), |(lo, hi), p| (p.0[0].min(lo), p.0[0].max(hi)));
                high - low
            }
            other => panic!("{reduction:?}: {other:?}"),
        };
        assert!(spread(Reduction::Eighth) < 8, "block means are flat");
        // The halves of the block restricted to its first frequency: 125 ± 85 × 2Σb₁ × b̄₁
        // ≈ 125 ± 69.8, where b₁ is the orthonormal first cosine and Σ and mean run over a
        // half. (The unrestricted halves would be 40 and 210.)
        let Some(Pixels::Gray(quarter)) = decode(&jpeg, Reduction::Quarter) else {
            panic!("not decoded");
        };
        // C(1)/2 times the mean of cos((2x+1)π/16) over x in 0..4.
        let half_mean = 0.5 * 0.640_728;
        let swing = 85.0 * 2.0 * (4.0 * half_mean) * half_mean;
        for (x, _, level) in quarter.enumerate_pixels() {
            let expected = if x % 2 == 0 {
                125.0 - swing
            } else {
                125.0 + swing
            };
            let level = f32::from(level.0[0]);
            assert!(
                (level - expected).abs() < 4.0,
                "column {x}: {level}, expected {expected:.1}"
            );
        }
        // At 1/2, the pairs of pixels' means of the stripes projected on the orthonormal
        // cosines of frequencies 0–3.
        let cosine = |u: usize, x: usize| {
            let c = if u == 0 {
                (1.0f64 / 8.0).sqrt()
            } else {
                (2.0f64 / 8.0).sqrt()
            };
            c * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos()
        };
        let row = |x: usize| f64::from(stripes.get_pixel(x as u32, 0).0[0]);
        let expected: Vec<f64> = (0..4)
            .map(|pair| {
                (0..4)
                    .map(|u| {
                        let weight: f64 = (0..8).map(|x| row(x) * cosine(u, x)).sum();
                        weight * (cosine(u, 2 * pair) + cosine(u, 2 * pair + 1)) / 2.0
                    })
                    .sum()
            })
            .collect();
        let Some(Pixels::Gray(half)) = decode(&jpeg, Reduction::Half) else {
            panic!("not decoded");
        };
        for (x, _, level) in half.enumerate_pixels() {
            let expected = expected[x as usize % 4];
            let level = f64::from(level.0[0]);
            assert!(
                (level - expected).abs() < 4.0,
                "1/2, column {x}: {level}, expected {expected:.1}"
            );
        }
    }

    #[test]
    fn greyscale() {
        let grey = GrayImage::from_fn(99, 64, |x, y| image::Luma([((x * 2 + y) % 256) as u8]));
        for progressive in [true, false] {
            let mut out = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
            encoder.set_progressive(progressive);
            encoder
                .encode(grey.as_raw(), 99, 64, jpeg_encoder::ColorType::Luma)
                .expect("encodes");
            let what = format!("greyscale, progressive {progressive}");
            assert_matches_reference(&out, Reduction::Eighth, &what);
            if !progressive {
                assert_matches_reference(&out, Reduction::Quarter, &what);
                assert_matches_reference(&out, Reduction::Half, &what);
            }
        }
    }

    #[test]
    fn declines_what_it_does_not_handle() {
        let cmyk = include_bytes!("../../../../../samples/photos/cmyk.jpg");
        assert!(
            decode(cmyk, Reduction::Eighth).is_none(),
            "CMYK goes to the full decoder"
        );
        let progressive = encoded(&scene(64, 64), true, SamplingFactor::F_2_2, None);
        for reduction in [Reduction::Quarter, Reduction::Half] {
            assert!(
                decode(&progressive, reduction).is_none(),
                "{reduction:?}: its AC coefficients are in refinement scans"
            );
        }
        for progressive in [true, false] {
            let full = encoded(&scene(64, 64), progressive, SamplingFactor::F_2_2, None);
            assert!(
                decode(&full[..full.len() / 2], Reduction::Eighth).is_none(),
                "truncated, progressive {progressive}"
            );
        }
        assert!(decode(b"not a jpeg", Reduction::Eighth).is_none());
    }
}
