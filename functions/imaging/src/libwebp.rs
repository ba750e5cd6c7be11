//! libwebp behind a safe interface: WebP decoded straight to a reduced size (libwebp scales
//! row by row while it decodes, so a large photo never exists at full size in memory, and
//! its SIMD decoder is several times faster than the pure-Rust one), and lossy WebP encoding
//! for thumbnails. This module is the workspace's only unsafe code; each block says why it
//! is sound.
#![allow(unsafe_code)]

use std::ffi::c_int;

use image::RgbImage;
use libwebp_sys as sys;

/// What the bitstream header says, read without decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Features {
    pub width: u32,
    pub height: u32,
    pub has_alpha: bool,
    pub animated: bool,
    /// VP8L: decoded whole before it is scaled (its backward references reach anywhere).
    pub lossless: bool,
}

/// Reads the header of a WebP file (simple or extended format).
pub(crate) fn features(bytes: &[u8]) -> Result<Features, String> {
    let mut features = std::mem::MaybeUninit::<sys::WebPBitstreamFeatures>::uninit();
    // SAFETY: `bytes` is a live slice whose pointer and length are passed together, and
    // `features` points to writable memory of the struct's size; libwebp fills all of it
    // when it returns OK, and reads no further than `bytes.len()`.
    let status =
        unsafe { sys::WebPGetFeatures(bytes.as_ptr(), bytes.len(), features.as_mut_ptr()) };
    check(status)?;
    // SAFETY: VP8_STATUS_OK means WebPGetFeatures initialised every field.
    let features = unsafe { features.assume_init() };
    let dimension = |v: c_int| u32::try_from(v).map_err(|_| format!("dimension {v}"));
    Ok(Features {
        width: dimension(features.width)?,
        height: dimension(features.height)?,
        has_alpha: features.has_alpha != 0,
        animated: features.has_animation != 0,
        // WebPBitstreamFeatures.format: 0 mixed or undefined, 1 lossy, 2 lossless.
        lossless: features.format == 2,
    })
}

/// Decodes a still WebP at `width`×`height` (its own size, or smaller: libwebp's area
/// filter scales while decoding), with alpha composited over white.
pub(crate) fn decode(
    bytes: &[u8],
    features: &Features,
    width: u32,
    height: u32,
) -> Result<RgbImage, String> {
    let too_large = || format!("{width}×{height} is too large");
    let (w, h) = (
        c_int::try_from(width).map_err(|_| too_large())?,
        c_int::try_from(height).map_err(|_| too_large())?,
    );
    let channels = if features.has_alpha { 4 } else { 3 };
    let stride = w.checked_mul(channels).ok_or_else(too_large)?;
    let len = (stride as usize)
        .checked_mul(height as usize)
        .ok_or_else(too_large)?;
    let mut pixels = vec![0u8; len];

    let mut config = sys::WebPDecoderConfig::new().map_err(|()| "libwebp version mismatch")?;
    let scaled = (width, height) != (features.width, features.height);
    config.options.use_scaling = c_int::from(scaled);
    config.options.scaled_width = w;
    config.options.scaled_height = h;
    config.options.use_threads = 0;
    // Premultiplied RGBA: compositing over white is then one addition per channel.
    config.output.colorspace = if features.has_alpha {
        sys::WEBP_CSP_MODE::MODE_rgbA
    } else {
        sys::WEBP_CSP_MODE::MODE_RGB
    };
    config.output.is_external_memory = 1;
    config.output.u.RGBA = sys::WebPRGBABuffer {
        rgba: pixels.as_mut_ptr(),
        stride,
        size: len,
    };
    // SAFETY: `bytes` is a live slice passed with its length; the output buffer is
    // `pixels`, external memory of exactly `size` bytes with rows of `stride` bytes for the
    // `w`×`h` output libwebp was told to produce in this colour mode, and it outlives the
    // call. libwebp writes only inside it and keeps no pointer after returning.
    let status = unsafe { sys::WebPDecode(bytes.as_ptr(), bytes.len(), &raw mut config) };
    // SAFETY: frees only what libwebp allocated itself for this buffer (nothing, as the
    // memory is external); `pixels` is ours and untouched by it.
    unsafe { sys::WebPFreeDecBuffer(&raw mut config.output) };
    check(status)?;
    if features.has_alpha {
        pixels = pixels
            .chunks_exact(4)
            .flat_map(|px| {
                let paper = 255 - px[3];
                [0, 1, 2].map(|c| px[c].saturating_add(paper))
            })
            .collect();
    }
    RgbImage::from_raw(width, height, pixels).ok_or_else(|| "buffer size mismatch".into())
}

