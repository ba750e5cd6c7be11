//! The keys derived from an upload's: its thumbnails and its place in quarantine, all
//! outside the watched `photos/` prefix.

use crate::event::SourceObject;
use crate::settings::{QUARANTINE_PREFIX, Rendition};

/// A rendition's key in the thumbnails bucket: `<label>/<path below photos/>.<ext>`, e.g.
/// `256x256/trip/a.jpg.jpg`.
pub fn thumbnail_key(source: &SourceObject, rendition: &Rendition) -> String {
    format!(
        "{}/{}.{}",
        rendition.label(),
        source.relative_key(),
        rendition.format.extension()
    )
}

/// Where a rejected original goes, and where the JSON reason beside it goes.
pub fn quarantine_keys(source: &SourceObject) -> (String, String) {
    let object = format!("{QUARANTINE_PREFIX}{}", source.relative_key());
    let reason = format!("{object}.reason.json");
    (object, reason)
}

/// Percent-encodes a key for an ASCII-only metadata value or a copy source.
pub fn encode_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::tests::source;

    #[test]
    fn derived_keys_stay_outside_photos() {
        let src = source(None);
        assert_eq!(
            thumbnail_key(&src, &Rendition::default()),
            "256x256/a b.jpg.jpg"
        );
        assert_eq!(
            quarantine_keys(&src),
            (
                "rejected/a b.jpg".into(),
                "rejected/a b.jpg.reason.json".into()
            )
        );
        assert_eq!(
            encode_key("photos/été 1.jpg"),
            "photos/%C3%A9t%C3%A9%201.jpg"
        );
    }
}
