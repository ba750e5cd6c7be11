//! The scans: each block's DC coefficient and, in a sequential scan, the lowest AC
//! coefficients the reduction needs, the others skipped by their Huffman codes alone;
//! progressive AC scans are passed over byte-wise.

use super::bits::Bits;
use super::huffman::{Huffman, LOOKAHEAD, Tables, ac_step};
use super::markers::{Component, ZIGZAG};

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

/// Decodes the DC coefficients of one scan and, in a sequential scan, the AC coefficients
/// the reduction needs (skipping the others); returns where the scan's data ends.
pub(crate) fn decode_scan(
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
