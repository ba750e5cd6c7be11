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

/// The thumbnail rendition: fit inside a box, never upscaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbnailSettings {
    /// `THUMBNAIL_WIDTH`, default 256.
    pub width: u32,
    /// `THUMBNAIL_HEIGHT`, default 256.
    pub height: u32,
    /// JPEG quality 1–100, `THUMBNAIL_QUALITY`, default 80.
    pub quality: u8,
}

impl Default for ThumbnailSettings {
    fn default() -> Self {
        Self {
            width: 256,
            height: 256,
            quality: 80,
        }
    }
}

impl ThumbnailSettings {
    pub fn from_env() -> Result<Self> {
        let defaults = Self::default();
        Self {
            width: env_or("THUMBNAIL_WIDTH", defaults.width)?,
            height: env_or("THUMBNAIL_HEIGHT", defaults.height)?,
            quality: env_or("THUMBNAIL_QUALITY", defaults.quality)?,
        }
        .validated()
    }

    /// Rejects settings no thumbnail can be made with.
    pub fn validated(self) -> Result<Self> {
        if self.width == 0 || self.height == 0 || self.width > 8192 || self.height > 8192 {
            return Err(PipelineError::Configuration(format!(
                "thumbnail box {}x{} must be between 1x1 and 8192x8192",
                self.width, self.height
            )));
        }
        if !(1..=100).contains(&self.quality) {
            return Err(PipelineError::Configuration(format!(
                "thumbnail quality {} must be 1-100",
                self.quality
            )));
        }
        Ok(self)
    }

    /// The folder in the thumbnails bucket for this rendition, e.g. `256x256`.
    pub fn label(&self) -> String {
        format!("{}x{}", self.width, self.height)
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
