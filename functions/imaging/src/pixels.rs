//! The pixels a decoder hands to the resizer: grey, RGB, or a reduced JPEG decode's YCbCr
//! planes at their own resolutions, with the orientation and colour profile the image
//! declares.

use image::metadata::Orientation;
use image::{GrayImage, RgbImage};

/// A decoded image in the pixel layouts the resizer takes, with the orientation its
/// metadata asks for (not yet applied).
#[derive(Debug)]
pub struct Decoded {
    pub pixels: Pixels,
    pub orientation: Orientation,
    /// The embedded ICC profile, if any.
    pub icc: Option<Vec<u8>>,
}

/// 8-bit pixels: grey stays grey, everything else becomes RGB (alpha over white), except
/// that a reduced JPEG decode keeps its YCbCr planes at their own resolutions.
#[derive(Debug)]
pub enum Pixels {
    Gray(GrayImage),
    Rgb(RgbImage),
    YCbCr(YCbCrPlanes),
}

impl Pixels {
    pub(crate) fn dimensions(&self) -> (u32, u32) {
        match self {
            Self::Gray(image) => image.dimensions(),
            Self::Rgb(image) => image.dimensions(),
            Self::YCbCr(planes) => planes.luma.dimensions(),
        }
    }
}

/// JFIF's luma and chroma planes, the chroma ones at their own (subsampled) resolution.
/// Resized plane by plane, so the chroma is upsampled by the same Lanczos pass that makes
/// the rendition and converted to RGB only at the rendition's size, where there are fewest
/// pixels to convert.
#[derive(Debug)]
pub struct YCbCrPlanes {
    pub luma: GrayImage,
    pub cb: GrayImage,
    pub cr: GrayImage,
    /// A chroma plane's size over the luma plane's, across and down (e.g. ½ for 4:2:0):
    /// chroma sample `i` covers luma samples `i / scale ..(i + 1) / scale`.
    pub chroma_scale: (f64, f64),
}
