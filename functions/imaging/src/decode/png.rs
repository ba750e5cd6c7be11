//! validate's proof for a PNG whose full decode does not fit in memory: every row of its
//! image data inflated and unfiltered by the png crate, one row held at a time, so a
//! truncated or corrupt file is still found.

use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};

use photopipe::{PipelineError, Result};

use crate::memory::{Need, SLACK, mp};

/// Reads every row of the image (every pass of an interlaced one) and the rest of its
/// image data, in the stored layout (nothing expanded).
pub(crate) fn read_every_row(bytes: &[u8]) -> Result<()> {
    every_row(reader(bytes)?)
}

/// [`read_every_row`] of a PNG read from `source` as it arrives (an original streamed from
/// S3, too large to hold), a buffer's worth held at a time.
pub(crate) fn read_every_row_from(source: impl Read) -> Result<()> {
    let mut decoder = png::Decoder::new(Forward(BufReader::with_capacity(64 << 10, source)));
    decoder.set_transformations(png::Transformations::IDENTITY);
    every_row(decoder.read_info().map_err(corrupt)?)
}

fn every_row<R: BufRead + Seek>(mut reader: png::Reader<R>) -> Result<()> {
    while reader.next_row().map_err(corrupt)?.is_some() {}
    Ok(())
}

/// A stream read once, front to back: the png crate asks for `Seek` but reads a still
/// image without seeking.
struct Forward<R>(BufReader<R>);

impl<R: Read> Read for Forward<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> BufRead for Forward<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.0.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.0.consume(amount);
    }
}

impl<R> Seek for Forward<R> {
    fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "a streamed PNG is read front to back",
        ))
    }
}

/// What [`read_every_row`] needs: the png crate's buffer of inflated rows (a few rows, 128
/// KiB at least), the row handed over, the inflate window. Nothing is handed over.
pub(crate) fn rows_need(bytes: &[u8], width: u32, height: u32) -> Result<Need> {
    let reader = reader(bytes)?;
    let row = reader
        .output_line_size(width)
        .map_or(u64::MAX, |n| n as u64);
    Ok(Need {
        peak: row.saturating_mul(16).saturating_add(SLACK),
        decoded: (0, 0, 0),
        image: format!("{} PNG", mp(width, height)),
    })
}

fn reader(bytes: &[u8]) -> Result<png::Reader<Cursor<&[u8]>>> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::IDENTITY);
    decoder.read_info().map_err(corrupt)
}

fn corrupt(e: png::DecodingError) -> PipelineError {
    PipelineError::InvalidImage(format!("PNG data is corrupt: {e}"))
}
