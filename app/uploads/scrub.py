"""Rebuild uploaded files from their pixels, inside the sandbox. Runs as a child process, never in the web worker.

- Images (JPEG, PNG, WebP, GIF, HEIC/HEIF, TIFF) are decoded with an allowlist of formats, turned upright and
  re-encoded from their pixels alone: no EXIF, GPS, XMP, ICC profile, comment or text chunk survives, nor
  anything appended after the image data. HEIC becomes JPEG, TIFF becomes PNG.
- PDFs are rendered page by page with PDFium and a new PDF is made of the page images alone (the Dangerzone
  approach): nothing of the original object tree (info, XMP, fonts, annotations, actions, JavaScript, forms,
  embedded files, /PieceInfo, thumbnails) can survive.
- Every result also gets small JPEG previews (an image's thumbnail, a PDF's first pages), from the same pixels.

This file imports nothing from the app. The parent (app/uploads/sandbox.py) starts it with an empty environment
in an empty folder, in a network namespace of its own where the system allows; it reads and writes only the
file descriptors the parent passed. Before it reads a job it confines itself (confine()): resource limits,
no new privileges, not dumpable, another user id where it started as root, and a Landlock domain that denies
every file path and TCP port it did not open before.

Protocol, one JSON object a line. stdin: first the settings (see confine() and Job), then one job a line:
{"type", "src": fd, "dst": fd, "previews": [fd, ...]}. stdout: one result a line: {"ok": true, "type",
"width", "height", "previews", "pages"} or {"ok": false, "error", "limit"}.
"""

import ctypes
import io
import json
import os
import resource
import sys
import warnings

# Formats the decoder may use for each sniffed type, and the type each is stored as.
FORMATS = {
    "image/jpeg": ("JPEG", "image/jpeg"),
    "image/png": ("PNG", "image/png"),
    "image/webp": ("WEBP", "image/webp"),
    "image/gif": ("GIF", "image/gif"),
    "image/heic": ("HEIF", "image/jpeg"),
    "image/tiff": ("TIFF", "image/png"),
}
THUMB_SIZE = (480, 480)


class Refusal(Exception):
    """The file breaks a rule the submitter can act on; ``code`` names it, ``limit`` is the number involved."""

    def __init__(self, code: str, limit: int | None = None):
        super().__init__(code)
        self.code, self.limit = code, limit


# --- confinement ------------------------------------------------------------------------------------------


def confine(settings: dict) -> None:
    """Give up everything a decoder does not need, for good, before any hostile byte is read."""
    limit = resource.setrlimit
    limit(resource.RLIMIT_CORE, (0, 0))
    limit(resource.RLIMIT_AS, (settings["memory"],) * 2)
    limit(resource.RLIMIT_FSIZE, (settings["file_size"],) * 2)
    limit(resource.RLIMIT_CPU, (settings["cpu_seconds"], cpu_ceiling(settings)))
    limit(resource.RLIMIT_NOFILE, (16, 16))  # the fds passed in stay usable; hardly any new one can be made
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: no set-uid program can give anything back
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE off: no ptrace, no /proc/<pid>/mem, even for the same user
    if settings.get("uid") is not None:  # as root, or with CAP_SETUID and CAP_SETGID (see sandbox.isolation)
        os.setgroups([])
        os.setgid(settings["uid"])
        os.setuid(settings["uid"])
        if os.getuid() != settings["uid"] or os.geteuid() != settings["uid"]:
            raise SystemExit("could not give up the app's user id")
    if settings.get("uid") is not None and os.getuid() == settings["uid"]:
        # This user id is the child's alone, so the limit counts the child's own threads: no new process or
        # thread, but for the one worker thread libde265 (HEIC) always starts. (Root ignores the limit; a
        # shared user id would count the app's threads too.)
        tasks = 2 if "image/heic" in settings.get("types", ()) else 1
        limit(resource.RLIMIT_NPROC, (tasks, tasks))
    landlock(libc, readable=settings.get("readable", []))


def cpu_ceiling(settings: dict) -> int:
    """CPU seconds this child may use in all: each of its jobs gets its own budget (see allow_cpu)."""
    return settings["cpu_seconds"] * settings["jobs"] + 1


