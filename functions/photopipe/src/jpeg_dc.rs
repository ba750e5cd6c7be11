//! A 1/8-scale JPEG decode from the DC coefficients alone.
//!
//! At 1/8 scale each 8×8 block becomes one pixel whose value is the block's DC coefficient
//! (the IDCT of a DC-only block is `DC × Q₀ / 8 + 128`), so nothing but the DC coefficients
//! needs decoding. A progressive JPEG stores them in its first scans, ahead of the AC scans
//! that make up most of the file: those are skipped byte-wise. In a baseline JPEG the AC
//! coefficients sit between the DC ones: their Huffman codes are read to find the next block,
//! but nothing is dequantised, transformed or stored. The result is the image a full 1/8
//! decode gives, for a fraction of the work. It handles 8-bit greyscale and YCbCr (JFIF)
//! images; for anything else (CMYK, RGB-coded, arithmetic coding, 12-bit, corrupt data) it
//! answers `None` and the caller decodes normally.

use image::{GrayImage, RgbImage};

use crate::imaging::Pixels;

/// One image component as the frame header describes it.
#[derive(Debug, Clone)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant_table: usize,
    /// Blocks across and down, padded to whole MCUs.
    blocks_w: usize,
    blocks_h: usize,
    /// Blocks across and down that hold image data.
    real_w: usize,
    real_h: usize,
    /// DC coefficients, row-major over the padded blocks.
    dc: Vec<i32>,
    /// The successive-approximation bit position reached so far (`None`: no DC scan yet).
    dc_precision: Option<u8>,
}

/// Bits of code looked up at once; longer codes take the slow path.
const LOOKAHEAD: u32 = 10;

/// A Huffman table: a lookup of the codes up to [`LOOKAHEAD`] bits long, and `DECODE` of
/// ITU T.81 F.2.2.3 for the longer ones.
#[derive(Debug, Clone)]
struct Huffman {
    /// `length << 8 | symbol` by the next `LOOKAHEAD` bits; 0 for a longer code.
    fast: Vec<u16>,
    /// For skipping AC coefficients, by the next `LOOKAHEAD` bits: `bits << 8 | step`, where
    /// `bits` is the code's length plus its value's, and `step` how many coefficients it
    /// covers (0: end of block); 0 for a longer code. Empty in a DC table.
    skip: Vec<u16>,
    max_code: [i32; 17],
    val_offset: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>, ac: bool) -> Option<Self> {
        let mut table = Self {
            fast: vec![0; 1 << LOOKAHEAD],
            skip: if ac {
                vec![0; 1 << LOOKAHEAD]
            } else {
                Vec::new()
            },
            max_code: [-1; 17],
            val_offset: [0; 17],
            values,
        };
        let (mut code, mut index) = (0i32, 0i32);
        for length in 1..=16u32 {
            let count = i32::from(counts[length as usize - 1]);
            table.val_offset[length as usize] = index - code;
            for offset in 0..count {
                let symbol = *table.values.get(usize::try_from(index + offset).ok()?)?;
                if length <= LOOKAHEAD {
                    let first = usize::try_from(code + offset).ok()? << (LOOKAHEAD - length);
                    let span = first..first + (1 << (LOOKAHEAD - length));
                    let entry = (length as u16) << 8 | u16::from(symbol);
                    table.fast.get_mut(span.clone())?.fill(entry);
                    if ac {
                        let size = u16::from(symbol & 15);
                        let skip = (length as u16 + size) << 8 | ac_step(symbol);
                        table.skip.get_mut(span)?.fill(skip);
                    }
                }
            }
            if count > 0 {
                code += count;
                index += count;
                table.max_code[length as usize] = code - 1;
            }
            code <<= 1;
        }
        Some(table)
    }
}

