//! Sizing: what each rendition takes from the image (a crop, fit or fill) and the size it
//! scales that to, and from there how small the image may be decoded for what the decode is
//! for, the renditions or validate's proof.

use image::metadata::Orientation;
use photopipe::settings::{FitMode, Rendition};

use crate::orientation::swaps_axes;

/// The largest size at most `box_w`×`box_h` with the aspect ratio of `width`×`height`,
/// never larger than the image itself.
pub fn fit_inside(width: u32, height: u32, box_w: u32, box_h: u32) -> (u32, u32) {
    plan(width, height, box_w, box_h, FitMode::Fit, false).size
}

/// What a rendition takes from a `width`×`height` image (a crop, in source pixels) and the
/// size it scales that to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Left, top, width, height.
    pub crop: (f64, f64, f64, f64),
    pub size: (u32, u32),
}

/// Plans a rendition in the image's own frame (`box_*` already turned with the image).
pub fn plan(width: u32, height: u32, box_w: u32, box_h: u32, mode: FitMode, upscale: bool) -> Plan {
    let (w, h, bw, bh) = (
        f64::from(width),
        f64::from(height),
        f64::from(box_w),
        f64::from(box_h),
    );
    let round = |v: f64| (v.round() as u32).max(1);
    match mode {
        FitMode::Fit => {
            let scale = f64::min(bw / w, bh / h);
            let size = if scale >= 1.0 && !upscale {
                (width, height)
            } else {
                (round(w * scale).min(box_w), round(h * scale).min(box_h))
            };
            Plan {
                crop: (0.0, 0.0, w, h),
                size,
            }
        }
        FitMode::Fill => {
            // The largest centred region with the box's aspect ratio.
            let (crop_w, crop_h) = if w * bh > h * bw {
                (h * bw / bh, h)
            } else {
                (w, w * bh / bw)
            };
            let crop = ((w - crop_w) / 2.0, (h - crop_h) / 2.0, crop_w, crop_h);
            let size = if crop_w >= bw || upscale {
                (box_w, box_h)
            } else {
                (round(crop_w).min(box_w), round(crop_h).min(box_h))
            };
            Plan { crop, size }
        }
    }
}

/// What an image is decoded for, which decides how small the decode may be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DecodeFor<'a> {
    /// validate's proof that the image data decodes: the smallest decode the format allows
    /// that still reads every byte of image data.
    Proof,
    /// These renditions: the smallest decode every one of them can still be made from.
    Renditions(&'a [Rendition]),
}

/// The box of a rendition in the stored (not yet upright) frame of the image.
pub(crate) fn stored_box(rendition: &Rendition, orientation: Orientation) -> (u32, u32) {
    if swaps_axes(orientation) {
        (rendition.height, rendition.width)
    } else {
        (rendition.width, rendition.height)
    }
}

/// The decoded size `purpose` needs: the largest of the renditions' needs (1×1 for the
/// proof, which decodes as small as it can).
pub(crate) fn size_needed(
    width: u32,
    height: u32,
    orientation: Orientation,
    purpose: DecodeFor<'_>,
) -> (u32, u32) {
    let renditions = match purpose {
        DecodeFor::Proof => return (1, 1),
        DecodeFor::Renditions(renditions) => renditions,
    };
    renditions
        .iter()
        .map(|rendition| source_size_needed(width, height, orientation, rendition))
        .fold((1, 1), |(w, h), (nw, nh)| (w.max(nw), h.max(nh)))
}

/// The whole factor by which an area-averaging shrink (libwebp's scaler, the HEIC copy-out)
/// may reduce the image: the largest that leaves every rendition twice the pixels it needs.
/// A box filter alone blurs and aliases fine texture; leaving the Lanczos pass at least a
/// halving keeps it, for little extra work.
pub(crate) fn area_shrink(
    width: u32,
    height: u32,
    orientation: Orientation,
    purpose: DecodeFor<'_>,
) -> u32 {
    let (want_w, want_h) = size_needed(width, height, orientation, purpose);
    (width / (2 * want_w)).min(height / (2 * want_h)).max(1)
}

/// How large the whole (stored) image must be decoded for `rendition` to lose nothing.
fn source_size_needed(
    width: u32,
    height: u32,
    orientation: Orientation,
    rendition: &Rendition,
) -> (u32, u32) {
    let (box_w, box_h) = stored_box(rendition, orientation);
    let plan = plan(
        width,
        height,
        box_w,
        box_h,
        rendition.mode,
        rendition.upscale,
    );
    let scale = f64::from(plan.size.0) / plan.crop.2;
    let needed = |v: u32| (f64::from(v) * scale).ceil() as u32;
    (needed(width), needed(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_never_upscales_and_keeps_aspect() {
        assert_eq!(fit_inside(4000, 3000, 256, 256), (256, 192));
        assert_eq!(fit_inside(3000, 4000, 256, 256), (192, 256));
        assert_eq!(fit_inside(100, 50, 256, 256), (100, 50));
        assert_eq!(fit_inside(10000, 10, 256, 256), (256, 1));
    }

    #[test]
    fn plans_fit_and_fill_without_upscaling_unless_asked() {
        let fill = plan(400, 200, 100, 100, FitMode::Fill, false);
        assert_eq!(fill.crop, (100.0, 0.0, 200.0, 200.0));
        assert_eq!(fill.size, (100, 100));
        // Smaller than the box: cropped to its aspect ratio, not enlarged.
        assert_eq!(plan(60, 30, 100, 100, FitMode::Fill, false).size, (30, 30));
        assert_eq!(plan(60, 30, 100, 100, FitMode::Fill, true).size, (100, 100));
        assert_eq!(plan(60, 30, 100, 100, FitMode::Fit, false).size, (60, 30));
        assert_eq!(plan(60, 30, 100, 100, FitMode::Fit, true).size, (100, 50));
    }
}
