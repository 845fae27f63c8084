"""Remove metadata from uploaded files by rebuilding them. Runs as a separate process.

Images are decoded with an allowlist of formats, turned upright, and re-encoded from their pixels
alone: no EXIF, GPS, XMP, ICC profile, comment or text chunk survives, nor anything appended after
the image data. PDFs lose their document info and XMP metadata. Decompression bombs are errors.

This file imports nothing from the app: it is run as a script in a child process with a memory
limit, so a hostile file can neither exhaust the web worker's memory nor reach its state.
Input (stdin, JSON): {"max_pixels": N, "jobs": [{"src", "dst", "thumb", "type"}]}.
Output (stdout, JSON): one result per job: {"ok": true, "width", "height"} or {"ok": false, "error"}.
"""

import json
import resource
import sys
import warnings

from PIL import Image, ImageOps

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}
THUMB_SIZE = (480, 480)
MEMORY_LIMIT = 1536 * 1024 * 1024


def pixels_only(image: Image.Image) -> Image.Image:
    """A new image holding the pixels and nothing else (no info, no profile)."""
    if image.mode not in ("1", "L", "LA", "RGB", "RGBA", "P"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    if image.mode == "P":
        clean.putpalette(image.getpalette())
        if "transparency" in image.info:
            clean.info["transparency"] = image.info["transparency"]
    return clean


def save_still(clean: Image.Image, dst: str, fmt: str) -> None:
    if fmt == "JPEG":
        clean.convert("RGB").save(dst, "JPEG", quality=90)
    elif fmt == "PNG":
        extra = {"transparency": clean.info["transparency"]} if "transparency" in clean.info else {}
        clean.save(dst, "PNG", **extra)
    elif fmt == "WEBP":
        clean.convert("RGBA" if "A" in clean.getbands() or clean.mode == "P" else "RGB").save(dst, "WEBP", quality=90)
    else:
        extra = {"transparency": clean.info["transparency"]} if "transparency" in clean.info else {}
        clean.save(dst, "GIF", **extra)


def save_animation(image: Image.Image, dst: str, fmt: str) -> Image.Image:
    frames, durations = [], []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(pixels_only(image.convert("RGBA")))
        durations.append(image.info.get("duration", 100))
    loop = image.info.get("loop", 0)
    options = {"save_all": True, "append_images": frames[1:], "duration": durations, "loop": loop}
    if fmt == "GIF":
        options["disposal"] = 2
    frames[0].save(dst, fmt, **options)
    return frames[0]


def thumbnail(image: Image.Image, dst: str) -> None:
    picture = image.convert("RGBA")
    picture.thumbnail(THUMB_SIZE)
    background = Image.new("RGB", picture.size, "white")
    background.paste(picture, mask=picture.getchannel("A"))
    background.save(dst, "JPEG", quality=80)


def scrub_image(job: dict) -> dict:
    fmt = FORMATS[job["type"]]
    with Image.open(job["src"], formats=[fmt]) as image:
        image.load()
        if getattr(image, "n_frames", 1) > 1 and fmt in ("GIF", "WEBP"):
            first = save_animation(image, job["dst"], fmt)
        else:
            upright = ImageOps.exif_transpose(image)  # applies the orientation before it is dropped
            first = pixels_only(upright)
            save_still(first, job["dst"], fmt)
        thumbnail(first, job["thumb"])
        return {"ok": True, "width": first.width, "height": first.height}


def scrub_pdf(job: dict) -> dict:
    import pikepdf

    with pikepdf.open(job["src"]) as pdf:
        if "/Info" in pdf.trailer:
            del pdf.trailer["/Info"]
        if "/Metadata" in pdf.Root:
            del pdf.Root["/Metadata"]
        for page in pdf.pages:
            if "/Metadata" in page.obj:
                del page.obj["/Metadata"]
        pdf.remove_unreferenced_resources()
        pdf.save(job["dst"], fix_metadata_version=False, deterministic_id=True)
    return {"ok": True, "width": None, "height": None}


def run(job: dict) -> dict:
    try:
        if job["type"] == "application/pdf":
            return scrub_pdf(job)
        return scrub_image(job)
    except Image.DecompressionBombError:
        return {"ok": False, "error": "too_many_pixels"}
    except Image.DecompressionBombWarning:
        return {"ok": False, "error": "too_many_pixels"}
    except MemoryError:
        return {"ok": False, "error": "too_many_pixels"}
    except Exception:  # any decoder failure: the file is not what it claims, or it is damaged
        return {"ok": False, "error": "unreadable"}


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    request = json.load(sys.stdin)
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    Image.MAX_IMAGE_PIXELS = int(request["max_pixels"])
    json.dump([run(job) for job in request["jobs"]], sys.stdout)


if __name__ == "__main__":
    main()
