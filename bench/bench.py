"""The thumbnail benchmark: photopipe's engine against Pillow, pyvips and sharp, and the 2020
demo's code, over a corpus of photos, one thread each, tools alternating round by round.

`python bench.py --engine PATH --corpus DIR [--rounds N]`; `bench/run` sets it up. Prints,
per tool: mean CPU ms per image overall and per class, the ratio to the fastest peer (Pillow,
pyvips, sharp) in this run, peak RSS, mean output bytes, and SSIM against a reference
downscale (Pillow, upright, colour-managed to sRGB, Lanczos, at the tool's output size); then the cold-start proxy:
a fresh photopipe process thumbnailing one 20 MP JPEG, wall time.
"""

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageCms, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = ("pillow", "pyvips", "sharp")
CLASSES = ("JPEG >= 8 MP", "JPEG < 8 MP", "PNG", "WebP")


def classify(row):
    if row["format"] == "JPEG":
        return CLASSES[0] if float(row["megapixels"]) >= 8 else CLASSES[1]
    return {"PNG": "PNG", "WEBP": "WebP"}.get(row["format"])


def commands(engine, out_dir, files):
    env_one_thread = dict(os.environ, VIPS_CONCURRENCY="1", UV_THREADPOOL_SIZE="1", OMP_NUM_THREADS="1")
    python = sys.executable
    return {
        "photopipe": ([engine, "thumbnail", "--renditions", "256x256:q80", "--out", out_dir, *files], env_one_thread),
        "pillow": ([python, os.path.join(HERE, "peers.py"), "pillow", out_dir, *files], env_one_thread),
        "pyvips": ([python, os.path.join(HERE, "peers.py"), "pyvips", out_dir, *files], env_one_thread),
        "sharp": (["node", os.path.join(HERE, "sharp.js"), out_dir, *files], env_one_thread),
        "old demo": ([python, os.path.join(HERE, "peers.py"), "demo", out_dir, *files], env_one_thread),
    }


def run(argv, env):
    """Runs one worker; returns its per-file lines and its own peak RSS in MB."""
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{argv[0]} failed ({status}):\n{output}")
    return output, usage.ru_maxrss / 1024


def parse(tool, output):
    """name -> (cpu ms, width, height, bytes)."""
    results = {}
    for line in output.splitlines():
        cells = line.split("\t")
        if tool == "photopipe":
            if cells[0] == "total" or len(cells) < 3:
                continue
            ms = float(cells[1].split()[0])
            size, length, _ = cells[2].split(" ")
            width, height = size.split("x")
            results[cells[0]] = (ms, int(width), int(height), int(length))
        else:
            results[cells[0]] = (float(cells[1]), int(cells[2]), int(cells[3]), int(cells[4]))
    return results


