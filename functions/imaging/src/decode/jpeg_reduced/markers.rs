//! The marker segments the reduced decoder reads ahead of the image data: the frame header,
//! which describes the components, and the quantisation and Huffman tables.

use super::huffman::{Huffman, Tables};

/// One image component as the frame header describes it.
#[derive(Debug, Clone)]
pub(crate) struct Component {
    pub(crate) id: u8,
    pub(crate) h: usize,
    pub(crate) v: usize,
    pub(crate) quant_table: usize,
    /// Blocks across and down, padded to whole MCUs.
    pub(crate) blocks_w: usize,
    pub(crate) blocks_h: usize,
    /// Blocks across and down that hold image data.
    pub(crate) real_w: usize,
    pub(crate) real_h: usize,
    /// Levels per block across (and down) in the reduced image: for luma 1, 2 or 4 at 1/8,
    /// 1/4 or 1/2, for chroma half that (1 at least).
    pub(crate) samples: usize,
    /// Each block's coefficients that its levels need (its lowest `samples`×`samples`
    /// frequencies, row-major, the DC first), block after block, row-major over the padded
    /// blocks (empty until the decoder allocates them).
    pub(crate) coefficients: Vec<i32>,
    /// The successive-approximation bit position reached so far (`None`: no DC scan yet).
    pub(crate) dc_precision: Option<u8>,
}

/// The natural (row-major) index of each zigzag position in a block.
pub(crate) const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// The image's width and height and its components, from a Huffman frame header (SOF0–SOF2)
/// whose precision the caller has found to be 8 bits, each component to hold
/// `luma_samples` levels each way per luma block, chroma half that (1 at least); the
/// caller makes room for their coefficients. `None` for other than one or three components, no width or height, or a
/// sampling factor or quantisation table out of range.
pub(crate) fn frame(segment: &[u8], luma_samples: usize) -> Option<(usize, usize, Vec<Component>)> {
    let height = usize::from(u16::from_be_bytes([segment[1], segment[2]]));
    let width = usize::from(u16::from_be_bytes([segment[3], segment[4]]));
    let count = usize::from(*segment.get(5)?);
    if !(count == 1 || count == 3) || width == 0 || height == 0 {
        return None;
    }
    let mut components = Vec::new();
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
                luma_samples
            } else {
                (luma_samples / 2).max(1)
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
    }
    Some((width, height, components))
}

/// Reads a DQT segment's quantisation tables into `quant`, each table's steps in natural
/// order; `None` for a malformed one.
pub(crate) fn quant_tables(segment: &[u8], quant: &mut [[u16; 64]; 4]) -> Option<()> {
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
    Some(())
}

/// Reads a DHT segment's Huffman tables into `tables`; `None` for a malformed one.
pub(crate) fn huffman_tables(segment: &[u8], tables: &mut Tables) -> Option<()> {
    let mut rest = segment;
    while !rest.is_empty() {
        let (class, id) = (rest[0] >> 4, usize::from(rest[0] & 15));
        let counts: [u8; 16] = rest.get(1..17)?.try_into().ok()?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let table = Huffman::new(&counts, rest.get(17..17 + total)?.to_vec(), class == 1)?;
        match class {
            0 => *tables.dc.get_mut(id)? = Some(table),
            1 => *tables.ac.get_mut(id)? = Some(table),
            _ => return None,
        }
        rest = &rest[17 + total..];
    }
    Some(())
}
