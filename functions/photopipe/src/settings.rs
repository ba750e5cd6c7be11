//! Settings read from a function's environment (set by CDK from `cdk.json` context, and by
//! the local runner), with the defaults documented in the README, and the rendition grammar.
//! `contract/settings.json` and `contract/renditions.json` hold the same facts for the CDK
//! app; the tests below hold this module to them.

use std::str::FromStr;

use crate::error::{PipelineError, Result};

/// The prefix under which uploads are watched; outputs never go there.
pub const PHOTOS_PREFIX: &str = "photos/";
/// Where rejected originals go in the dropbox (outside the watched `photos/`).
pub const QUARANTINE_PREFIX: &str = "rejected/";

/// The object tag cleanup puts on an original's exact version once its fate is settled; the
/// dropbox's lifecycle expires a noncurrent version only when it carries it, so a version
/// never archived or quarantined is never expired.
pub mod outcome_tag {
    pub const KEY: &str = "photopipe-outcome";
    /// Its copy at Wasabi is verified.
    pub const ARCHIVED: &str = "archived";
    /// It is copied under `rejected/` with its reason.
    pub const QUARANTINED: &str = "quarantined";
}

/// The environment variables the functions read.
pub mod env {
    pub const MAX_BYTES: &str = "MAX_BYTES";
    pub const MAX_PIXELS: &str = "MAX_PIXELS";
    pub const THUMBNAIL_RENDITIONS: &str = "THUMBNAIL_RENDITIONS";
    pub const THUMBNAILS_BUCKET: &str = "THUMBNAILS_BUCKET";
    pub const WASABI_ENDPOINT: &str = "WASABI_ENDPOINT";
    pub const WASABI_REGION: &str = "WASABI_REGION";
    pub const WASABI_BUCKET: &str = "WASABI_BUCKET";
    pub const WASABI_SECRET_NAME: &str = "WASABI_SECRET_NAME";
    pub const WASABI_READ_SECRET_NAME: &str = "WASABI_READ_SECRET_NAME";
    pub const WASABI_SETUP_SECRET_NAME: &str = "WASABI_SETUP_SECRET_NAME";
    /// The function's memory size in MB, set by Lambda itself (and by the local Lambda host)
    /// from the function's configuration: a reserved name, never set by the CDK app.
    pub const FUNCTION_MEMORY_SIZE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
}

/// The Secrets Manager secret read when `WASABI_SECRET_NAME` is not set.
pub const DEFAULT_WASABI_SECRET_NAME: &str = "demo/wasabi/access";
/// The Secrets Manager secret read when `WASABI_READ_SECRET_NAME` is not set.
pub const DEFAULT_WASABI_READ_SECRET_NAME: &str = "demo/wasabi/read";
/// The Secrets Manager secret read when `WASABI_SETUP_SECRET_NAME` is not set.
pub const DEFAULT_WASABI_SETUP_SECRET_NAME: &str = "demo/wasabi/setup";

