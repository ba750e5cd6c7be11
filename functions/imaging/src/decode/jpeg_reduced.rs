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

use image::GrayImage;

use crate::format::next_segment;
use crate::pixels::{Pixels, YCbCrPlanes};

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
    /// Levels per block across (and down) in the reduced image: 2 for luma at 1/4, else 1.
    samples: usize,
    /// Each block's coefficients that its levels need (`samples`² of them, in zigzag
    /// order: DC, then the first horizontal, vertical and diagonal AC), block after block,
    /// row-major over the padded blocks.
    coefficients: Vec<i32>,
    /// The successive-approximation bit position reached so far (`None`: no DC scan yet).
    dc_precision: Option<u8>,
}

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
    fn samples(self) -> usize {
        match self {
            Self::Eighth => 1,
            Self::Quarter => 2,
            Self::Half => 4,
        }
    }
}

/// The natural (row-major) index of each zigzag position in a block.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// The last zigzag position inside a block's lowest `n`×`n` frequencies.
const fn last_zigzag(n: usize) -> usize {
    let mut k = 63;
    while k > 0 && (ZIGZAG[k] / 8 >= n || ZIGZAG[k] % 8 >= n) {
        k -= 1;
    }
    k
}

/// [`last_zigzag`] for the sizes read: 1×1 (the DC), 2×2 and 4×4.
const LAST_ZIGZAG: [usize; 3] = [last_zigzag(1), last_zigzag(2), last_zigzag(4)];

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

/// The reduced image of a JPEG, or `None` when this decoder does not handle it.
pub(crate) fn decode(bytes: &[u8], reduction: Reduction) -> Option<Pixels> {
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
                        // Chroma at half luma's scale (1/8 at most): a thumbnail's own chroma
                        // is subsampled, so more would be decoded only to be averaged away.
                        samples: if index == 0 {
                            reduction.samples()
                        } else {
                            (reduction.samples() / 2).max(1)
                        },
                        coefficients: Vec::new(),
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
                    let stride = component.samples * component.samples;
                    component.coefficients =
                        vec![0; component.blocks_w * component.blocks_h * stride];
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
                    let steps = quant.get_mut(id)?;
                    for (zigzag, &natural) in ZIGZAG.iter().enumerate() {
                        steps[natural] = if precision == 0 {
                            u16::from(table[zigzag])
                        } else {
                            u16::from_be_bytes([table[2 * zigzag], table[2 * zigzag + 1]])
                        };
                    }
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
    pixels(&components, &quant, width, height)
}

