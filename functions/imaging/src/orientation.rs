//! Which way up an image is meant to be seen: the orientation its EXIF or XMP metadata
//! declares, and whether that turn swaps width and height. A thumbnail carries no metadata,
//! so the turn is baked into its pixels.

use image::metadata::Orientation;

/// The orientation the metadata asks for: the EXIF tag where there is one, else XMP's
/// `tiff:Orientation` (what Adobe's tools write, and Pillow and exiftool read). The
/// thumbnail carries no metadata, so whichever the original declares must be baked in.
pub(crate) fn orientation(exif: Option<&[u8]>, xmp: Option<&[u8]>) -> Orientation {
    exif.and_then(Orientation::from_exif_chunk)
        .or_else(|| xmp.and_then(xmp_orientation))
        .unwrap_or(Orientation::NoTransforms)
}

/// `tiff:Orientation="6"` (attribute) or `<tiff:Orientation>6</tiff:Orientation>` (element).
fn xmp_orientation(xmp: &[u8]) -> Option<Orientation> {
    const TAG: &[u8] = b"tiff:Orientation";
    let at = xmp.windows(TAG.len()).position(|window| window == TAG)? + TAG.len();
    let rest = xmp.get(at..)?;
    let value = rest
        .iter()
        .take(8)
        .find(|&&byte| !matches!(byte, b'=' | b'"' | b'\'' | b'>' | b' '))?;
    if !value.is_ascii_digit() {
        return None;
    }
    Orientation::from_exif(value - b'0')
}

/// Whether turning the image upright exchanges its width and height (a quarter turn).
pub(crate) fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

#[cfg(test)]
mod tests {
    use photopipe::settings::{InputLimits, Rendition};

    use crate::inspect;
    use crate::test_support::{
        encode_jpeg, one, red_corner, red_left_blue_right, with_orientation,
    };

    #[test]
    fn jpeg_orientations_come_out_upright() {
        let base = red_left_blue_right(200, 100);
        let jpeg = encode_jpeg(&base);
        let limits = InputLimits::default();
        let settings = Rendition {
            width: 64,
            height: 64,
            quality: 90,
            ..Rendition::default()
        };
        for orientation in 1..=8u16 {
            let tagged = with_orientation(&jpeg, orientation);
            let inspection = inspect(&tagged, &limits).expect("valid");
            let thumb = one(&tagged, &inspection, &settings, &limits).expect("thumbnail");
            let image = image::load_from_memory(&thumb.bytes)
                .expect("decodes")
                .to_rgb8();
            assert_eq!((image.width(), image.height()), (thumb.width, thumb.height));
            let expected = match orientation {
                1..=4 => (64, 32),
                _ => (32, 64),
            };
            assert_eq!(
                expected,
                (thumb.width, thumb.height),
                "orientation {orientation}"
            );
            // Where does red end up once upright? Orientation n maps the stored left edge to:
            let red_at =
                |x: u32, y: u32| image.get_pixel(x, y)[0] > 128 && image.get_pixel(x, y)[2] < 128;
            let (w, h) = (image.width() - 1, image.height() - 1);
            let red_corner = match orientation {
                1 | 4 => (0, h / 2), // left
                2 | 3 => (w, h / 2), // right
                5 | 6 => (w / 2, 0), // top: 6 rotates 90° clockwise, stored left goes to top
                _ => (w / 2, h),     // 7, 8: bottom
            };
            assert!(
                red_at(red_corner.0, red_corner.1),
                "orientation {orientation}: red not at {red_corner:?}"
            );
        }
    }

    /// An XMP packet around one `rdf:Description` whose attributes and body are given.
    fn xmp_packet(attributes: &str, body: &str) -> String {
        format!(
            "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\
             <rdf:Description xmlns:tiff=\"http://ns.adobe.com/tiff/1.0/\" {attributes}>{body}</rdf:Description></rdf:RDF></x:xmpmeta>"
        )
    }

    #[test]
    fn png_and_jpeg_orientation_from_exif_or_xmp() {
        let base = red_left_blue_right(200, 100);
        let png_with = |exif: Option<u16>, xmp: Option<&str>| {
            let mut info = png::Info::with_size(200, 100);
            info.color_type = png::ColorType::Rgb;
            info.bit_depth = png::BitDepth::Eight;
            if let Some(orientation) = exif {
                // The eXIf chunk holds the TIFF structure without JPEG's "Exif\0\0".
                let jpeg = with_orientation(&encode_jpeg(&base), orientation);
                info.exif_metadata = Some(jpeg[12..12 + 26].to_vec().into());
            }
            let mut out = Vec::new();
            let mut encoder = png::Encoder::with_info(&mut out, info).expect("info");
            if let Some(xmp) = xmp {
                encoder
                    .add_itxt_chunk("XML:com.adobe.xmp".into(), xmp_packet(xmp, ""))
                    .expect("iTXt");
            }
            let mut writer = encoder.write_header().expect("header");
            writer.write_image_data(base.as_raw()).expect("data");
            writer.finish().expect("finish");
            out
        };
        assert_eq!(red_corner(&png_with(None, None)), (64, 32, "left"));
        // eXIf orientation 6: turned 90° clockwise, the stored left edge goes to the top.
        assert_eq!(red_corner(&png_with(Some(6), None)), (32, 64, "top"));
        // XMP alone (attribute form), as Adobe's tools write it: 3 is a half turn.
        let half_turn = "tiff:Orientation=\"3\"";
        assert_eq!(
            red_corner(&png_with(None, Some(half_turn))),
            (64, 32, "right")
        );
        // Where both are present, EXIF wins.
        assert_eq!(
            red_corner(&png_with(Some(8), Some(half_turn))),
            (32, 64, "bottom")
        );

        // A JPEG with only an XMP APP1 segment, element form.
        let jpeg = encode_jpeg(&base);
        let mut segment = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
        segment
            .extend_from_slice(xmp_packet("", "<tiff:Orientation>6</tiff:Orientation>").as_bytes());
        let mut tagged = jpeg[..2].to_vec();
        tagged.extend_from_slice(&[0xFF, 0xE1]);
        tagged.extend_from_slice(&((segment.len() + 2) as u16).to_be_bytes());
        tagged.extend_from_slice(&segment);
        tagged.extend_from_slice(&jpeg[2..]);
        assert_eq!(red_corner(&tagged), (32, 64, "top"));
    }
}
