//! Settings read from a function's environment (set by CDK from `cdk.json` context, and by
//! the local runner), with the defaults documented in the README.

use std::str::FromStr;

use crate::error::{PipelineError, Result};

/// Input limits, checked before anything is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Largest original accepted, in bytes (`MAX_BYTES`, default 64 MiB).
    pub max_bytes: u64,
    /// Largest width × height accepted (`MAX_PIXELS`, default 100 MP).
    pub max_pixels: u64,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_pixels: 100_000_000,
        }
    }
}

impl InputLimits {
    pub fn from_env() -> Result<Self> {
        let defaults = Self::default();
        Ok(Self {
            max_bytes: env_or("MAX_BYTES", defaults.max_bytes)?,
            max_pixels: env_or("MAX_PIXELS", defaults.max_pixels)?,
        })
    }
}

/// How a rendition uses its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitMode {
    /// The whole image, inside the box.
    Fit,
    /// The box covered exactly, the image centre-cropped to the box's aspect ratio.
    Fill,
}

/// A thumbnail's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jpeg,
    Png,
    /// Lossless WebP (the pure-Rust encoder has no lossy mode; `quality` is not used).
    Webp,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }
}

/// One thumbnail made of every photo: `WxH[:fit|fill][:jpeg|png|webp][:qNN][:upscale]`,
/// e.g. `256x256` (fit, JPEG, quality 80, never upscaled) or `1024x768:fill:webp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendition {
    pub width: u32,
    pub height: u32,
    pub mode: FitMode,
    pub format: OutputFormat,
    /// JPEG quality 1–100.
    pub quality: u8,
    /// Enlarge images smaller than the box (off by default).
    pub upscale: bool,
}

impl Default for Rendition {
    fn default() -> Self {
        Self {
            width: 256,
            height: 256,
            mode: FitMode::Fit,
            format: OutputFormat::Jpeg,
            quality: 80,
            upscale: false,
        }
    }
}

impl FromStr for Rendition {
    type Err = PipelineError;

    fn from_str(spec: &str) -> Result<Self> {
        let invalid = |why: &str| {
            PipelineError::Configuration(format!(
                "thumbnail rendition {spec:?}: {why} (expected WxH[:fit|fill][:jpeg|png|webp][:qNN][:upscale])"
            ))
        };
        let mut parts = spec.trim().split(':');
        let size = parts.next().unwrap_or_default();
        let (width, height) = size.split_once('x').ok_or_else(|| invalid("no WxH box"))?;
        let mut rendition = Self {
            width: width
                .parse()
                .map_err(|_| invalid("width is not a number"))?,
            height: height
                .parse()
                .map_err(|_| invalid("height is not a number"))?,
            ..Self::default()
        };
        for part in parts {
            match part {
                "fit" => rendition.mode = FitMode::Fit,
                "fill" => rendition.mode = FitMode::Fill,
                "jpeg" | "jpg" => rendition.format = OutputFormat::Jpeg,
                "png" => rendition.format = OutputFormat::Png,
                "webp" => rendition.format = OutputFormat::Webp,
                "upscale" => rendition.upscale = true,
                quality if quality.starts_with('q') => {
                    rendition.quality = quality[1..]
                        .parse()
                        .map_err(|_| invalid("quality is not a number"))?;
                }
                other => return Err(invalid(&format!("unknown option {other:?}"))),
            }
        }
        if !(1..=8192).contains(&rendition.width) || !(1..=8192).contains(&rendition.height) {
            return Err(invalid("the box must be between 1x1 and 8192x8192"));
        }
        if !(1..=100).contains(&rendition.quality) {
            return Err(invalid("quality must be 1-100"));
        }
        Ok(rendition)
    }
}

impl std::fmt::Display for Rendition {
    /// The canonical spec, recorded on every thumbnail to recognise it later.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.mode {
            FitMode::Fit => "fit",
            FitMode::Fill => "fill",
        };
        let format = match self.format {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
        };
        write!(
            f,
            "{}x{}:{mode}:{format}:q{}",
            self.width, self.height, self.quality
        )?;
        if self.upscale {
            f.write_str(":upscale")?;
        }
        Ok(())
    }
}

