//! One rendition of a decoded image: planned in the image's stored frame, resized, turned
//! upright, converted to sRGB and encoded.

use image::DynamicImage;
use photopipe::Result;
use photopipe::settings::Rendition;

use crate::colour::{SrgbTransform, convert_to_srgb};
use crate::encode::encode;
use crate::pixels::Decoded;
use crate::plan::{plan, stored_box};
use crate::resize::resize;

/// A finished thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The encoded file, in the rendition's format.
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Makes `rendition` from `decoded`; `to_srgb` is the transform from its embedded profile,
/// made once for all its renditions.
pub(crate) fn render(
    decoded: &Decoded,
    rendition: &Rendition,
    to_srgb: Option<&SrgbTransform>,
) -> Result<Thumbnail> {
    let (src_w, src_h) = decoded.pixels.dimensions();
    let (box_w, box_h) = stored_box(rendition, decoded.orientation);
    let plan = plan(
        src_w,
        src_h,
        box_w,
        box_h,
        rendition.mode,
        rendition.upscale,
    );
    let mut image = resize(&decoded.pixels, &plan)?;
    image.apply_orientation(decoded.orientation);
    if let (Some(transform), DynamicImage::ImageRgb8(rgb)) = (to_srgb, &mut image) {
        convert_to_srgb(transform, rgb)?;
    }
    let bytes = encode(&image, rendition)?;
    Ok(Thumbnail {
        bytes,
        width: image.width(),
        height: image.height(),
    })
}
