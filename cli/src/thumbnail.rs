//! `photopipe thumbnail FILES… --out DIR`: the imaging engine the pipeline runs, on local
//! files, one thread, to try settings: each rendition written as
//! `<DIR>/<rendition folder>/<file name>.<ext>`, with the CPU time each file took.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use photopipe::settings::{InputLimits, Rendition};

/// Makes the thumbnails of each file; prints a line per file and the total CPU time. A file
/// the engine refuses is a result like any other: its line has the error name and message,
/// and the others go on (the benchmark reads these lines).
pub fn thumbnail(
    files: &[PathBuf],
    renditions: &[Rendition],
    out_dir: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let limits = InputLimits::default();
    let mut total_ms = 0.0;
    for file in files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let started = cpu_time::ProcessTime::now();
        let made = photopipe_imaging::inspect(&bytes, &limits).and_then(|inspection| {
            photopipe_imaging::make_thumbnails(&bytes, &inspection, renditions, &limits)
        });
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let name = file
            .file_name()
            .map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
        let thumbnails = match made {
            Ok(thumbnails) => thumbnails,
            Err(err) => {
                writeln!(out, "{name}\t{}\t{err}", err.error_name())?;
                continue;
            }
        };
        total_ms += ms;
        let mut outputs = Vec::new();
        for (rendition, thumb) in renditions.iter().zip(thumbnails) {
            let path = out_dir
                .join(rendition.label())
                .join(format!("{name}.{}", rendition.format.extension()));
            write(&path, &thumb.bytes)?;
            outputs.push(format!(
                "{}x{} {} B",
                thumb.width,
                thumb.height,
                thumb.bytes.len()
            ));
        }
        writeln!(out, "{name}\t{ms:.2} ms\t{}", outputs.join("\t"))?;
    }
    writeln!(out, "total\t{total_ms:.1} ms CPU for {} files", files.len())?;
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
