//! Memory: what a decode needs at its peak, estimated from the header before a pixel is
//! decoded, and the budget it is held to ([`MemoryBudget`], from the function's memory
//! size), so that no image takes the function past its memory size, where Lambda kills it.
//!
//! Each decode path estimates its own buffers (`need` in each module of `decode/`); the
//! renditions made from the pixels it hands over are added here. The estimates are upper
//! bounds, checked against measured peaks by the tests below.

use std::fmt;

use photopipe::settings::{InputLimits, Rendition};

use crate::limits::megapixels;

/// What one decode path needs, from the header: its peak and the pixels it hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Need {
    /// Bytes at the decode's peak, every buffer it allocates counted.
    pub peak: u64,
    /// The size of the pixels it hands over and their bytes, held while the renditions
    /// are made from them.
    pub decoded: (u32, u32, u64),
    /// The image as a message names it, e.g. "100 MP 16-bit RGBA PNG".
    pub image: String,
}

impl Need {
    /// The decode's peak or, with the renditions made from its pixels, theirs: the decoded
    /// pixels held, every finished thumbnail held until the last is made, and the largest
    /// rendition's own buffers (the resize's intermediate rows, the resized image and its
    /// upright and sRGB copies, the encoder's output).
    pub(crate) fn with_renditions(mut self, renditions: &[Rendition]) -> Self {
        let (width, height, held) = self.decoded;
        let longest = u64::from(width.max(height));
        let sized = |r: &Rendition| u64::from(r.width) * u64::from(r.height);
        let finished: u64 = renditions.iter().map(|r| 3 * sized(r)).sum();
        let working = renditions
            .iter()
            .map(|r| 3 * u64::from(r.width.max(r.height)) * longest + 12 * sized(r))
            .max()
            .unwrap_or(0);
        self.peak = self.peak.max(held + finished + working);
        self
    }
}

/// A decode that does not fit in the function's memory: what it would need and what the
/// function has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverBudget {
    /// The image as the message names it, e.g. "100 MP 16-bit RGBA PNG".
    pub image: String,
    /// Its decode's estimated peak, in bytes.
    pub needed: u64,
    /// The function's memory size, in MB.
    pub function_mb: u64,
    /// What the budget leaves the decode beside the original's bytes, in bytes.
    pub available: u64,
}

impl fmt::Display for OverBudget {
    /// "100 MP 16-bit RGBA PNG needs about 1054 MB to decode, the function has 1024 MB (927
    /// MB of it free to decode with)": in MB as Lambda counts them (MiB), the function's own
    /// unit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} needs about {} MB to decode, the function has {} MB ({} MB of it free to \
             decode with)",
            self.image,
            self.needed.div_ceil(MIB),
            self.function_mb,
            self.available / MIB
        )
    }
}

const MIB: u64 = 1024 * 1024;

/// Whether `need` fits in the budget of `limits` (always, without one) beside the
/// `original` bytes of the image, which are held for as long as it is decoded.
pub(crate) fn check(need: &Need, original: usize, limits: &InputLimits) -> Result<(), OverBudget> {
    let Some(budget) = limits.memory else {
        return Ok(());
    };
    let available = budget.decode_bytes.saturating_sub(original as u64);
    if need.peak > available {
        return Err(OverBudget {
            image: need.image.clone(),
            needed: need.peak,
            function_mb: budget.function_mb,
            available,
        });
    }
    Ok(())
}

/// Whether an original of `size` bytes may be read whole into memory under the budget of
/// `limits` (always, without one): what the budget leaves beside it is for its decode, which
/// [`check`] holds to that. One that may not is never read whole: validate proves it from
/// its bytes as they stream past (or accepts it on its header), thumbnail skips it.
pub fn holds_original(size: u64, limits: &InputLimits) -> bool {
    limits
        .memory
        .is_none_or(|budget| size <= budget.decode_bytes)
}

/// A size in bytes for a person, in the units Lambda gives memory in (MB of 2^20 bytes, GB
/// of 2^30): "700 KB", "64 MB", "1.5 GB".
pub fn show_bytes(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const GIB: u64 = 1 << 30;
    match bytes {
        b if b >= GIB => format!("{:.1} GB", b as f64 / GIB as f64),
        b if b >= MIB => format!("{} MB", b.div_ceil(MIB)),
        b if b >= KIB => format!("{} KB", b.div_ceil(KIB)),
        b => format!("{b} bytes"),
    }
}