/// Decodes the DC coefficients of one scan and, in a sequential scan, the AC coefficients
/// the reduction needs (skipping the others); returns where the scan's data ends.
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
            let stride = c.samples * c.samples;
            let slot = (y * c.blocks_w + x) * stride;
            let stored = c.coefficients.get_mut(slot..slot + stride)?;
            if let (0, Some(dc)) = (high, dc) {
                let size = bits.decode(dc)?;
                if size > 11 {
                    return None;
                }
                let diff = extend(bits.bits(u32::from(size))?, size);
                predictors[component] += diff;
                stored[0] = predictors[component] << low;
            } else if bits.bit()? {
                stored[0] |= 1 << low;
            }
            if let (true, Some(ac)) = (sequential, ac) {
                let reached = read_low_ac(bits, ac, c.samples, stored)?;
                skip_ac(bits, ac, reached)?;
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

/// Reads a block's AC coefficients up to the last of its lowest `n`×`n` frequencies, storing
/// those into `stored` (row-major `n`×`n`, the DC at 0), and returns the zigzag position
/// reached: the next coefficient's, or 64 at the end of the block.
fn read_low_ac(
    bits: &mut Bits<'_>,
    table: &Huffman,
    n: usize,
    stored: &mut [i32],
) -> Option<usize> {
    let last = LAST_ZIGZAG[n.trailing_zeros() as usize];
    let mut k = 1;
    while k <= last {
        // A code and its value take at most 16 + 15 bits; the common short codes are looked
        // up and read with their value in one step.
        if bits.count < 31 {
            bits.refill();
        }
        let entry = table.fast[(bits.buffer >> (64 - LOOKAHEAD)) as usize];
        let (symbol, value) = if entry != 0 {
            let (length, symbol) = (u32::from(entry >> 8), entry as u8);
            let size = u32::from(symbol & 15);
            let value = match size {
                0 => 0,
                _ => ((bits.buffer << length) >> (64 - size)) as i32,
            };
            bits.consume(length + size)?;
            (symbol, value)
        } else {
            let symbol = bits.decode(table)?;
            (symbol, bits.bits(u32::from(symbol & 15))?)
        };
        let (run, size) = (symbol >> 4, symbol & 15);
        if size == 0 && run != 15 {
            return Some(64); // end of block
        }
        k += usize::from(run);
        if size != 0 {
            let natural = *ZIGZAG.get(k)?;
            let (row, column) = (natural / 8, natural % 8);
            if row < n && column < n {
                stored[row * n + column] = extend(value, size);
            }
        }
        k += 1;
    }
    Some(k)
}

/// Reads past a block's AC coefficients from zigzag position `k` on without decoding their
/// values: for the common short codes, one lookup and one shift each.
fn skip_ac(bits: &mut Bits<'_>, table: &Huffman, mut k: usize) -> Option<()> {
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
    match components {
        [luma] => Some(Pixels::Gray(plane(luma)?)),
        [luma, cb, cr] if (luma.h, luma.v) == (h_max, v_max) && (cb.h, cb.v) == (cr.h, cr.v) => {
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

/// A component's levels, `n` = `samples` per block each way over the blocks holding data,
/// row-major, and how many there are across. A block's `n`×`n` levels are the means over
/// its parts of its IDCT restricted to the stored coefficients (for `n` = 1, `DC × Q₀ / 8`).
fn block_levels(c: &Component, steps: &[u16; 64]) -> (Vec<u8>, usize) {
    match c.samples {
        1 => levels_of::<1>(c, steps),
        2 => levels_of::<2>(c, steps),
        _ => levels_of::<4>(c, steps),
    }
}

/// `part_means::<N>()[i][u]`: the mean over part `i` of `N` of a block row of the IDCT's
/// term for frequency `u`, C(u)/2 · cos((2x+1)uπ/16) with C(0) = 1/√2, C(u) = 1. A level
/// is then Σᵥ Σᵤ M[i][v] · F(v,u) · M[j][u] + 128 for the dequantised coefficients F.
fn part_means<const N: usize>() -> [[f32; N]; N] {
    let mut means = [[0f32; N]; N];
    let width = 8 / N;
    for (part, row) in means.iter_mut().enumerate() {
        for (frequency, mean) in row.iter_mut().enumerate() {
            let scale = if frequency == 0 {
                0.5 / 2f64.sqrt()
            } else {
                0.5
            };
            let sum: f64 = (part * width..(part + 1) * width)
                .map(|x| {
                    ((2 * x + 1) as f64 * frequency as f64 * std::f64::consts::PI / 16.0).cos()
                })
                .sum();
            *mean = (scale * sum / width as f64) as f32;
        }
    }
    means
}

fn levels_of<const N: usize>(c: &Component, steps: &[u16; 64]) -> (Vec<u8>, usize) {
    let (levels_w, levels_h) = (c.real_w * N, c.real_h * N);
    let mut levels = vec![0u8; levels_w * levels_h];
    let to_u8 = |v: f32| (v.clamp(0.0, 255.0) + 0.5) as u8;
    let means = part_means::<N>();
    // Each stored coefficient's weight: its quantisation step.
    let mut weights = [[0f32; N]; N];
    for (v, row) in weights.iter_mut().enumerate() {
        for (u, weight) in row.iter_mut().enumerate() {
            *weight = f32::from(steps[v * 8 + u]);
        }
    }
    let block_rows = c
        .coefficients
        .chunks_exact(c.blocks_w * N * N)
        .take(c.real_h)
        .map(|row| row.chunks_exact(N * N).take(c.real_w));
    for (blocks, out) in block_rows.zip(levels.chunks_exact_mut(N * levels_w)) {
        for (bx, block) in blocks.enumerate() {
            // Down the block first: across[i][u] = Σᵥ M[i][v] · F(v,u).
            let mut across = [[0f32; N]; N];
            for (i, row) in across.iter_mut().enumerate() {
                for (u, sum) in row.iter_mut().enumerate() {
                    *sum = (0..N)
                        .map(|v| means[i][v] * block[v * N + u] as f32 * weights[v][u])
                        .sum();
                }
            }
            for (i, row) in across.iter().enumerate() {
                for j in 0..N {
                    let level: f32 = (0..N).map(|u| row[u] * means[j][u]).sum();
                    out[i * levels_w + bx * N + j] = to_u8(level + 128.0);
                }
            }
        }
    }
    (levels, levels_w)
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
        let meadow = include_bytes!("../../../../samples/photos/My Trip/green meadow.jpg");
        let what = "green meadow (libjpeg, progressive)";
        assert_matches_reference(meadow, Reduction::Eighth, what);
        let hopper = include_bytes!("../../../../samples/photos/hopper-rotated.jpg");
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
        let cmyk = include_bytes!("../../../../samples/photos/cmyk.jpg");
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
