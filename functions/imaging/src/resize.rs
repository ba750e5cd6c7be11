//! Resizing with Lanczos3 (fast_image_resize) over a plan's crop, plane by plane: grey, RGB,
//! or a reduced JPEG's YCbCr planes, whose chroma the same pass upsamples before they are
//! converted to RGB at the rendition's size.

use fast_image_resize as fr;
use image::{DynamicImage, GrayImage, RgbImage};
use photopipe::{PipelineError, Result};

use crate::colour::jfif_to_rgb;
use crate::pixels::Pixels;
use crate::plan::Plan;

/// Makes the rendition's pixels: Lanczos3 over the plan's crop, and for YCbCr planes the
/// conversion to RGB.
pub(crate) fn resize(pixels: &Pixels, plan: &Plan) -> Result<DynamicImage> {
    let (width, height) = plan.size;
    let short = || PipelineError::Internal("resize produced a short buffer".into());
    Ok(match pixels {
        Pixels::Gray(gray) => {
            let raw = resize_plane(
                gray.as_raw(),
                gray.dimensions(),
                fr::PixelType::U8,
                plan,
                (1.0, 1.0),
            )?;
            DynamicImage::ImageLuma8(GrayImage::from_raw(width, height, raw).ok_or_else(short)?)
        }
        Pixels::Rgb(rgb) => {
            let raw = resize_plane(
                rgb.as_raw(),
                rgb.dimensions(),
                fr::PixelType::U8x3,
                plan,
                (1.0, 1.0),
            )?;
            DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, raw).ok_or_else(short)?)
        }
        Pixels::YCbCr(planes) => {
            let plane = |image: &GrayImage, scale| {
                resize_plane(
                    image.as_raw(),
                    image.dimensions(),
                    fr::PixelType::U8,
                    plan,
                    scale,
                )
            };
            let luma = plane(&planes.luma, (1.0, 1.0))?;
            let cb = plane(&planes.cb, planes.chroma_scale)?;
            let cr = plane(&planes.cr, planes.chroma_scale)?;
            let mut rgb = vec![0u8; luma.len() * 3];
            for (((pixel, &y), &cb), &cr) in rgb.chunks_exact_mut(3).zip(&luma).zip(&cb).zip(&cr) {
                pixel.copy_from_slice(&jfif_to_rgb(f32::from(y), f32::from(cb), f32::from(cr)));
            }
            DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, rgb).ok_or_else(short)?)
        }
    })
}

/// Resizes one plane of `pixel_type` to the plan's size from its crop, which is in luma
/// coordinates: `scale` maps them to this plane's.
fn resize_plane(
    buffer: &[u8],
    (src_w, src_h): (u32, u32),
    pixel_type: fr::PixelType,
    plan: &Plan,
    (scale_x, scale_y): (f64, f64),
) -> Result<Vec<u8>> {
    let internal =
        |e: &dyn std::fmt::Display| PipelineError::Internal(format!("resize failed: {e}"));
    let src =
        fr::images::ImageRef::new(src_w, src_h, buffer, pixel_type).map_err(|e| internal(&e))?;
    let mut dst = fr::images::Image::new(plan.size.0, plan.size.1, pixel_type);
    let (left, top, crop_w, crop_h) = plan.crop;
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
        .crop(
            left * scale_x,
            top * scale_y,
            crop_w * scale_x,
            crop_h * scale_y,
        );
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| internal(&e))?;
    Ok(dst.into_vec())
}