/// Input limits, checked before anything is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Largest original accepted, in bytes (`MAX_BYTES`, default and at most 5 GiB: the
    /// largest object one PutObject uploads, which every step handles: validate and
    /// thumbnail read only its header where it is too large to hold in memory, archive
    /// uploads it in parts, quarantine copies it in parts beyond CopyObject's 5 GiB).
    pub max_bytes: u64,
    /// Largest width × height accepted (`MAX_PIXELS`, default 100 MP).
    pub max_pixels: u64,
    /// What a decode may use of the function's memory (from
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`); `None`, as in unit tests and the local CLI, is
    /// no limit.
    pub memory: Option<MemoryBudget>,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            max_bytes: 5 * 1024 * MIB,
            max_pixels: 100_000_000,
            memory: None,
        }
    }
}

impl InputLimits {
    pub fn from_env() -> Result<Self> {
        let defaults = Self::default();
        let memory = match std::env::var(env::FUNCTION_MEMORY_SIZE) {
            Ok(mb) if !mb.is_empty() => {
                let mb = mb.parse().map_err(|_| {
                    PipelineError::Configuration(format!(
                        "environment variable {}={mb:?} is not valid",
                        env::FUNCTION_MEMORY_SIZE
                    ))
                })?;
                Some(MemoryBudget::for_function(mb))
            }
            _ => None,
        };
        Ok(Self {
            max_bytes: env_or(env::MAX_BYTES, defaults.max_bytes)?,
            max_pixels: env_or(env::MAX_PIXELS, defaults.max_pixels)?,
            memory,
        })
    }

    /// Rejects an empty or over-large original from its size alone, before reading it.
    pub fn check_size(&self, size: u64) -> Result<()> {
        if size == 0 {
            return Err(PipelineError::InvalidImage("empty file".into()));
        }
        if size > self.max_bytes {
            return Err(PipelineError::InvalidImage(format!(
                "file is {size} bytes, limit {} bytes",
                self.max_bytes
            )));
        }
        Ok(())
    }
}

/// The memory an image may use: the function's memory size less a reserve for the rest of
/// the process, so that no input takes the function past its memory size (which Lambda
/// answers by killing it, `Runtime.OutOfMemory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The function's memory size, in MB (MiB, as Lambda counts them).
    pub function_mb: u64,
    /// What one image may use at its peak: the original's bytes, held in memory for as long
    /// as it is decoded, and every buffer of its decode (the thumbnails it makes included).
    pub decode_bytes: u64,
}

impl MemoryBudget {
    /// What the process holds besides the decode: the Lambda runtime, the Tokio threads,
    /// the AWS SDK with its TLS and connection pool, the C libraries' code and the
    /// allocator's slack (a Rust function's whole process is 20–40 MB before its first
    /// decode), with room to spare.
    pub const RUNTIME_RESERVE_BYTES: u64 = 96 * MIB;

    /// The budget of a function of `function_mb` MB: its memory less
    /// [`Self::RUNTIME_RESERVE_BYTES`], 928 MiB of 1024 MB. (An original is read into one
    /// buffer of its size, held once; one larger than the budget is never read whole.)
    pub fn for_function(function_mb: u64) -> Self {
        Self {
            function_mb,
            decode_bytes: function_mb
                .saturating_mul(MIB)
                .saturating_sub(Self::RUNTIME_RESERVE_BYTES),
        }
    }
}

const MIB: u64 = 1024 * 1024;

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
    /// Lossy WebP (libwebp) at the rendition's quality.
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
    /// JPEG and WebP quality 1–100 (PNG is lossless and ignores it).
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
        let (width, height) = size
            .split_once('x')
            .and_then(|(w, h)| Some((digits(w)?, digits(h)?)))
            .ok_or_else(|| invalid("no WxH box"))?;
        if !(1..=8192).contains(&width) || !(1..=8192).contains(&height) {
            return Err(invalid("the box must be between 1x1 and 8192x8192"));
        }
        let mut rendition = Self {
            width: width as u32,
            height: height as u32,
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
                    let quality =
                        digits(&quality[1..]).ok_or_else(|| invalid("quality is not a number"))?;
                    if !(1..=100).contains(&quality) {
                        return Err(invalid("quality must be 1-100"));
                    }
                    rendition.quality = quality as u8;
                }
                other => return Err(invalid(&format!("unknown option {other:?}"))),
            }
        }
        Ok(rendition)
    }
}

/// A number written in ASCII digits alone (no sign, no spaces); one too large for `u64`
/// is `u64::MAX`, so that it fails the range check as a number rather than as text.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
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
        match std::env::var(env::THUMBNAIL_RENDITIONS) {
            Ok(specs) if !specs.trim().is_empty() => specs.parse(),
            _ => Ok(Self::default()),
        }
    }
}

/// Which of the three Wasabi keys a function signs with; each has its own secret, and each
/// function is given (and may read) only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasabiKey {
    /// archive's: writes new objects and reads them back (`WASABI_SECRET_NAME`).
    Write,
    /// cleanup's, and anything else that only verifies: reads (`WASABI_READ_SECRET_NAME`).
    Read,
    /// The bucket provider's (`cdk deploy`): creates the bucket and checks it
    /// (`WASABI_SETUP_SECRET_NAME`); an operator may deactivate it between deploys.
    Setup,
}