def allow_cpu(settings: dict) -> None:
    """One more job's CPU budget, counted from what the child has used so far; SIGXCPU ends it past that."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = int(usage.ru_utime + usage.ru_stime) + 1
    ceiling = cpu_ceiling(settings)
    resource.setrlimit(resource.RLIMIT_CPU, (min(spent + settings["cpu_seconds"], ceiling), ceiling))


LANDLOCK_CREATE_RULESET, LANDLOCK_ADD_RULE, LANDLOCK_RESTRICT_SELF = 444, 445, 446
# The file-system rights each Landlock ABI version knows (1: 13 rights; 2: REFER; 3: TRUNCATE; 5: IOCTL_DEV).
FS_RIGHTS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
READ = (1 << 2) | (1 << 3)  # READ_FILE, READ_DIR (mapping a library needs no EXECUTE; running a program does)


class RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi(libc=None) -> int:
    """The Landlock ABI version the kernel offers; 0 where there is none."""
    libc = libc or ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


def landlock(libc, readable: list[str]) -> int:
    """Deny every path but ``readable`` (read-only: the Python installation), every TCP bind and connect (ABI 4),
    and signals and abstract sockets outside this process (ABI 6). Returns the ABI used; 0: not available."""
    abi = landlock_abi(libc)
    if abi <= 0:
        return 0
    attr = RulesetAttr(fs=FS_RIGHTS[min(abi, 5)], net=3 if abi >= 4 else 0, scoped=3 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = libc.syscall(LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise SystemExit("landlock: no ruleset")
    for path in readable:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        rule = PathBeneath(allowed=READ & attr.fs, parent_fd=fd)
        libc.syscall(LANDLOCK_ADD_RULE, ruleset, ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0))
        os.close(fd)
    if libc.syscall(LANDLOCK_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
        raise SystemExit("landlock: could not restrict")
    os.close(ruleset)
    return abi


# --- images ---------------------------------------------------------------------------------------------


def pixels_only(image):
    """A new image holding the pixels and nothing else (no info, no profile)."""
    from PIL import Image

    if image.mode not in ("1", "L", "LA", "RGB", "RGBA", "P"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    if image.mode == "P":
        clean.putpalette(image.getpalette())
        if "transparency" in image.info:
            clean.info["transparency"] = image.info["transparency"]
    return clean


def save_still(clean, out, fmt: str) -> None:
    extra = {"transparency": clean.info["transparency"]} if "transparency" in clean.info else {}
    if fmt == "JPEG":
        clean.convert("RGB").save(out, "JPEG", quality=90)
    elif fmt == "PNG":
        clean.save(out, "PNG", **extra)
    elif fmt == "WEBP":
        clean.convert("RGBA" if "A" in clean.getbands() or clean.mode == "P" else "RGB").save(out, "WEBP", quality=90)
    else:
        clean.save(out, "GIF", **extra)


def save_animation(image, out, fmt: str):
    frames, durations = [], []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(pixels_only(image.convert("RGBA")))
        durations.append(image.info.get("duration", 100))
    options = {"save_all": True, "append_images": frames[1:], "duration": durations, "loop": image.info.get("loop", 0)}
    if fmt == "GIF":
        options["disposal"] = 2
    frames[0].save(out, fmt, **options)
    return frames[0]


def thumbnail(image, out) -> None:
    """A small JPEG on white, from the cleaned pixels."""
    from PIL import Image

    if "A" in image.getbands() or image.mode == "P":
        picture = image.convert("RGBA")
        picture.thumbnail(THUMB_SIZE)
        flat = Image.new("RGB", picture.size, "white")
        flat.paste(picture, mask=picture.getchannel("A"))
    else:
        flat = image.convert("RGB") if image.mode != "RGB" else image.copy()
        flat.thumbnail(THUMB_SIZE)
    flat.save(out, "JPEG", quality=80)


def scrub_image(job: dict, files) -> dict:
    from PIL import Image, ImageOps

    fmt, stored = FORMATS[job["type"]]
    with Image.open(files.src, formats=[fmt]) as image:
        frames = getattr(image, "n_frames", 1)
        if fmt == "TIFF" and frames > 1:
            raise Refusal("tiff_pages", frames)
        image.load()
        out_fmt = {"image/jpeg": "JPEG", "image/png": "PNG"}.get(stored, fmt)
        if frames > 1 and fmt in ("GIF", "WEBP"):
            first = save_animation(image, files.dst, fmt)
        else:
            upright = ImageOps.exif_transpose(image)  # applies the orientation before it is dropped
            first = pixels_only(upright)
            save_still(first, files.dst, out_fmt)
        thumbnail(first, files.previews[0])
        return {"ok": True, "type": stored, "width": first.width, "height": first.height, "previews": 1, "pages": None}


# --- PDFs -----------------------------------------------------------------------------------------------


def scrub_pdf(job: dict, files, settings: dict) -> dict:
    """Render every page to pixels with PDFium and make a new PDF of the page images alone."""
    import img2pdf
    import pypdfium2 as pdfium

    data = files.src.read()
    try:
        pdf = pdfium.PdfDocument(data)  # an owner password alone does not stop PDFium, only a user password does
    except pdfium.PdfiumError as error:
        # PDFium's codes: 4 a (user) password is needed; 0 no error, yet no document: it has no page.
        code = getattr(error, "err_code", None)
        raise Refusal({4: "pdf_password", 0: "pdf_empty"}.get(code, "unreadable")) from None
    pages = len(pdf)
    if pages == 0:
        raise Refusal("pdf_empty")
    if pages > settings["max_pages"]:
        raise Refusal("pdf_pages", settings["max_pages"])
    images, previews = [], 0
    for index in range(pages):
        page = pdf[index]
        width, height = page.get_size()  # in points, 1/72 inch
        scale = min(settings["dpi"] / 72, (settings["max_pixels"] / max(width * height, 1)) ** 0.5)
        picture = page.render(scale=scale, may_draw_forms=True).to_pil().convert("RGB")
        page.close()
        clean = pixels_only(picture)
        encoded = io.BytesIO()
        clean.save(encoded, "JPEG", quality=85, dpi=(max(1, round(scale * 72)),) * 2)  # a huge page: low, not 0
        images.append(encoded.getvalue())
        if previews < len(files.previews):
            thumbnail(clean, files.previews[previews])
            previews += 1
    pdf.close()
    # Each page keeps its size: img2pdf reads it from the image's resolution. nodate: no creation time either.
    files.dst.write(img2pdf.convert(images, nodate=True, engine=img2pdf.Engine.internal))
    return {"ok": True, "type": "application/pdf", "width": None, "height": None, "previews": previews, "pages": pages}


# --- the job loop ---------------------------------------------------------------------------------------


class Files:
    """The descriptors of one job, opened on what the parent passed."""

    def __init__(self, job: dict):
        self.src = os.fdopen(job["src"], "rb", closefd=True)
        self.dst = os.fdopen(job["dst"], "wb", closefd=True)
        self.previews = [os.fdopen(fd, "wb", closefd=True) for fd in job["previews"]]

    def close(self) -> None:
        for f in (self.src, self.dst, *self.previews):
            f.close()


def run(job: dict, settings: dict) -> dict:
    from PIL import Image

    files = Files(job)
    try:
        if job["type"] == "application/pdf":
            return scrub_pdf(job, files, settings)
        return scrub_image(job, files)
    except Refusal as refusal:
        return {"ok": False, "error": refusal.code, "limit": refusal.limit}
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
        return {"ok": False, "error": "too_many_pixels", "limit": None}
    except ImportError as error:  # our fault, not the file's: the parent logs it
        return {"ok": False, "error": "limits", "limit": None, "internal": f"{type(error).__name__}: {error}"}
    except Exception:  # any decoder failure: the file is not what it claims, or it is damaged
        return {"ok": False, "error": "unreadable", "limit": None}
    finally:
        files.close()


def preload(types: list[str]) -> None:
    """Import every decoder the jobs need, and run each through a tiny file of its kind, before confine(): once
    the child has given up root and the Landlock domain is closed, a late import may find nothing to read."""
    from PIL import Image

    Image.init()
    if "image/heic" in types:
        import pillow_heif

        pillow_heif.register_heif_opener(thumbnails=False)
        pillow_heif.options.DECODE_THREADS = 1  # decoders run single-threaded: the child may start no thread
    for type_ in types:
        rehearse(type_)


def rehearse(type_: str) -> None:
    """Scrub a small file of this type made on the spot (with an orientation tag, two frames where it can)."""
    from PIL import Image

    sample = io.BytesIO()
    frames = [Image.new("RGB", (8, 6), "red"), Image.new("RGB", (8, 6), "blue")]
    exif = Image.Exif()
    exif[0x0112] = 6
    if type_ == "application/pdf":
        import img2pdf

        frames[0].save(sample, "JPEG")
        sample = io.BytesIO(img2pdf.convert(sample.getvalue(), nodate=True, engine=img2pdf.Engine.internal))
    elif type_ == "image/heic":
        import pillow_heif

        if not pillow_heif.libheif_info()["encoders"].get("x265"):  # decoding needs none; without one, import only
            return
        frames[0].save(sample, "HEIF", exif=exif.tobytes())
    else:
        fmt = FORMATS[type_][0]
        animated = {"save_all": True, "append_images": frames[1:]} if fmt in ("GIF", "WEBP") else {}
        frames[0].save(sample, fmt, exif=exif.tobytes(), **animated)
    files = Files.__new__(Files)
    files.src, files.dst, files.previews = io.BytesIO(sample.getvalue()), io.BytesIO(), [io.BytesIO()]
    if type_ == "application/pdf":
        scrub_pdf({}, files, {"dpi": 72, "max_pixels": 10_000, "max_pages": 1})
    else:
        scrub_image({"type": type_}, files)


def main() -> None:
    settings = json.loads(sys.stdin.readline())
    preload(settings["types"])
    confine(settings)
    from PIL import Image

    warnings.simplefilter("error", Image.DecompressionBombWarning)
    Image.MAX_IMAGE_PIXELS = int(settings["max_pixels"])
    for line in sys.stdin:
        allow_cpu(settings)
        result = run(json.loads(line), settings)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