/// Reads entropy-coded bits, undoing 0xFF00 stuffing; stops before any marker.
struct Bits<'a> {
    data: &'a [u8],
    /// The next byte to load.
    at: usize,
    /// Loaded bits, most significant first; zeros past `count`.
    buffer: u64,
    count: u32,
    at_marker: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], at: usize) -> Self {
        Self {
            data,
            at,
            buffer: 0,
            count: 0,
            at_marker: false,
        }
    }

    fn refill(&mut self) {
        while self.count <= 56 && !self.at_marker {
            let byte = match (self.data.get(self.at), self.data.get(self.at + 1)) {
                (Some(0xFF), Some(0)) => {
                    self.at += 2;
                    0xFF
                }
                (Some(0xFF), _) | (None, _) => {
                    self.at_marker = true;
                    break;
                }
                (Some(&byte), _) => {
                    self.at += 1;
                    byte
                }
            };
            self.buffer |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    fn consume(&mut self, n: u32) -> Option<()> {
        if n > self.count {
            return None; // past the end of the data
        }
        self.buffer <<= n;
        self.count -= n;
        Some(())
    }

    fn bits(&mut self, n: u32) -> Option<i32> {
        if n == 0 {
            return Some(0);
        }
        self.refill();
        let value = (self.buffer >> (64 - n)) as i32;
        self.consume(n)?;
        Some(value)
    }

    fn bit(&mut self) -> Option<bool> {
        self.bits(1).map(|b| b == 1)
    }

    fn decode(&mut self, table: &Huffman) -> Option<u8> {
        self.refill();
        let entry = table.fast[(self.buffer >> (64 - LOOKAHEAD)) as usize];
        if entry != 0 {
            self.consume(u32::from(entry >> 8))?;
            return Some(entry as u8);
        }
        for length in LOOKAHEAD + 1..=16 {
            let code = (self.buffer >> (64 - length)) as i32;
            if code <= table.max_code[length as usize] {
                self.consume(length)?;
                return table
                    .values
                    .get(usize::try_from(code + table.val_offset[length as usize]).ok()?)
                    .copied();
            }
        }
        None
    }

    /// Skips the restart marker (RSTn) the data stopped at.
    fn restart(&mut self) -> Option<()> {
        if !self.at_marker || !(0xD0..=0xD7).contains(self.data.get(self.at + 1)?) {
            return None;
        }
        *self = Self::new(self.data, self.at + 2);
        Some(())
    }
}

/// `EXTEND` of ITU T.81 F.2.2.1.
fn extend(value: i32, size: u8) -> i32 {
    if size == 0 {
        0
    } else if value < 1 << (size - 1) {
        value - (1 << size) + 1
    } else {
        value
    }
}

/// The Huffman tables in force.
#[derive(Debug, Default)]
struct Tables {
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
}

/// The 1/8-scale image of a JPEG, or `None` when this decoder does not handle it.
pub fn decode(bytes: &[u8]) -> Option<Pixels> {
    let mut quant = [0u16; 4];
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
            break;
        }
        at = next;
        match marker {
            // Baseline, extended and progressive Huffman frames; nothing else.
            0xC0..=0xC2 => {
                if segment[0] != 8 || !components.is_empty() {
                    return None;
                }
                height = usize::from(u16::from_be_bytes([segment[1], segment[2]]));
                width = usize::from(u16::from_be_bytes([segment[3], segment[4]]));
                let count = usize::from(*segment.get(5)?);
                if !(count == 1 || count == 3) || width == 0 || height == 0 {
                    return None;
                }
                for index in 0..count {
                    let spec = segment.get(6 + index * 3..9 + index * 3)?;
                    let (h, v) = (usize::from(spec[1] >> 4), usize::from(spec[1] & 15));
                    if !(1..=4).contains(&h) || !(1..=4).contains(&v) || spec[2] > 3 {
                        return None;
                    }
                    components.push(Component {
                        id: spec[0],
                        h,
                        v,
                        quant_table: usize::from(spec[2]),
                        blocks_w: 0,
                        blocks_h: 0,
                        real_w: 0,
                        real_h: 0,
                        dc: Vec::new(),
                        dc_precision: None,
                    });
                }
                let h_max = components.iter().map(|c| c.h).max()?;
                let v_max = components.iter().map(|c| c.v).max()?;
                let (mcus_w, mcus_h) = (width.div_ceil(8 * h_max), height.div_ceil(8 * v_max));
                for component in &mut components {
                    component.blocks_w = mcus_w * component.h;
                    component.blocks_h = mcus_h * component.v;
                    component.real_w = (width * component.h).div_ceil(h_max).div_ceil(8);
                    component.real_h = (height * component.v).div_ceil(v_max).div_ceil(8);
                    component.dc = vec![0; component.blocks_w * component.blocks_h];
                }
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xC4 => {
                let mut rest = segment;
                while !rest.is_empty() {
                    let (class, id) = (rest[0] >> 4, usize::from(rest[0] & 15));
                    let counts: [u8; 16] = rest.get(1..17)?.try_into().ok()?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let table =
                        Huffman::new(&counts, rest.get(17..17 + total)?.to_vec(), class == 1)?;
                    match class {
                        0 => *tables.dc.get_mut(id)? = Some(table),
                        1 => *tables.ac.get_mut(id)? = Some(table),
                        _ => return None,
                    }
                    rest = &rest[17 + total..];
                }
            }
            0xDB => {
                let mut rest = segment;
                while !rest.is_empty() {
                    let (precision, id) = (rest[0] >> 4, usize::from(rest[0] & 15));
                    let size = if precision == 0 { 64 } else { 128 };
                    let table = rest.get(1..1 + size)?;
                    *quant.get_mut(id)? = if precision == 0 {
                        u16::from(table[0])
                    } else {
                        u16::from_be_bytes([table[0], table[1]])
                    };
                    rest = &rest[1 + size..];
                }
            }
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
                if components.iter().all(|c| c.dc_precision == Some(0)) {
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
    Some(pixels(
        &components,
        &quant,
        width.div_ceil(8),
        height.div_ceil(8),
    ))
}

/// The marker segment at or after `at`: its marker, its payload (empty for a standalone
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

/// Decodes the DC coefficients of one scan (skipping the AC ones of a sequential scan) and
/// returns where the scan's data ends.
fn decode_scan(
    bytes: &[u8],
    data_start: usize,
    header: &[u8],
    components: &mut [Component],
    tables: &Tables,
    restart_interval: usize,
) -> Option<usize> {
    let count = usize::from(*header.first()?);
    let mut members = Vec::with_capacity(count);
    for index in 0..count {
        let spec = header.get(1 + index * 2..3 + index * 2)?;
        let component = components.iter().position(|c| c.id == spec[0])?;
        members.push((
            component,
            usize::from(spec[1] >> 4),
            usize::from(spec[1] & 15),
        ));
    }
    let tail = header.get(1 + count * 2..4 + count * 2)?;
    let (spectral_start, spectral_end, high, low) = (tail[0], tail[1], tail[2] >> 4, tail[2] & 15);
    let mut bits = Bits::new(bytes, data_start);
    if spectral_start == 0 {
        // A sequential scan holds every coefficient; a progressive DC scan only the DC.
        let sequential = spectral_end == 63;
        if !sequential && spectral_end != 0 {
            return None;
        }
        for &(component, _, _) in &members {
            let expected = if high == 0 { None } else { Some(high) };
            if components[component].dc_precision != expected {
                return None;
            }
        }
        // Each member's component and tables, resolved once for the whole scan.
        let mut resolved = Vec::with_capacity(members.len());
        for &(component, dc_table, ac_table) in &members {
            let dc = tables.dc.get(dc_table)?.as_ref();
            let ac = tables.ac.get(ac_table)?.as_ref();
            if (high == 0 && dc.is_none()) || (sequential && ac.is_none()) {
                return None;
            }
            resolved.push((component, dc, ac));
        }
        // An MCU is one block in a non-interleaved scan (the component's own blocks, in
        // raster order, unpadded), else each member's h×v blocks.
        let single = (count == 1).then(|| {
            (
                components[members[0].0].real_w,
                components[members[0].0].real_h,
            )
        });
        let mcus_w = components[0].blocks_w / components[0].h;
        let mcus_h = components[0].blocks_h / components[0].v;
        let shapes: Vec<(usize, usize)> = resolved
            .iter()
            .map(|&(c, _, _)| (components[c].h, components[c].v))
            .collect();
        let mut predictors = vec![0i32; components.len()];
        let mut mcu = 0usize;
        let mut next_mcu = |bits: &mut Bits<'_>, predictors: &mut [i32]| -> Option<()> {
            if restart_interval > 0 && mcu > 0 && mcu.is_multiple_of(restart_interval) {
                bits.restart()?;
                predictors.fill(0);
            }
            mcu += 1;
            Some(())
        };
        let mut block = |bits: &mut Bits<'_>,
                         predictors: &mut [i32],
                         (component, dc, ac): (usize, Option<&Huffman>, Option<&Huffman>),
                         x: usize,
                         y: usize|
         -> Option<()> {
            let c = &mut components[component];
            let slot = y * c.blocks_w + x;
            if let (0, Some(dc)) = (high, dc) {
                let size = bits.decode(dc)?;
                if size > 11 {
                    return None;
                }
                let diff = extend(bits.bits(u32::from(size))?, size);
                predictors[component] += diff;
                *c.dc.get_mut(slot)? = predictors[component] << low;
            } else if bits.bit()? {
                *c.dc.get_mut(slot)? |= 1 << low;
            }
            if let (true, Some(ac)) = (sequential, ac) {
                skip_ac(bits, ac)?;
            }
            Some(())
        };
        if let (Some((w, h)), [only]) = (single, resolved.as_slice()) {
            for y in 0..h {
                for x in 0..w {
                    next_mcu(&mut bits, &mut predictors)?;
                    block(&mut bits, &mut predictors, *only, x, y)?;
                }
            }
        } else {
            for my in 0..mcus_h {
                for mx in 0..mcus_w {
                    next_mcu(&mut bits, &mut predictors)?;
                    for (&member, &(h, v)) in resolved.iter().zip(&shapes) {
                        for by in 0..v {
                            for bx in 0..h {
                                block(
                                    &mut bits,
                                    &mut predictors,
                                    member,
                                    mx * h + bx,
                                    my * v + by,
                                )?;
                            }
                        }
                    }
                }
            }
        }
        for &(component, _, _) in &members {
            components[component].dc_precision = Some(low);
        }
    }
    // Skip the rest of the entropy-coded data, restart markers included.
    let mut at = bits.at;
    loop {
        if *bytes.get(at)? == 0xFF {
            let next = *bytes.get(at + 1)?;
            if next != 0 && !(0xD0..=0xD7).contains(&next) {
                return Some(at);
            }
            at += 1;
        }
        at += 1;
    }
}

/// Reads past a block's 63 AC coefficients without decoding their values: for the common
/// short codes, one lookup and one shift each.
fn skip_ac(bits: &mut Bits<'_>, table: &Huffman) -> Option<()> {
    let mut k = 1;
    while k < 64 {
        // A code and its value take at most 16 + 15 bits.
        if bits.count < 31 {
            bits.refill();
        }
        let entry = table.skip[(bits.buffer >> (64 - LOOKAHEAD)) as usize];
        let step = if entry != 0 {
            bits.consume(u32::from(entry >> 8))?;
            entry & 0xFF
        } else {
            let symbol = bits.decode(table)?;
            bits.bits(u32::from(symbol & 15))?;
            ac_step(symbol)
        };
        if step == 0 {
            return Some(()); // end of block
        }
        k += usize::from(step);
    }
    (k == 64).then_some(())
}

/// How many coefficients an AC symbol (`run << 4 | size`) covers: the zeros it skips and its
/// own, 16 for a run of sixteen zeros (ZRL), 0 for the end of the block (EOB).
fn ac_step(symbol: u8) -> u16 {
    match (symbol >> 4, symbol & 15) {
        (15, 0) => 16,
        (_, 0) => 0,
        (run, _) => u16::from(run) + 1,
    }
}

/// Turns DC coefficients into the 1/8-scale image.
fn pixels(components: &[Component], quant: &[u16; 4], width: usize, height: usize) -> Pixels {
    let h_max = components.iter().map(|c| c.h).max().unwrap_or(1);
    let v_max = components.iter().map(|c| c.v).max().unwrap_or(1);
    let planes: Vec<Vec<f32>> = components
        .iter()
        .map(|c| plane(c, quant, h_max, v_max, width, height))
        .collect();
    let to_u8 = |v: f32| (v.clamp(0.0, 255.0) + 0.5) as u8;
    let (w, h) = (width as u32, height as u32);
    if let [luma] = planes.as_slice() {
        let gray = luma.iter().map(|&v| to_u8(v)).collect();
        return Pixels::Gray(GrayImage::from_raw(w, h, gray).unwrap_or_default());
    }
    let [luma, cb, cr] = planes.as_slice() else {
        return Pixels::Gray(GrayImage::default()); // the frame header allows 1 or 3
    };
    let mut rgb = Vec::with_capacity(width * height * 3);
    for ((&y, &cb), &cr) in luma.iter().zip(cb).zip(cr) {
        let (cb, cr) = (cb - 128.0, cr - 128.0);
        rgb.extend([
            to_u8(y + 1.402 * cr),
            to_u8(y - 0.344_136 * cb - 0.714_136 * cr),
            to_u8(y + 1.772 * cb),
        ]);
    }
    Pixels::Rgb(RgbImage::from_raw(w, h, rgb).unwrap_or_default())
}

/// One component's levels at the 1/8-scale size, row-major: each block's DC value, and for a
/// subsampled component the values interpolated between block centres (as libjpeg's "fancy"
/// upsampling does), rows first, then columns.
fn plane(
    c: &Component,
    quant: &[u16; 4],
    h_max: usize,
    v_max: usize,
    width: usize,
    height: usize,
) -> Vec<f32> {
    let scale = f32::from(quant[c.quant_table]) / 8.0;
    let level = |bx: usize, by: usize| {
        c.dc[by.min(c.real_h - 1) * c.blocks_w + bx.min(c.real_w - 1)] as f32 * scale + 128.0
    };
    // Where each output column (row) falls among the component's blocks: the block to its
    // left (above) and the weight of the next one.
    let taps = |count: usize, factor: usize, max: usize| -> Vec<(usize, f32)> {
        (0..count)
            .map(|p| {
                let at = ((p as f32 + 0.5) * factor as f32 / max as f32 - 0.5).max(0.0);
                (at as usize, at.fract())
            })
            .collect()
    };
    let (columns, rows) = (taps(width, c.h, h_max), taps(height, c.v, v_max));
    let across: Vec<f32> = (0..c.real_h)
        .flat_map(|by| {
            columns
                .iter()
                .map(move |&(bx, t)| level(bx, by) * (1.0 - t) + level(bx + 1, by) * t)
        })
        .collect();
    let mut plane = Vec::with_capacity(width * height);
    for &(by, t) in &rows {
        let above = &across[by.min(c.real_h - 1) * width..][..width];
        let below = &across[(by + 1).min(c.real_h - 1) * width..][..width];
        plane.extend(
            above
                .iter()
                .zip(below)
                .map(|(&a, &b)| a * (1.0 - t) + b * t),
        );
    }
    plane
}

#[cfg(test)]
mod tests {
    use super::*;
    use jpeg_encoder::SamplingFactor;

    /// jpeg-decoder's own 1/8-scale decode, the reference.
    fn reference(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut decoder = jpeg_decoder::Decoder::new(jpeg);
        decoder.read_info().expect("header");
        decoder.scale(1, 1).expect("scale");
        let pixels = decoder.decode().expect("decodes");
        let info = decoder.info().expect("info");
        (u32::from(info.width), u32::from(info.height), pixels)
    }

    fn assert_matches_reference(jpeg: &[u8], what: &str) {
        let (width, height, expected) = reference(jpeg);
        let actual = match decode(jpeg).unwrap_or_else(|| panic!("{what}: not decoded")) {
            Pixels::Rgb(rgb) => {
                assert_eq!(rgb.dimensions(), (width, height), "{what}");
                rgb.into_raw()
            }
            Pixels::Gray(gray) => {
                assert_eq!(gray.dimensions(), (width, height), "{what}");
                gray.into_raw()
            }
        };
        assert_eq!(actual.len(), expected.len(), "{what}");
        let total: u64 = actual
            .iter()
            .zip(&expected)
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        let mean = total as f64 / actual.len() as f64;
        assert!(
            mean < 1.5,
            "{what}: mean difference {mean:.2} from a full 1/8 decode"
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
                    assert_matches_reference(
                        &encoded(&image, progressive, sampling, restart),
                        &what,
                    );
                }
            }
        }
        let meadow = include_bytes!("../../../samples/photos/My Trip/green meadow.jpg");
        assert_matches_reference(meadow, "green meadow (libjpeg, progressive)");
        let hopper = include_bytes!("../../../samples/photos/hopper-rotated.jpg");
        assert_matches_reference(hopper, "hopper (libjpeg, baseline)");
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
            assert_matches_reference(&out, &format!("greyscale, progressive {progressive}"));
        }
    }

    #[test]
    fn declines_what_it_does_not_handle() {
        let cmyk = include_bytes!("../../../samples/photos/cmyk.jpg");
        assert!(decode(cmyk).is_none(), "CMYK goes to the full decoder");
        for progressive in [true, false] {
            let full = encoded(&scene(64, 64), progressive, SamplingFactor::F_2_2, None);
            assert!(
                decode(&full[..full.len() / 2]).is_none(),
                "truncated, progressive {progressive}"
            );
        }
        assert!(decode(b"not a jpeg").is_none());
    }
}
