"""The HEIC part of the thumbnail benchmark: photopipe's engine against Pillow with
pillow-heif (libheif and libde265, as ours), the one peer that reads HEIC (the pyvips and sharp
wheels carry libheif for AVIF only). One thread each, alternating round by round.

`python heic.py --engine PATH --corpus DIR [--rounds N]`; `bench/run` runs it after the main
table. The corpus has no HEIC, so it first writes two, cached in bench/.heic: the largest
corpus photo as an iPhone writes a 12 MP photo (4032×3024 in 512×512 tiles, stored sideways
with `irot` and EXIF orientation 6, quality 75), and the same at 48 MP (8064×6048, quality 60).
Prints per file and tool: median CPU ms, the ratio to Pillow, peak RSS and output size.
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import parse, run  # noqa: E402

SOURCE = "lomiri16-Dragonfly.jpg"
FILES = {"iphone-12mp.heic": ((4032, 3024), 75), "iphone-48mp.heic": ((8064, 6048), 60)}


def make_heic(corpus, cache):
    """Writes the HEIC files (once) and returns their paths."""
    import pillow_heif
    from PIL import Image

    os.makedirs(cache, exist_ok=True)
    pillow_heif.options.GRID_TILE_SIZE = 512
    paths = []
    for name, (size, quality) in FILES.items():
        path = os.path.join(cache, name)
        if not os.path.exists(path):
            print(f"writing {path} (x265, once)", file=sys.stderr)
            upright = Image.open(os.path.join(corpus, SOURCE)).convert("RGB").resize(size, Image.LANCZOS)
            stored = upright.transpose(Image.Transpose.ROTATE_90)
            exif = Image.Exif()
            exif[0x0112] = 6
            heif = pillow_heif.from_bytes("RGB", stored.size, stored.tobytes())
            heif.info["exif"] = exif.tobytes()
            heif.save(path + ".part", quality=quality)
            os.replace(path + ".part", path)
        paths.append(path)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # Written by a child process: a worker forked from this one after an x265 encode would
    # report this process's memory as its own peak RSS.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        files = pool.apply(make_heic, (args.corpus, os.path.join(HERE, ".heic")))
    env = dict(os.environ)
    python = sys.executable
    tools = ("photopipe", "pillow")
    cpu = {tool: {os.path.basename(f): [] for f in files} for tool in tools}
    rss = dict.fromkeys(tools, 0.0)
    sizes = {}
    with tempfile.TemporaryDirectory() as scratch:
        for round_index in range(args.rounds):
            for tool in tools if round_index % 2 == 0 else tools[::-1]:
                out = os.path.join(scratch, tool)
                argv = {
                    "photopipe": [args.engine, "thumbnail", "--renditions", "256x256:q80", "--out", out, *files],
                    "pillow": [python, os.path.join(HERE, "peers.py"), "pillow", out, *files],
                }[tool]
                output, peak = run(argv, env)
                rss[tool] = max(rss[tool], peak)
                for name, (ms, width, height, length) in parse(tool, output).items():
                    cpu[tool][name].append(ms)
                    sizes[tool, name] = (width, height, length)
    print(f"\n{'HEIC':<18} {'tool':<10} {'CPU ms':>8} {'ratio':>6} {'output':>16}")
    for name in cpu["photopipe"]:
        pillow_ms = statistics.median(cpu["pillow"][name])
        for tool in tools:
            ms = statistics.median(cpu[tool][name])
            width, height, length = sizes[tool, name]
            print(f"{name:<18} {tool:<10} {ms:>8.1f} {ms / pillow_ms:>6.2f} {width:>5}x{height:<4} {length:>5} B")
    print("peak RSS: " + ", ".join(f"{tool} {rss[tool]:.0f} MB" for tool in tools))


if __name__ == "__main__":
    main()
