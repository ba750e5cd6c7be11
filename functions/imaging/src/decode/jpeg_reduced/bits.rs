//! The bit reader over entropy-coded data: 0xFF00 stuffing undone, stopping at markers,
//! restart markers skipped; Huffman symbols decoded through a table's lookup.

use super::huffman::{Huffman, LOOKAHEAD};

/// Reads entropy-coded bits, undoing 0xFF00 stuffing; stops before any marker.
pub(crate) struct Bits<'a> {
    data: &'a [u8],
    /// The next byte to load.
    pub(crate) at: usize,
    /// Loaded bits, most significant first; zeros past `count`.
    pub(crate) buffer: u64,
    pub(crate) count: u32,
    at_marker: bool,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(data: &'a [u8], at: usize) -> Self {
        Self {
            data,
            at,
            buffer: 0,
            count: 0,
            at_marker: false,
        }
    }

    pub(crate) fn refill(&mut self) {
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

    pub(crate) fn consume(&mut self, n: u32) -> Option<()> {
        if n > self.count {
            return None; // past the end of the data
        }
        self.buffer <<= n;
        self.count -= n;
        Some(())
    }

    pub(crate) fn bits(&mut self, n: u32) -> Option<i32> {
        if n == 0 {
            return Some(0);
        }
        self.refill();
        let value = (self.buffer >> (64 - n)) as i32;
        self.consume(n)?;
        Some(value)
    }

    pub(crate) fn bit(&mut self) -> Option<bool> {
        self.bits(1).map(|b| b == 1)
    }

    pub(crate) fn decode(&mut self, table: &Huffman) -> Option<u8> {
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
    pub(crate) fn restart(&mut self) -> Option<()> {
        if !self.at_marker || !(0xD0..=0xD7).contains(self.data.get(self.at + 1)?) {
            return None;
        }
        *self = Self::new(self.data, self.at + 2);
        Some(())
    }
}