impl Rendition {
    /// The folder in the thumbnails bucket, e.g. `256x256` or `1024x768-fill`.
    pub fn label(&self) -> String {
        let mut label = format!("{}x{}", self.width, self.height);
        if self.mode == FitMode::Fill {
            label.push_str("-fill");
        }
        if self.upscale {
            label.push_str("-up");
        }
        label
    }
}

/// Every rendition made of each photo (`THUMBNAIL_RENDITIONS`, comma-separated, default
/// `256x256`); all come from one decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailSettings {
    pub renditions: Vec<Rendition>,
}

impl Default for ThumbnailSettings {
    fn default() -> Self {
        Self {
            renditions: vec![Rendition::default()],
        }
    }
}

impl FromStr for ThumbnailSettings {
    type Err = PipelineError;

    fn from_str(specs: &str) -> Result<Self> {
        let renditions = specs
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<Rendition>>>()?;
        for (index, rendition) in renditions.iter().enumerate() {
            let same_place = |other: &&Rendition| {
                other.label() == rendition.label() && other.format == rendition.format
            };
            if renditions[..index].iter().any(|other| same_place(&other)) {
                return Err(PipelineError::Configuration(format!(
                    "thumbnail renditions {specs:?}: two would share the folder {} and format {}",
                    rendition.label(),
                    rendition.format.extension()
                )));
            }
        }
        Ok(Self { renditions })
    }
}

impl ThumbnailSettings {
    pub fn from_env() -> Result<Self> {
        match std::env::var("THUMBNAIL_RENDITIONS") {
            Ok(specs) if !specs.trim().is_empty() => specs.parse(),
            _ => Ok(Self::default()),
        }
    }
}

/// Where the archive lives (Wasabi, or its local stand-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasabiSettings {
    /// `WASABI_ENDPOINT`, e.g. `https://s3.eu-central-2.wasabisys.com`.
    pub endpoint: String,
    /// `WASABI_REGION`.
    pub region: String,
    /// `WASABI_BUCKET`.
    pub bucket: String,
    /// `WASABI_SECRET_NAME`, default `demo/wasabi/access`.
    pub secret_name: String,
}

impl WasabiSettings {
    pub fn from_env() -> Result<Self> {
        Ok(Self {
            endpoint: required("WASABI_ENDPOINT")?,
            region: required("WASABI_REGION")?,
            bucket: required("WASABI_BUCKET")?,
            secret_name: env_or("WASABI_SECRET_NAME", "demo/wasabi/access".to_owned())?,
        })
    }
}

/// A required setting.
pub fn required(name: &str) -> Result<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .ok_or_else(|| {
            PipelineError::Configuration(format!("environment variable {name} is not set"))
        })
}

fn env_or<T: FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value.parse().map_err(|_| {
            PipelineError::Configuration(format!(
                "environment variable {name}={value:?} is not valid"
            ))
        }),
        _ => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rendition_specs() {
        assert_eq!("256x256".parse::<Rendition>(), Ok(Rendition::default()));
        let big: Rendition = "1024x768:fill:webp:q70:upscale".parse().expect("valid");
        assert_eq!(
            big,
            Rendition {
                width: 1024,
                height: 768,
                mode: FitMode::Fill,
                format: OutputFormat::Webp,
                quality: 70,
                upscale: true
            }
        );
        assert_eq!(big.to_string(), "1024x768:fill:webp:q70:upscale");
        assert_eq!(big.label(), "1024x768-fill-up");
        assert_eq!(big.to_string().parse::<Rendition>(), Ok(big));
    }

    #[test]
    fn refuses_bad_specs_with_the_reason() {
        for (spec, why) in [
            ("256", "no WxH box"),
            ("0x256", "between 1x1 and 8192x8192"),
            ("256x256:q0", "quality must be 1-100"),
            ("256x256:gif", "unknown option \"gif\""),
        ] {
            let err = spec.parse::<Rendition>().expect_err(spec);
            assert_eq!(err.error_name(), "Photo.Configuration");
            assert!(err.to_string().contains(why), "{err}");
        }
        let clash = "256x256,256x256:q90"
            .parse::<ThumbnailSettings>()
            .expect_err("same folder");
        assert!(
            clash.to_string().contains("share the folder 256x256"),
            "{clash}"
        );
        let settings: ThumbnailSettings = "256x256, 256x256:webp ,1024x1024:fill"
            .parse()
            .expect("valid");
        assert_eq!(settings.renditions.len(), 3);
    }
}