impl WasabiKey {
    /// The environment variable naming this key's secret.
    pub fn secret_variable(self) -> &'static str {
        match self {
            Self::Write => env::WASABI_SECRET_NAME,
            Self::Read => env::WASABI_READ_SECRET_NAME,
            Self::Setup => env::WASABI_SETUP_SECRET_NAME,
        }
    }

    /// The secret read when [`Self::secret_variable`] is not set.
    pub fn default_secret_name(self) -> &'static str {
        match self {
            Self::Write => DEFAULT_WASABI_SECRET_NAME,
            Self::Read => DEFAULT_WASABI_READ_SECRET_NAME,
            Self::Setup => DEFAULT_WASABI_SETUP_SECRET_NAME,
        }
    }
}

/// Where the archive lives (Wasabi, or its local stand-in), and the secret of the key a
/// function signs with there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasabiSettings {
    /// `WASABI_ENDPOINT`, e.g. `https://s3.eu-central-2.wasabisys.com`.
    pub endpoint: String,
    /// `WASABI_REGION`.
    pub region: String,
    /// `WASABI_BUCKET`.
    pub bucket: String,
    /// The secret of the function's key: `WASABI_SECRET_NAME` (default `demo/wasabi/access`),
    /// `WASABI_READ_SECRET_NAME` (`demo/wasabi/read`) or `WASABI_SETUP_SECRET_NAME`
    /// (`demo/wasabi/setup`), as [`WasabiKey`] says.
    pub secret_name: String,
}

