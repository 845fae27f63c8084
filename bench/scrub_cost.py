"""The cost of scrubbing photos per megapixel: decode, orient, re-encode without metadata, make a thumbnail,
in the same child process the site uses (app/uploads/scrub.py). Appends the figures to bench/RESULTS.md.

    .venv/bin/python bench/scrub_cost.py
"""

import datetime
import multiprocessing
import os
import platform
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from PIL import Image

from app.uploads import intake

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = [(1000, 1000), (2000, 1500), (4000, 3000), (6000, 4000)]  # 1, 3, 12 and 24 megapixels
from app import config as settings  # noqa: E402
from app.uploads import sandbox  # noqa: E402

DEFAULTS = {k: getattr(settings.Defaults, k) for k in dir(settings.Defaults) if k.isupper()}


def photo(path: str, size: tuple[int, int], seed: int) -> None:
    """A photo-like JPEG: smooth gradients with some noise (compresses like a real photo)."""
    rng = random.Random(seed)
    small = Image.frombytes("RGB", (size[0] // 40, size[1] // 40), rng.randbytes(size[0] // 40 * (size[1] // 40) * 3))
    image = small.resize(size, Image.Resampling.BICUBIC)
    image.save(path, "JPEG", quality=90)


def measure(size, repeats: int = 3) -> float:
    workdir = tempfile.mkdtemp(dir="/dev/shm")
    path = os.path.join(workdir, "in.jpg")
    photo(path, size, seed=size[0])
    best = None
    for _ in range(repeats):
        upload = intake.Received(name="p.jpg", type="image/jpeg", path=path, size=os.path.getsize(path), sha256="")
        started = time.perf_counter()
        intake.scrub([upload], sandbox.settings_from(DEFAULTS | {"UPLOAD_WORKDIR": workdir}), workdir)
        for produced in [upload.clean_path, *upload.previews]:
            os.unlink(produced)
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    intake.discard(workdir)
    return best


def main() -> None:
    rows = []
    for size in SIZES:
        seconds = measure(size)
        megapixels = size[0] * size[1] / 1e6
        rows.append((size, megapixels, seconds))
        per_mp = seconds * 1000 / megapixels
        print(f"{size[0]}×{size[1]} ({megapixels:.0f} MP): {seconds * 1000:.0f} ms, {per_mp:.0f} ms/MP")
    # A straight line through the smallest and the largest photo: a fixed cost per call (starting the child
    # process) plus a cost per megapixel.
    (_, mp1, s1), (_, mpn, sn) = rows[0], rows[-1]
    per_mp = (sn - s1) / (mpn - mp1)
    fixed = s1 - per_mp * mp1
    print(f"marginal cost: {per_mp * 1000:.0f} ms per megapixel; fixed cost per call (child): {fixed * 1000:.0f} ms")
    lines = [
        f"\n## {datetime.date.today().isoformat()} · scrubbing cost per megapixel (bench/scrub_cost.py)\n",
        f"Machine: {platform.node()}, {multiprocessing.cpu_count()} cores, Python {platform.python_version()}. "
        "One JPEG per call, best of 3, through `intake.scrub` (child process: decode, orient, re-encode "
        "without metadata, thumbnail).\n",
        "| Photo | Megapixels | Time | ms per MP |",
        "|---|---:|---:|---:|",
    ]
    for size, megapixels, seconds in rows:
        lines.append(
            f"| {size[0]}×{size[1]} | {megapixels:.0f} | {seconds * 1000:.0f} ms | {seconds * 1000 / megapixels:.0f} |"
        )
    lines.append(
        f"\nMarginal cost {per_mp * 1000:.0f} ms per megapixel; fixed cost of a call (starting the child "
        f"process) about {fixed * 1000:.0f} ms. A submission's files are scrubbed in one call."
    )
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