/// `width`×`height` as a message gives it: "100 MP" (the pixel count, as the limits name it).
pub(crate) fn mp(width: u32, height: u32) -> String {
    format!("{} MP", megapixels(u64::from(width) * u64::from(height)))
}

/// Width × height × `bytes_per_pixel`, in bytes.
pub(crate) fn area(width: u32, height: u32, bytes_per_pixel: u64) -> u64 {
    u64::from(width) * u64::from(height) * bytes_per_pixel
}

/// What a decoder's small allocations may add to the buffers counted: tables, row
/// buffers, the zlib window, the allocator's rounding.
pub(crate) const SLACK: u64 = 4 << 20;

#[cfg(test)]
mod tests {
    use std::process::Command;

    use image::{DynamicImage, ImageBuffer, Rgb, RgbImage, Rgba};

    use photopipe::settings::MemoryBudget;

    use super::*;
    use crate::decode::{self, Proof};
    use crate::plan::DecodeFor;
    use crate::test_support::{black_png, encode_jpeg, encode_png};
    use crate::{inspect, make_thumbnails};

    #[test]
    fn the_message_names_the_image_what_it_needs_and_what_there_is() {
        let limits = InputLimits {
            memory: Some(MemoryBudget::for_function(1024)),
            ..InputLimits::default()
        };
        let need = Need {
            peak: 1_100_000_000,
            decoded: (10_000, 10_000, 300_000_000),
            image: "100 MP 16-bit RGBA PNG".into(),
        };
        // 928 MiB less a 1 MiB original.
        let over = check(&need, 1 << 20, &limits).expect_err("over");
        assert_eq!(
            over.to_string(),
            "100 MP 16-bit RGBA PNG needs about 1050 MB to decode, the function has 1024 MB \
             (927 MB of it free to decode with)"
        );
        let fits = Need {
            peak: 900 << 20,
            ..need
        };
        assert_eq!(check(&fits, 1 << 20, &limits), Ok(()));
        assert!(
            check(&fits, 64 << 20, &limits).is_err(),
            "a 64 MiB original leaves 864"
        );
        assert_eq!(check(&fits, 64 << 20, &InputLimits::default()), Ok(()));
    }

    #[test]
    fn renditions_add_their_buffers_to_what_the_decode_hands_over() {
        let need = Need {
            peak: 10,
            decoded: (1000, 500, 1_500_000),
            image: "x".into(),
        };
        let made = need.with_renditions(&["256x256".parse().expect("spec")]);
        // Held 1.5 MB, one finished 256×256 (196 608), the largest's buffers:
        // 3 × 256 × 1000 + 12 × 65 536.
        assert_eq!(made.peak, 1_500_000 + 196_608 + 768_000 + 786_432);
    }

    #[test]
    fn a_100_mp_16_bit_png_needs_more_than_1024_mb_a_12_mp_jpeg_at_an_eighth_little() {
        let limits = InputLimits::default();
        let png = black_png(10_000, 10_000, png::ColorType::Rgba, png::BitDepth::Sixteen);
        let inspection = inspect(&png, &limits).expect("within the pixel limit");
        let need = decode::need(&png, &inspection, DecodeFor::Proof).expect("header");
        assert_eq!(need.image, "100 MP 16-bit RGBA PNG");
        // 800 MB of RGBA16, then 300 MB of RGB8 made from it.
        assert!(need.peak >= 1_100_000_000, "{}", need.peak);
        assert!(need.peak > 1024 * MIB);

        let jpeg = encode_jpeg(&RgbImage::from_fn(4000, 3000, |x, y| {
            Rgb([(x % 251) as u8, (y % 241) as u8, 90])
        }));
        let inspection = inspect(&jpeg, &limits).expect("valid");
        // A 1/8 decode is 500×375, from 187 500 blocks a plane: a few MB with the slack,
        // where a full decode would hold 36 MB of RGB alone. validate's proof takes it
        // from jpeg-decoder, a 128×128 rendition from the reduced decoder.
        let proof = decode::need(&jpeg, &inspection, DecodeFor::Proof).expect("header");
        assert_eq!((proof.decoded.0, proof.decoded.1), (500, 375));
        assert_eq!(proof.image, "12 MP baseline JPEG");
        assert!(proof.peak < 8 * MIB, "{}", proof.peak);
        let renditions = ["128x128".parse().expect("spec")];
        let reduced =
            decode::need(&jpeg, &inspection, DecodeFor::Renditions(&renditions)).expect("header");
        assert_eq!((reduced.decoded.0, reduced.decoded.1), (500, 375));
        assert!(reduced.peak < 8 * MIB, "{}", reduced.peak);
    }