impl WasabiSettings {
    /// The settings of a function that signs with `key`.
    pub fn from_env(key: WasabiKey) -> Result<Self> {
        Ok(Self {
            endpoint: required(env::WASABI_ENDPOINT)?,
            region: required(env::WASABI_REGION)?,
            bucket: required(env::WASABI_BUCKET)?,
            secret_name: env_or(key.secret_variable(), key.default_secret_name().to_owned())?,
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

    fn contract(text: &str) -> serde_json::Value {
        serde_json::from_str(text).expect("contract file is JSON")
    }

    fn renditions() -> serde_json::Value {
        contract(include_str!("../../../contract/renditions.json"))
    }

    #[test]
    fn parses_every_valid_rendition_of_the_contract() {
        for case in renditions()["valid"].as_array().expect("valid") {
            let spec = case["spec"].as_str().expect("spec");
            let parsed: Rendition = spec.parse().unwrap_or_else(|e| panic!("{spec:?}: {e}"));
            let mode = match parsed.mode {
                FitMode::Fit => "fit",
                FitMode::Fill => "fill",
            };
            let format = match parsed.format {
                OutputFormat::Jpeg => "jpeg",
                OutputFormat::Png => "png",
                OutputFormat::Webp => "webp",
            };
            let actual = serde_json::json!({
                "spec": spec, "width": parsed.width, "height": parsed.height, "mode": mode,
                "format": format, "quality": parsed.quality, "upscale": parsed.upscale,
                "canonical": parsed.to_string(), "label": parsed.label(),
                "extension": parsed.format.extension(),
            });
            assert_eq!(&actual, case, "{spec:?}");
            assert_eq!(parsed.to_string().parse::<Rendition>(), Ok(parsed));
        }
    }

    #[test]
    fn refuses_every_invalid_rendition_of_the_contract_with_its_reason() {
        for case in renditions()["invalid"].as_array().expect("invalid") {
            let spec = case["spec"].as_str().expect("spec");
            let why = case["error"].as_str().expect("error");
            let err = spec.parse::<Rendition>().expect_err(spec);
            assert_eq!(err.error_name(), "Photo.Configuration");
            assert!(err.to_string().contains(why), "{spec:?}: {err}");
        }
    }

    #[test]
    fn rendition_lists_of_the_contract() {
        for case in renditions()["lists"].as_array().expect("lists") {
            let specs: Vec<&str> = case["specs"]
                .as_array()
                .expect("specs")
                .iter()
                .map(|s| s.as_str().expect("spec"))
                .collect();
            let parsed = specs.join(",").parse::<ThumbnailSettings>();
            match case["error"].as_str() {
                Some(why) => {
                    let err = parsed.expect_err(why);
                    assert!(err.to_string().contains(why), "{specs:?}: {err}");
                }
                None => {
                    let labels: Vec<String> = parsed
                        .unwrap_or_else(|e| panic!("{specs:?}: {e}"))
                        .renditions
                        .iter()
                        .map(Rendition::label)
                        .collect();
                    assert_eq!(serde_json::json!(labels), case["labels"], "{specs:?}");
                }
            }
        }
    }

    #[test]
    fn defaults_prefixes_and_variables_are_the_contracts() {
        let settings = contract(include_str!("../../../contract/settings.json"));
        assert_eq!(settings["prefixes"]["photos"], PHOTOS_PREFIX);
        assert_eq!(settings["prefixes"]["quarantine"], QUARANTINE_PREFIX);
        let tag = &settings["lifecycle"]["outcomeTag"];
        assert_eq!(
            (&tag["key"], &tag["archived"], &tag["quarantined"]),
            (
                &outcome_tag::KEY.into(),
                &outcome_tag::ARCHIVED.into(),
                &outcome_tag::QUARANTINED.into()
            )
        );
        let setting = |name: &str| &settings["settings"][name];
        let limits = InputLimits::default();
        assert_eq!(setting("maxBytes")["default"], limits.max_bytes);
        assert_eq!(setting("maxPixels")["default"], limits.max_pixels);
        let default_specs: Vec<&str> = setting("thumbnailRenditions")["default"]
            .as_array()
            .expect("default renditions")
            .iter()
            .map(|spec| spec.as_str().expect("spec"))
            .collect();
        assert_eq!(
            default_specs.join(",").parse::<ThumbnailSettings>(),
            Ok(ThumbnailSettings::default())
        );
        assert_eq!(setting("thumbnailRenditions")["separator"], ",");
        for (name, key) in [
            ("wasabiSecretName", WasabiKey::Write),
            ("wasabiReadSecretName", WasabiKey::Read),
            ("wasabiSetupSecretName", WasabiKey::Setup),
        ] {
            assert_eq!(
                setting(name)["default"],
                key.default_secret_name(),
                "{name}"
            );
            assert_eq!(setting(name)["env"], key.secret_variable(), "{name}");
            assert_eq!(
                setting(name)["pattern"],
                setting("wasabiSecretName")["pattern"],
                "{name}"
            );
        }
        for (name, variable) in [
            ("maxBytes", env::MAX_BYTES),
            ("maxPixels", env::MAX_PIXELS),
            ("thumbnailRenditions", env::THUMBNAIL_RENDITIONS),
            ("wasabiEndpoint", env::WASABI_ENDPOINT),
            ("wasabiRegion", env::WASABI_REGION),
            ("wasabiBucket", env::WASABI_BUCKET),
            ("wasabiSecretName", env::WASABI_SECRET_NAME),
        ] {
            assert_eq!(setting(name)["env"], variable, "{name}");
        }
        assert_eq!(
            settings["environment"]["thumbnailsBucket"],
            env::THUMBNAILS_BUCKET
        );
    }

    #[test]
    fn the_memory_budget_leaves_the_runtime_its_room() {
        let budget = MemoryBudget::for_function(1024);
        assert_eq!(budget.function_mb, 1024);
        assert_eq!(budget.decode_bytes, (1024 - 96) * MIB);
        // Smaller than its reserve: nothing left to decode with, not an overflow.
        assert_eq!(MemoryBudget::for_function(64).decode_bytes, 0);
    }

    #[test]
    fn the_size_check_refuses_empty_and_oversized_originals() {
        let limits = InputLimits {
            max_bytes: 100,
            max_pixels: 1,
            memory: None,
        };
        assert_eq!(
            limits.check_size(0),
            Err(PipelineError::InvalidImage("empty file".into()))
        );
        assert!(limits.check_size(100).is_ok());
        assert_eq!(
            limits.check_size(101),
            Err(PipelineError::InvalidImage(
                "file is 101 bytes, limit 100 bytes".into()
            ))
        );
    }
}