def ssim(a, b):
    """Mean SSIM of two grey images (7×7 uniform window, as scikit-image computes it)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2, w = (0.01 * 255) ** 2, (0.03 * 255) ** 2, 7

    def mean(x):
        c = np.pad(x, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        return (c[w:, w:] - c[:-w, w:] - c[w:, :-w] + c[:-w, :-w]) / (w * w)

    if min(a.shape) < w:
        return float("nan")
    ux, uy = mean(a), mean(b)
    norm = w * w / (w * w - 1)
    vx, vy = norm * (mean(a * a) - ux * ux), norm * (mean(b * b) - uy * uy)
    vxy = norm * (mean(a * b) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean())


def quality(corpus, name, thumbnail_path):
    with Image.open(os.path.join(corpus, name)) as original:
        upright = ImageOps.exif_transpose(original)
        icc = original.info.get("icc_profile")
    if icc and upright.mode in ("RGB", "RGBA"):
        # What a browser shows: the embedded profile converted to sRGB.
        upright = ImageCms.profileToProfile(
            upright.convert("RGB"), ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.createProfile("sRGB")
        )
    upright = upright.convert("RGB")
    with Image.open(thumbnail_path) as thumbnail:
        ours = thumbnail.convert("L")
    reference = upright.resize(ours.size, Image.LANCZOS).convert("L")
    return ssim(np.asarray(reference), np.asarray(ours))


def cold_start(engine, corpus, rows, scratch, runs=11):
    """The cold-start proxy: wall time of a fresh engine process making one 256 px thumbnail
    of a 20 MP baseline JPEG (the corpus's largest JPEG scaled to 5472×3648 with a little
    sensor-like noise, saved at q90 as a phone would), median of `runs`."""
    largest = max((r for r in rows if r["format"] == "JPEG"), key=lambda r: float(r["megapixels"]))
    source = os.path.join(scratch, "20mp.jpg")
    with Image.open(os.path.join(corpus, largest["file"])) as photo:
        upright = ImageOps.exif_transpose(photo).convert("RGB").resize((5472, 3648), Image.LANCZOS)
    noise = np.random.default_rng(1).normal(0, 3, (3648, 5472, 3))
    grainy = np.clip(np.asarray(upright, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(grainy).save(source, quality=90)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [engine, "thumbnail", "--renditions", "256x256:q80", "--out", os.path.join(scratch, "cold"), source],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), os.path.getsize(source)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True, help="the photopipe binary (release build)")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with open(os.path.join(args.corpus, "MANIFEST.tsv"), newline="") as manifest:
        rows = [r for r in csv.DictReader(manifest, delimiter="\t") if classify(r)]
    files = [os.path.join(args.corpus, r["file"]) for r in rows]
    klass = {r["file"]: classify(r) for r in rows}
    tools = list(commands(args.engine, "", files))
    cpu = {tool: {name: [] for name in klass} for tool in tools}
    rss = {tool: 0.0 for tool in tools}
    outputs = {}

    with tempfile.TemporaryDirectory() as scratch:
        for round_index in range(args.rounds):
            # Alternate the order so no tool always runs first (cold caches) or last.
            order = tools if round_index % 2 == 0 else list(reversed(tools))
            for tool in order:
                out_dir = os.path.join(scratch, tool.replace(" ", "-"))
                argv, env = commands(args.engine, out_dir, files)[tool]
                output, peak = run(argv, env)
                rss[tool] = max(rss[tool], peak)
                results = parse(tool, output)
                missing = set(klass) - set(results)
                if missing:
                    raise SystemExit(f"{tool} made no thumbnail of {sorted(missing)}")
                for name, (ms, *_rest) in results.items():
                    cpu[tool][name].append(ms)
                outputs[tool] = (out_dir, results)

        table = []
        for tool in tools:
            out_dir, results = outputs[tool]
            # The median over rounds per image, then the mean over images.
            per_image = {name: statistics.median(times) for name, times in cpu[tool].items()}
            by_class = {c: statistics.mean(ms for n, ms in per_image.items() if klass[n] == c) for c in CLASSES}
            thumbnails = {
                name: os.path.join(out_dir, "256x256", f"{name}.jpg") if tool == "photopipe" else os.path.join(out_dir, f"{name}.jpg")
                for name in klass
            }
            scores = [quality(args.corpus, name, path) for name, path in thumbnails.items()]
            table.append(
                {
                    "tool": tool,
                    "mean": statistics.mean(per_image.values()),
                    "classes": by_class,
                    "rss": rss[tool],
                    "bytes": statistics.mean(r[3] for r in results.values()),
                    "ssim": statistics.mean(s for s in scores if s == s),
                }
            )

        cold_ms, cold_bytes = cold_start(args.engine, args.corpus, rows, scratch)

    fastest = min(row["mean"] for row in table if row["tool"] in PEERS)
    fastest_class = {c: min(row["classes"][c] for row in table if row["tool"] in PEERS) for c in CLASSES}
    print(f"{len(files)} images, {args.rounds} rounds, one thread per tool; CPU ms per image (median of rounds, mean of images)")
    header = f"{'tool':<10} {'mean ms':>8} {'ratio':>6} " + " ".join(f"{c:>12}" for c in CLASSES) + f" {'peak RSS':>9} {'bytes':>8} {'SSIM':>6}"
    print(header)
    for row in table:
        classes = " ".join(f"{row['classes'][c]:>6.1f} ({row['classes'][c] / fastest_class[c]:.2f})" for c in CLASSES)
        print(
            f"{row['tool']:<10} {row['mean']:>8.1f} {row['mean'] / fastest:>6.2f} {classes} {row['rss']:>6.0f} MB {row['bytes']:>8.0f} {row['ssim']:>6.4f}"
        )
    print("ratio: against the fastest of Pillow, pyvips and sharp in this run (per class in brackets)")
    print(
        f"photopipe start-up + one 20 MP baseline JPEG ({cold_bytes / 1e6:.1f} MB) to a 256 px thumbnail: "
        f"{cold_ms:.1f} ms wall (median of 11 fresh processes)"
    )


if __name__ == "__main__":
    main()