    #[test]
    fn a_100_mp_16_bit_png_is_proved_row_by_row_within_1024_mb_a_truncated_one_refused() {
        let png = black_png(10_000, 10_000, png::ColorType::Rgba, png::BitDepth::Sixteen);
        let limits = InputLimits {
            memory: Some(MemoryBudget::for_function(1024)),
            ..InputLimits::default()
        };
        let inspection = inspect(&png, &limits).expect("within the pixel limit");
        match decode::prove(&png, &inspection, &limits) {
            Ok(Proof::Streamed(over)) => assert_eq!(
                over.to_string(),
                "100 MP 16-bit RGBA PNG needs about 1054 MB to decode, the function has \
                 1024 MB (927 MB of it free to decode with)"
            ),
            other => panic!("{other:?}"),
        }
        for cut in [png.len() / 2, png.len() - 20] {
            let error = decode::prove(&png[..cut], &inspection, &limits).expect_err("truncated");
            assert_eq!(error.error_name(), "Photo.InvalidImage", "{error}");
        }
    }

    #[test]
    fn an_original_too_large_to_hold_is_proved_as_it_streams_past_or_on_its_header() {
        // A 2 GiB original in a function left 16 MiB: never read whole. Its PNG rows (16 000
        // bytes each) are read as they arrive; a JPEG is accepted on its header.
        let limits = InputLimits {
            memory: Some(MemoryBudget {
                function_mb: 112,
                decode_bytes: 16 * MIB,
            }),
            ..InputLimits::default()
        };
        let size = 2 << 30;
        assert!(!crate::holds_original(size, &limits));
        assert!(crate::holds_original(16 * MIB, &limits));
        assert!(crate::holds_original(size, &InputLimits::default()));
        let png = black_png(2000, 1000, png::ColorType::Rgba, png::BitDepth::Sixteen);
        let inspection = inspect(&png, &limits).expect("valid");
        let head = &png[..png.len().min(256 << 10)];
        let proof = crate::prove_streamed(&png[..], head, size, &inspection, &limits);
        let Ok(Proof::Streamed(over)) = proof else {
            panic!("{proof:?}")
        };
        assert_eq!(
            over.to_string(),
            "2 MP 16-bit RGBA PNG of 2.0 GB needs about 2073 MB to decode, the function has \
             112 MB (16 MB of it free to decode with)"
        );
        let cut = &png[..png.len() - 20];
        let error =
            crate::prove_streamed(cut, head, size, &inspection, &limits).expect_err("truncated");
        assert!(
            error.to_string().starts_with("PNG data is corrupt"),
            "{error}"
        );

        let jpeg = encode_jpeg(&RgbImage::from_pixel(600, 400, Rgb([1, 2, 3])));
        let inspection = inspect(&jpeg, &limits).expect("valid");
        // Nothing of it is read beyond its header.
        let nothing: &[u8] = &[];
        let proof = crate::prove_streamed(nothing, &jpeg, size, &inspection, &limits);
        let Ok(Proof::Header(over)) = proof else {
            panic!("{proof:?}")
        };
        assert_eq!(
            over.to_string(),
            "0.2 MP baseline JPEG of 2.0 GB needs about 2053 MB to decode, the function has \
             112 MB (16 MB of it free to decode with)"
        );
    }

    #[test]
    fn sizes_are_shown_in_lambdas_units() {
        assert_eq!(crate::show_bytes(100), "100 bytes");
        assert_eq!(crate::show_bytes(700 << 10), "700 KB");
        assert_eq!(crate::show_bytes(64 << 20), "64 MB");
        assert_eq!(crate::show_bytes(3 << 29), "1.5 GB");
        assert_eq!(crate::show_bytes(3_000_000_000), "2.8 GB");
    }

