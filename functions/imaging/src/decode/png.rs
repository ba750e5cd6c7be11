//! validate's proof for a PNG whose full decode does not fit in memory: every row of its
//! image data inflated and unfiltered by the png crate, one row held at a time, so a
//! truncated or corrupt file is still found.

use std::io::Cursor;

use photopipe::{PipelineError, Result};

use crate::memory::{Need, SLACK, mp};

/// Reads every row of the image (every pass of an interlaced one) and the rest of its
/// image data, in the stored layout (nothing expanded).
pub(crate) fn read_every_row(bytes: &[u8]) -> Result<()> {
    let mut reader = reader(bytes)?;
    while reader.next_row().map_err(corrupt)?.is_some() {}
    Ok(())
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
