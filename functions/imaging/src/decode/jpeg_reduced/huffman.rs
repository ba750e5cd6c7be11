//! Huffman tables as the reduced decoder uses them: a lookup of the short codes, for AC
//! tables a second lookup for skipping coefficients without decoding their values, and the
//! tables in force.

/// Bits of code looked up at once; longer codes take the slow path.
pub(crate) const LOOKAHEAD: u32 = 10;

/// A Huffman table: a lookup of the codes up to [`LOOKAHEAD`] bits long, and `DECODE` of
/// ITU T.81 F.2.2.3 for the longer ones.
#[derive(Debug, Clone)]
pub(crate) struct Huffman {
    /// `length << 8 | symbol` by the next `LOOKAHEAD` bits; 0 for a longer code.
    pub(crate) fast: Vec<u16>,
    /// For skipping AC coefficients, by the next `LOOKAHEAD` bits: `bits << 8 | step`, where
    /// `bits` is the code's length plus its value's, and `step` how many coefficients it
    /// covers (0: end of block); 0 for a longer code. Empty in a DC table.
    pub(crate) skip: Vec<u16>,
    pub(crate) max_code: [i32; 17],
    pub(crate) val_offset: [i32; 17],
    pub(crate) values: Vec<u8>,
}

impl Huffman {
    pub(crate) fn new(counts: &[u8; 16], values: Vec<u8>, ac: bool) -> Option<Self> {
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

/// The Huffman tables in force.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub(crate) dc: [Option<Huffman>; 4],
    pub(crate) ac: [Option<Huffman>; 4],
}

/// How many coefficients an AC symbol (`run << 4 | size`) covers: the zeros it skips and its
/// own, 16 for a run of sixteen zeros (ZRL), 0 for the end of the block (EOB).
pub(crate) fn ac_step(symbol: u8) -> u16 {
    match (symbol >> 4, symbol & 15) {
        (15, 0) => 16,
        (_, 0) => 0,
        (run, _) => u16::from(run) + 1,
    }
}