    /// The cases [`estimates_hold_above_measured_peaks`] measures, each in a process of its
    /// own: an image, what it is decoded for, and whether a 1024 MB budget is set.
    const CASES: &[&str] = &[
        "png-rgba16-proof",
        "png-palette-trns-proof",
        "png-rgb-thumbnail",
        "png-100mp-rows",
        "gif-proof",
        "jpeg-baseline-proof",
        "jpeg-baseline-thumbnail",
        "jpeg-progressive-proof",
        "jpeg-progressive-half",
        "webp-lossless-proof",
        "webp-lossy-thumbnail",
        "heic-proof",
        "heic-thumbnail",
        "heic-10-bit-proof",
    ];

    /// Decodes each case in a child process (this test binary, running [`measure_case`])
    /// and holds the estimate to at least the rise of its peak resident memory.
    #[test]
    fn estimates_hold_above_measured_peaks() {
        let exe = std::env::current_exe().expect("test binary");
        for case in CASES {
            let output = Command::new(&exe)
                .args([
                    "memory::tests::measure_case",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                ])
                .env(MEASURE, case)
                .output()
                .expect("runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let line = stdout
                .lines()
                .find(|line| line.starts_with("measured "))
                .unwrap_or_else(|| {
                    panic!(
                        "{case}: {stdout}{}",
                        String::from_utf8_lossy(&output.stderr)
                    )
                });
            let numbers: Vec<u64> = line
                .split_whitespace()
                .skip(2)
                .map(|n| n.parse().expect("number"))
                .collect();
            let [peak, estimate] = numbers[..] else {
                panic!("{line}")
            };
            eprintln!(
                "{case:<26} measured {:>7.1} MiB, estimated {:>7.1} MiB",
                peak as f64 / MIB as f64,
                estimate as f64 / MIB as f64
            );
            assert!(peak <= estimate, "{line}");
        }
    }

    const MEASURE: &str = "PHOTOPIPE_MEASURE_CASE";

    #[test]
    #[ignore = "one case of estimates_hold_above_measured_peaks, run in a process of its own"]
    fn measure_case() {
        let case = std::env::var(MEASURE).expect("a case to measure");
        // The same path through a small image first: the code it runs becomes resident
        // (the runtime's reserve counts it), and only the buffers of the large one are
        // measured.
        let (small, renditions, _) = case_input(&case, 10);
        let inspection = inspect(&small, &InputLimits::default()).expect("valid");
        if renditions.is_empty() {
            decode::prove(&small, &inspection, &InputLimits::default()).expect("proves");
        } else {
            make_thumbnails(&small, &inspection, &renditions, &InputLimits::default())
                .expect("thumbnails");
        }
        drop(small);
        let (bytes, renditions, budget) = case_input(&case, 1);
        let limits = InputLimits {
            memory: budget.then(|| MemoryBudget::for_function(1024)),
            ..InputLimits::default()
        };
        let inspection = inspect(&bytes, &limits).expect("valid");
        let purpose = match renditions.as_slice() {
            [] => DecodeFor::Proof,
            renditions => DecodeFor::Renditions(renditions),
        };
        let mut estimate = decode::need(&bytes, &inspection, purpose)
            .expect("need")
            .peak;
        let resident = |field: &str| {
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            let line = status
                .lines()
                .find(|line| line.starts_with(field))
                .expect("field");
            let kb: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .expect("kB");
            kb * 1024
        };
        // The high-water mark starts again from what is resident now.
        std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
        let before = resident("VmRSS:");
        if renditions.is_empty() {
            let proof = decode::prove(&bytes, &inspection, &limits).expect("proves");
            if let Proof::Streamed(_) = proof {
                estimate = decode::png_rows_need(&bytes, inspection.width, inspection.height)
                    .expect("header")
                    .peak;
            }
            assert_eq!(matches!(proof, Proof::Streamed(_)), budget, "{proof:?}");
        } else {
            make_thumbnails(&bytes, &inspection, &renditions, &limits).expect("thumbnails");
        }
        let peak = resident("VmHWM:") - before;
        println!("measured {case} {peak} {estimate}");
    }

    /// A case's image (its sides divided by `divisor`), renditions (none: the proof) and
    /// whether it runs with the budget of a 1024 MB function.
    fn case_input(case: &str, divisor: u32) -> (Vec<u8>, Vec<Rendition>, bool) {
        let thumbnail = || vec!["256x256".parse().expect("spec")];
        let gradient = |w: u32, h: u32| {
            RgbImage::from_fn(w / divisor, h / divisor, |x, y| {
                Rgb([(x % 256) as u8, (y % 256) as u8, 128])
            })
        };
        let side = |v: u32| v / divisor;
        match case {
            "png-rgba16-proof" => {
                let image = ImageBuffer::from_fn(side(2000), side(1500), |x, y| {
                    Rgba([(x * 30) as u16, (y * 40) as u16, 9000, 40000u16])
                });
                (encode_png(&DynamicImage::ImageRgba16(image)), vec![], false)
            }
            "png-palette-trns-proof" => {
                let mut out = Vec::new();
                let mut encoder = png::Encoder::new(&mut out, side(3000), side(2000));
                encoder.set_color(png::ColorType::Indexed);
                encoder.set_palette(vec![10, 20, 30, 200, 100, 50]);
                encoder.set_trns(vec![0, 255]);
                let mut writer = encoder.write_header().expect("header");
                let data: Vec<u8> = (0..side(3000) * side(2000))
                    .map(|i| (i % 7 == 0) as u8)
                    .collect();
                writer.write_image_data(&data).expect("data");
                drop(writer);
                (out, vec![], false)
            }
            "png-rgb-thumbnail" => (
                encode_png(&DynamicImage::ImageRgb8(gradient(3000, 2000))),
                thumbnail(),
                false,
            ),
            "png-100mp-rows" => (
                black_png(
                    side(10_000),
                    side(10_000),
                    png::ColorType::Rgba,
                    png::BitDepth::Sixteen,
                ),
                vec![],
                true,
            ),
            "gif-proof" => {
                let mut gif = Vec::new();
                {
                    let mut encoder = image::codecs::gif::GifEncoder::new_with_speed(&mut gif, 30);
                    let frame = image::Frame::new(image::RgbaImage::from_pixel(
                        side(1500),
                        side(1000),
                        Rgba([200, 30, 30, 255]),
                    ));
                    encoder.encode_frame(frame).expect("frame");
                }
                (gif, vec![], false)
            }
            "jpeg-baseline-proof" => (encode_jpeg(&gradient(4000, 3000)), vec![], false),
            "jpeg-baseline-thumbnail" => (encode_jpeg(&gradient(4000, 3000)), thumbnail(), false),
            "jpeg-progressive-proof" | "jpeg-progressive-half" => {
                let image = gradient(3000, 2000);
                let mut out = Vec::new();
                let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
                encoder.set_progressive(true);
                encoder
                    .encode(
                        image.as_raw(),
                        image.width() as u16,
                        image.height() as u16,
                        jpeg_encoder::ColorType::Rgb,
                    )
                    .expect("encodes");
                // 1200×1200 needs more than the 1/8 image: jpeg-decoder, DCT-scaled.
                let renditions = match case {
                    "jpeg-progressive-half" => vec!["1200x1200".parse().expect("spec")],
                    _ => vec![],
                };
                (out, renditions, false)
            }
            "webp-lossless-proof" => {
                let mut webp = Vec::new();
                let image = image::RgbaImage::from_fn(side(2000), side(1500), |x, y| {
                    Rgba([(x % 256) as u8, (y % 256) as u8, 7, 200])
                });
                DynamicImage::ImageRgba8(image)
                    .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
                    .expect("webp encodes");
                (webp, vec![], false)
            }
            "webp-lossy-thumbnail" => (
                crate::libwebp::encode_lossy(&gradient(4000, 3000), 80).expect("encodes"),
                thumbnail(),
                false,
            ),
            "heic-proof" | "heic-thumbnail" | "heic-10-bit-proof" => {
                let fixture = match (divisor, case) {
                    (1, "heic-10-bit-proof") => "large-10bit.heic",
                    (1, _) => "large.heic",
                    _ => "grid.heic",
                };
                let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures")
                    .join(fixture);
                let renditions = match case {
                    "heic-thumbnail" => thumbnail(),
                    _ => vec![],
                };
                (std::fs::read(path).expect("fixture"), renditions, false)
            }
            other => panic!("no case {other}"),
        }
    }
}