/// Encodes RGB pixels as lossy WebP at `quality` (1–100), with no metadata chunks.
pub(crate) fn encode_lossy(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let (width, height) = rgb.dimensions();
    let too_large = || format!("{width}×{height} is too large for WebP");
    let w = c_int::try_from(width).map_err(|_| too_large())?;
    let h = c_int::try_from(height).map_err(|_| too_large())?;
    let stride = w.checked_mul(3).ok_or_else(too_large)?;
    let mut output: *mut u8 = std::ptr::null_mut();
    // SAFETY: `rgb` holds exactly `h` rows of `stride` bytes (an RgbImage is packed), which
    // libwebp only reads; on success it points `output` at a buffer of the returned size
    // that it allocated and that we free below with WebPFree.
    let size = unsafe {
        sys::WebPEncodeRGB(
            rgb.as_raw().as_ptr(),
            w,
            h,
            stride,
            f32::from(quality),
            &raw mut output,
        )
    };
    if size == 0 || output.is_null() {
        return Err(format!("libwebp could not encode {width}×{height}"));
    }
    // SAFETY: libwebp returned a buffer of `size` initialised bytes at `output`; it is
    // copied out before being freed once, by the allocator that made it.
    let encoded = unsafe {
        let encoded = std::slice::from_raw_parts(output, size).to_vec();
        sys::WebPFree(output.cast());
        encoded
    };
    Ok(encoded)
}

fn check(status: sys::VP8StatusCode) -> Result<(), String> {
    use sys::VP8StatusCode as Status;
    let reason = match status {
        Status::VP8_STATUS_OK => return Ok(()),
        Status::VP8_STATUS_OUT_OF_MEMORY => "out of memory",
        Status::VP8_STATUS_INVALID_PARAM => "invalid parameter",
        Status::VP8_STATUS_BITSTREAM_ERROR => "bitstream error",
        Status::VP8_STATUS_UNSUPPORTED_FEATURE => "unsupported feature",
        Status::VP8_STATUS_SUSPENDED => "suspended",
        Status::VP8_STATUS_USER_ABORT => "aborted",
        Status::VP8_STATUS_NOT_ENOUGH_DATA => "data ends early",
    };
    Err(reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        })
    }

    #[test]
    fn lossy_round_trip_at_full_and_reduced_size() {
        let original = gradient(300, 200);
        let webp = encode_lossy(&original, 90).expect("encodes");
        let features = features(&webp).expect("header");
        assert_eq!(
            features,
            Features {
                width: 300,
                height: 200,
                has_alpha: false,
                animated: false,
                lossless: false
            }
        );
        let full = decode(&webp, &features, 300, 200).expect("decodes");
        let error = full
            .as_raw()
            .iter()
            .zip(original.as_raw())
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum::<u64>()
            / full.as_raw().len() as u64;
        assert!(error <= 3, "mean error {error}");
        // Scaled while decoding: the same gradient at a third of the size.
        let small = decode(&webp, &features, 100, 67).expect("decodes scaled");
        assert_eq!(small.dimensions(), (100, 67));
        let centre = small.get_pixel(50, 33);
        assert!(
            centre[0].abs_diff(128) <= 6 && centre[1].abs_diff(127) <= 6,
            "{centre:?}"
        );
    }

    #[test]
    fn alpha_is_composited_over_white() {
        // Lossless, half transparent red: over white it is pink.
        let rgba = image::RgbaImage::from_pixel(40, 20, image::Rgba([255, 0, 0, 128]));
        let mut webp = Vec::new();
        image::DynamicImage::ImageRgba8(rgba)
            .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
            .expect("encodes");
        let features = features(&webp).expect("header");
        assert!(features.has_alpha);
        let rgb = decode(&webp, &features, 40, 20).expect("decodes");
        let px = rgb.get_pixel(20, 10).0;
        assert!(
            px[0] == 255 && px[1].abs_diff(127) <= 1 && px[2].abs_diff(127) <= 1,
            "{px:?}"
        );
    }

    #[test]
    fn corrupt_data_is_an_error_not_a_crash() {
        let webp = encode_lossy(&gradient(64, 64), 80).expect("encodes");
        let header = features(&webp).expect("header");
        let truncated = &webp[..webp.len() / 2];
        assert_eq!(
            decode(truncated, &header, 64, 64),
            Err("data ends early".into())
        );
        // The VP8 frame's start code (9D 01 2A, after the RIFF and chunk headers and the
        // 3-byte frame tag) broken.
        let mut garbled = webp.clone();
        assert_eq!(&garbled[23..26], &[0x9D, 0x01, 0x2A]);
        garbled[23] = 0;
        assert_eq!(
            decode(&garbled, &header, 64, 64),
            Err("bitstream error".into())
        );
        assert_eq!(
            features(b"RIFF\0\0\0\0WEBPVP8 garbage"),
            Err("bitstream error".into())
        );
    }
}
