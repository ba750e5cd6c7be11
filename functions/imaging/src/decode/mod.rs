//! Decoding, once per image and as small as its purpose allows: the dispatch to each
//! format's decoder, behind a guard that turns a decoder's panic into `Photo.InvalidImage`;
//! what each path needs in memory, from the header; and validate's proof, which takes
//! another path within memory where the full decode does not fit.

mod generic;
mod heif;
mod jpeg;
mod jpeg_reduced;
mod png;
mod webp;

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};

use photopipe::format::ImageFormat;
use photopipe::settings::InputLimits;
use photopipe::{PipelineError, Result};

#[cfg(test)]
pub(crate) use self::png::rows_need as png_rows_need;
use crate::limits::Inspection;
use crate::memory::{self, Need, OverBudget};
use crate::pixels::Decoded;
use crate::plan::DecodeFor;

/// Decodes the image at the smallest size every rendition can still be made from, where
/// the format allows a reduced decode (JPEG: 1/2, 1/4, 1/8; WebP scaled by libwebp; HEIC
/// shrunk as it is copied out), else at full size. For the proof it decodes as small as it
/// can, which still reads all the image data. Every
/// decoder failure, a panic included, becomes `Photo.InvalidImage` (a HEIF holding a coding
/// other than HEVC: `Photo.UnsupportedFormat`). The caller has checked [`need`] against
/// the memory budget.
pub(crate) fn decode(
    bytes: &[u8],
    inspection: &Inspection,
    purpose: DecodeFor<'_>,
    limits: &InputLimits,
) -> Result<Decoded> {
    guarded(inspection.format, || match inspection.format {
        ImageFormat::Jpeg => jpeg::decode(bytes, purpose, limits),
        ImageFormat::Webp => webp::decode(bytes, purpose, limits),
        ImageFormat::Heif => heif::decode(bytes, purpose, limits),
        other => generic::decode(bytes, other, limits),
    })
}

/// What [`decode`] needs for `purpose`, at its peak, from the header alone.
pub(crate) fn need(bytes: &[u8], inspection: &Inspection, purpose: DecodeFor<'_>) -> Result<Need> {
    let need = guarded(inspection.format, || match inspection.format {
        ImageFormat::Jpeg => jpeg::need(bytes, purpose),
        ImageFormat::Webp => webp::need(bytes, inspection, purpose),
        ImageFormat::Heif => heif::need(bytes, inspection, purpose),
        other => generic::need(bytes, other, inspection.width, inspection.height),
    })?;
    Ok(match purpose {
        DecodeFor::Proof => need,
        DecodeFor::Renditions(renditions) => need.with_renditions(renditions),
    })
}

/// How validate's proof read an image's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Decoded, at the smallest size the format allows.
    Decoded,
    /// Its decode, or the original itself, does not fit in memory (why); its every row
    /// (PNG, from memory or as it streams past) or scan (JPEG, by its DC coefficients, from
    /// memory) was read another way that does.
    Streamed(OverBudget),
    /// Its decode, or the original itself, does not fit in memory (why) and it has no other
    /// way to read it: it is accepted on its header, which was read and checked against the
    /// limits.
    Header(OverBudget),
}

/// validate's proof that the image data decodes: the smallest decode, where it fits in the
/// memory budget of `limits`; else PNG row by row and JPEG scan by scan, in a few bytes a
/// row or block.
///
/// Where no path fits (a HEIC, which HEVC decodes only whole; a GIF; a lossless or
/// animated WebP larger than the budget allows), the image is accepted on its header, as
/// [`Proof::Header`] says, rather than refused: it is an image of a format we process
/// whose header is sound, quite likely a real photo (a large HEIC is a phone's or a
/// camera's), and refusing it would quarantine it as `Photo.InvalidImage`, a name that
/// says the photo is bad when it is our function that is small. Accepted, it is archived
/// byte for byte, which loses nothing even if its data is damaged, and the thumbnail step,
/// held to the same estimate, skips it by name instead of failing; raising the functions'
/// memory makes its thumbnail and proves it.
pub(crate) fn prove(bytes: &[u8], inspection: &Inspection, limits: &InputLimits) -> Result<Proof> {
    let format = inspection.format;
    if format == ImageFormat::Jpeg {
        return guarded(format, || {
            jpeg::prove(bytes, inspection.width, inspection.height, limits)
        });
    }
    let need = need(bytes, inspection, DecodeFor::Proof)?;
    match (format, memory::check(&need, bytes.len(), limits)) {
        (_, Ok(())) => {
            decode(bytes, inspection, DecodeFor::Proof, limits)?;
            Ok(Proof::Decoded)
        }
        (ImageFormat::Png, Err(over)) => guarded(format, || {
            let rows = png::rows_need(bytes, inspection.width, inspection.height)?;
            if memory::check(&rows, bytes.len(), limits).is_err() {
                return Ok(Proof::Header(over));
            }
            png::read_every_row(bytes)?;
            Ok(Proof::Streamed(over))
        }),
        (_, Err(over)) => Ok(Proof::Header(over)),
    }
}

/// validate's proof for an original too large to hold in memory (see
/// [`memory::holds_original`]), read from `source` (its every byte, from the first) as it
/// arrives, never whole: a PNG row by row, where a row's buffers fit in the budget of
/// `limits`; any other format (JPEG's scan-by-scan proof and every decode need the file in
/// memory) is accepted on its header, as [`prove`] accepts what nothing fits. `head` is the
/// original's first bytes, its header among them; `size` its length.
pub(crate) fn prove_streamed(
    source: impl Read,
    head: &[u8],
    size: u64,
    inspection: &Inspection,
    limits: &InputLimits,
) -> Result<Proof> {
    let over = original_over_budget(head, size, inspection, limits);
    if inspection.format != ImageFormat::Png {
        return Ok(Proof::Header(over));
    }
    guarded(inspection.format, || {
        let fits = png::rows_need(head, inspection.width, inspection.height)
            .is_ok_and(|rows| memory::check(&rows, head.len(), limits).is_ok());
        if !fits {
            return Ok(Proof::Header(over));
        }
        png::read_every_row_from(source)?;
        Ok(Proof::Streamed(over))
    })
}

/// Why an original of `size` bytes is not read whole: it and the proof's decode (estimated
/// from its header in `head` where that holds what the estimate reads) need more than the
/// budget of `limits` has.
fn original_over_budget(
    head: &[u8],
    size: u64,
    inspection: &Inspection,
    limits: &InputLimits,
) -> OverBudget {
    let (width, height) = (inspection.width, inspection.height);
    let need = guarded(inspection.format, || {
        need(head, inspection, DecodeFor::Proof)
    })
    .ok();
    let (image, decode) = match need {
        Some(need) => (need.image, need.peak),
        None => (
            format!("{} {}", memory::mp(width, height), inspection.format.name()),
            0,
        ),
    };
    let (function_mb, available) = limits
        .memory
        .map_or((0, 0), |budget| (budget.function_mb, budget.decode_bytes));
    OverBudget {
        image: format!("{image} of {}", memory::show_bytes(size)),
        needed: size.saturating_add(decode),
        function_mb,
        available,
    }
}

/// Runs a decoder; a panic in it becomes `Photo.InvalidImage`.
fn guarded<T>(format: ImageFormat, work: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(PipelineError::InvalidImage(format!(
            "{} data is corrupt (the decoder gave up)",
            format.name()
        )))
    })
}
