//! The image formats we accept as originals, as validate records them for the later steps.

use serde::{Deserialize, Serialize};

/// The formats we accept as originals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
    /// HEIC and other HEVC-coded HEIF stills.
    Heif,
}

impl ImageFormat {
    /// The name people know the format by, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
            Self::Webp => "WebP",
            Self::Gif => "GIF",
            Self::Heif => "HEIC/HEIF",
        }
    }
}
