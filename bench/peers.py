"""Thumbnail workers for the benchmark's Python peers: `python peers.py TOOL OUT_DIR FILE...`.

Each prints one line per file: name, CPU milliseconds, width, height, output bytes
(tab-separated). TOOL is `pillow` (Pillow done well; HEIC through pillow-heif), `pyvips`, or `demo` (the 2020 demo's
Pillow code: halve, save).
"""

import os
import sys
import time


def pillow(path, out):
    from PIL import Image, ImageOps

    if path.endswith(".heic"):
        import pillow_heif

        pillow_heif.register_heif_opener()
        pillow_heif.options.DECODE_THREADS = 1  # one thread, as every tool here

    with Image.open(path) as image:
        image.thumbnail((256, 256))
        image = ImageOps.exif_transpose(image)
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=80)
        return image.size


def pyvips_thumbnail(path, out):
    import pyvips

    image = pyvips.Image.thumbnail(path, 256, height=256, size="down")
    image.jpegsave(out, Q=80, keep="none")
    return image.width, image.height


def demo(path, out):
    from PIL import Image

    image = Image.open(path)
    image.thumbnail(tuple(x / 2 for x in image.size))
    if image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    image.save(out, "JPEG")
    return image.size


TOOLS = {"pillow": pillow, "pyvips": pyvips_thumbnail, "demo": demo}


def main():
    tool, out_dir, files = TOOLS[sys.argv[1]], sys.argv[2], sys.argv[3:]
    os.makedirs(out_dir, exist_ok=True)
    for path in files:
        name = os.path.basename(path)
        out = os.path.join(out_dir, name + ".jpg")
        start = time.process_time()
        width, height = tool(path, out)
        cpu_ms = (time.process_time() - start) * 1000
        print(f"{name}\t{cpu_ms:.2f}\t{width}\t{height}\t{os.path.getsize(out)}", flush=True)


if __name__ == "__main__":
    main()
