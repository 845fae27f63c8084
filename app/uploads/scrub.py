"""Rebuild uploaded files from their pixels, inside the sandbox. Runs as a child process, never in the web worker.

- Images (JPEG, PNG, WebP, GIF, HEIC/HEIF, TIFF) are decoded with an allowlist of formats, turned upright and
  re-encoded from their pixels alone: no EXIF, GPS, XMP, ICC profile, comment or text chunk survives, nor
  anything appended after the image data. HEIC becomes JPEG, TIFF becomes PNG.
- PDFs are rendered page by page with PDFium and a new PDF is made of the page images alone (the Dangerzone
  approach): nothing of the original object tree (info, XMP, fonts, annotations, actions, JavaScript, forms,
  embedded files, /PieceInfo, thumbnails) can survive.
- Videos and recordings are rebuilt by ffmpeg: the first video stream and the first audio stream only, without any
  global or per-stream tag, chapter, data stream (telemetry), subtitle or attachment. ffprobe reads the file first
  (duration, streams). Both run as children of this process, inside its confinement, on /proc/self/fd/N of the
  descriptors passed. Sound is copied (as mat2 does). So is a picture in a codec whose frames hold nothing but the
  picture (H.264, HEVC, AV1, VP8, VP9), through a filter that keeps only the units that make the picture (no SEI,
  where drones and dashcams write GPS and device ids) and only if its configuration record holds nothing else;
  the display orientation, which is geometry, stays. Every other picture (Motion-JPEG and PNG frames are whole
  image files with their EXIF and text chunks; MPEG-4 Part 2, H.263, ...) is re-encoded from its pixels to
  H.264, turned upright, under a CPU budget of its own (see rebuild_args).
- Every result also gets small JPEG previews (an image's thumbnail, a PDF's first pages, a video's poster frame),
  from the same pixels.

This file imports nothing from the app. The parent (app/uploads/sandbox.py) starts it with an empty environment
in an empty folder, in a network namespace of its own where the system allows; it reads and writes only the
file descriptors the parent passed. Before it reads a job it confines itself (confine()): resource limits,
no new privileges, not dumpable, another user id where it started as root, and a Landlock domain that denies
every file path and TCP port it did not open before.

Protocol, one JSON object a line. stdin: first the settings (see confine() and Job), then one job a line:
{"type", "src": fd, "dst": fd, "previews": [fd, ...]}. stdout: one result a line: {"ok": true, "type",
"width", "height", "previews", "pages"} or {"ok": false, "error", "limit"}; before re-encoding a video, the line
{"rebuilding": true}, which gives the job its own wall-clock budget (sandbox.Deadline).

Why one module: it runs as a script of its own (``python -I scrub.py``), which puts no folder of the app on
sys.path, and its Landlock domain denies every path it did not open before confine(): a sibling module would have to
be found and loaded before confinement, by a path the parent passes, which is more to get wrong than a long file.
Its parts are marked (confinement, images, PDFs, videos and recordings, the job loop).
"""

import ctypes
import io
import json
import os
import resource
import sys
import warnings
from typing import IO, Any, NamedTuple, cast

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


class Media(NamedTuple):
    """A kind of video or recording the site takes: the muxer that writes it, what ffprobe must find in it, and the
    extensions its name may have (intake's table is made from this one)."""

    muxer: str
    probed_as: str
    extensions: tuple[str, ...]


# Videos and recordings, rebuilt by ffmpeg (stream copy) where the server has it. MP4, MOV, 3GP and M4A are one
# family (ISO base media files, whose brands overlap: an .m4a may say "isom"): the content says the family, the
# name says which of them it is (intake.ISO_MEDIA).
MEDIA = {
    "video/mp4": Media("mp4", "mp4", ("mp4", "m4v")),
    "video/quicktime": Media("mov", "mov", ("mov",)),
    "video/3gpp": Media("3gp", "3gp", ("3gp", "3g2")),
    "audio/mp4": Media("ipod", "m4a", ("m4a",)),
    "video/webm": Media("webm", "webm", ("webm",)),
    "audio/mpeg": Media("mp3", "mp3", ("mp3",)),
    "audio/ogg": Media("ogg", "ogg", ("ogg", "oga", "opus")),
    "audio/wav": Media("wav", "wav", ("wav",)),
}
# Written by the muxer itself otherwise: ID3 tags and the encoder's name in an MP3, the encoder in a WAV.
MUXER_OPTIONS = {"mp3": ["-id3v2_version", "0", "-write_id3v1", "0", "-write_xing", "0"]}
# Video codecs whose frames hold only the picture once their side units are dropped: the units each may keep (an
# allowlist: SEI, filler data, reserved and unspecified types all go). H.264: slices, SPS, PPS, access unit
# delimiter, end of sequence and of stream. HEVC: picture slices, VPS, SPS, PPS, delimiter, ends (Dolby Vision's
# types 62 and 63 go; the picture stays). AV1: sequence and frame headers, temporal delimiter, tiles, frames
# (metadata OBUs go). VP8 and VP9 frames have no place for anything else.
COPIED = {
    "h264": "filter_units=pass_types=1-5|7-11",
    "hevc": "filter_units=pass_types=0-9|16-21|32-37",
    "av1": "filter_units=pass_types=1-4|6-7",
    "vp8": None,
    "vp9": None,
}
# A video that is not copied is re-encoded to this (MP4, MOV and 3GP take it; WebM does not: such a WebM is refused).
REBUILT_LONG_SIDE = 1280
REBUILD = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-threads", "2"]
REBUILD += [
    "-fps_mode",
    "passthrough",
    "-bsf:v",
    cast(str, COPIED["h264"]),
]  # (x264's own SEI names its settings: dropped too)
REBUILDING = {"rebuilding": True}
# A PIL image (PIL.Image.Image), as Any: PIL is imported late, in the child (preload), not here for types alone.
PILImage = Any


def is_media(type_: str) -> bool:
    return type_ in MEDIA


class RefusedInChild(Exception):
    """The file breaks a rule the submitter can act on (raised in this child; the parent hears its code, which
    intake keeps as an intake.Refusal); ``code`` names it, ``limit`` is the number involved."""

    def __init__(self, code: str, limit: int | None = None):
        super().__init__(code)
        self.code, self.limit = code, limit


# --- confinement ------------------------------------------------------------------------------------------


def confine(settings: dict[str, Any]) -> None:
    """Give up everything a decoder does not need, for good, before any hostile byte is read."""
    limit = resource.setrlimit
    limit(resource.RLIMIT_CORE, (0, 0))
    limit(resource.RLIMIT_AS, (settings["memory"],) * 2)
    limit(resource.RLIMIT_FSIZE, (settings["file_size"],) * 2)
    limit(resource.RLIMIT_CPU, (settings["cpu_seconds"], cpu_ceiling(settings)))
    media = any(is_media(t) for t in settings.get("types", ()))
    files = 64 if media else 16  # ffmpeg and ffprobe need pipes and a few files of their own
    limit(resource.RLIMIT_NOFILE, (files, files))  # the fds passed in stay usable; hardly any new one can be made
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
        # ffprobe and ffmpeg are children of this one, with threads of their own.
        tasks = 64 if media else 2 if "image/heic" in settings.get("types", ()) else 1
        limit(resource.RLIMIT_NPROC, (tasks, tasks))
    landlock(
        libc,
        readable=settings.get("readable", []),
        executable=settings.get("executable", []),
        read_fds=settings.get("read_fds", []),
        write_fds=settings.get("write_fds", []),
    )


def cpu_ceiling(settings: dict[str, Any]) -> int:
    """CPU seconds this child may use in all: each of its jobs gets its own budget (see allow_cpu); a video
    re-encode, its own (rebuild_args), which ffmpeg may be given only under this ceiling."""
    video = settings.get("video_cpu_seconds", 0) + 5 if any(is_media(t) for t in settings.get("types", ())) else 0
    return cast(int, settings["cpu_seconds"] * settings["jobs"] + video + 1)


def allow_cpu(settings: dict[str, Any]) -> None:
    """One more job's CPU budget, counted from what the child has used so far; SIGXCPU ends it past that."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = int(usage.ru_utime + usage.ru_stime) + 1
    ceiling = cpu_ceiling(settings)
    resource.setrlimit(resource.RLIMIT_CPU, (min(spent + settings["cpu_seconds"], ceiling), ceiling))


LANDLOCK_CREATE_RULESET, LANDLOCK_ADD_RULE, LANDLOCK_RESTRICT_SELF = 444, 445, 446
# The file-system rights each Landlock ABI version knows (1: 13 rights; 2: REFER; 3: TRUNCATE; 5: IOCTL_DEV).
FS_RIGHTS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR, TRUNCATE = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 14
READ = READ_FILE | READ_DIR  # (mapping a library needs no EXECUTE; running a program, its loader included, does)
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE  # what a rule on a file (not a folder) may name


class RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi(libc: ctypes.CDLL | None = None) -> int:
    """The Landlock ABI version the kernel offers; 0 where there is none."""
    libc = libc or ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


def landlock(
    libc: ctypes.CDLL,
    readable: list[str],
    executable: list[str] | tuple[str, ...] = (),
    read_fds: list[int] | tuple[int, ...] = (),
    write_fds: list[int] | tuple[int, ...] = (),
) -> int:
    """Deny every path but ``readable`` (read-only: the Python installation) and ``executable`` (read and run:
    ffmpeg, ffprobe and the libraries they load), every file but those of ``read_fds`` (read) and ``write_fds``
    (write), every TCP bind and connect (ABI 4), and signals and abstract sockets outside this process (ABI 6).
    Returns the ABI used; 0: not available."""
    abi = landlock_abi(libc)
    if abi <= 0:
        return 0
    attr = RulesetAttr(fs=FS_RIGHTS[min(abi, 5)], net=3 if abi >= 4 else 0, scoped=3 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = libc.syscall(LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise SystemExit("landlock: no ruleset")

    def allow(fd: int, rights: int) -> None:
        if not os.path.isdir(f"/proc/self/fd/{fd}"):
            rights &= FILE_RIGHTS
        rule = PathBeneath(allowed=rights & attr.fs, parent_fd=fd)
        libc.syscall(LANDLOCK_ADD_RULE, ruleset, ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0))

    for paths, rights in ((readable, READ), (executable, READ | EXECUTE)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            allow(fd, rights)
            os.close(fd)
    for fd in read_fds:
        allow(fd, READ_FILE)
    for fd in write_fds:
        allow(fd, WRITE_FILE | TRUNCATE)
    if libc.syscall(LANDLOCK_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
        raise SystemExit("landlock: could not restrict")
    os.close(ruleset)
    return abi


# --- images ---------------------------------------------------------------------------------------------


def pixels_only(image: PILImage) -> PILImage:
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


def save_still(clean: PILImage, out: IO[bytes], fmt: str) -> None:
    extra = {"transparency": clean.info["transparency"]} if "transparency" in clean.info else {}
    if fmt == "JPEG":
        clean.convert("RGB").save(out, "JPEG", quality=90)
    elif fmt == "PNG":
        clean.save(out, "PNG", **extra)
    elif fmt == "WEBP":
        clean.convert("RGBA" if "A" in clean.getbands() or clean.mode == "P" else "RGB").save(out, "WEBP", quality=90)
    else:
        clean.save(out, "GIF", **extra)


def save_animation(image: PILImage, out: IO[bytes], fmt: str) -> PILImage:
    frames: list[PILImage] = []
    durations: list[int] = []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(pixels_only(image.convert("RGBA")))
        durations.append(image.info.get("duration", 100))
    options: dict[str, Any] = {
        "save_all": True,
        "append_images": frames[1:],
        "duration": durations,
        "loop": image.info.get("loop", 0),
    }
    if fmt == "GIF":
        options["disposal"] = 2
    frames[0].save(out, fmt, **options)
    return frames[0]


def thumbnail(image: PILImage, out: IO[bytes]) -> None:
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


def scrub_image(job: dict[str, Any], files: "Files") -> dict[str, Any]:
    from PIL import Image, ImageOps

    fmt, stored = FORMATS[job["type"]]
    with Image.open(files.src, formats=[fmt]) as image:
        frames = getattr(image, "n_frames", 1)
        if fmt == "TIFF" and frames > 1:
            raise RefusedInChild("tiff_pages", frames)
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


def scrub_pdf(job: dict[str, Any], files: "Files", settings: dict[str, Any]) -> dict[str, Any]:
    """Render every page to pixels with PDFium and make a new PDF of the page images alone."""
    import img2pdf
    import pypdfium2 as pdfium

    data = files.src.read()
    try:
        pdf = pdfium.PdfDocument(data)  # an owner password alone does not stop PDFium, only a user password does
    except pdfium.PdfiumError as error:
        # PDFium's codes: 4 a (user) password is needed; 0 no error, yet no document: it has no page.
        code: Any = getattr(error, "err_code", None)
        raise RefusedInChild({4: "pdf_password", 0: "pdf_empty"}.get(code, "unreadable")) from None
    pages = len(pdf)
    if pages == 0:
        raise RefusedInChild("pdf_empty")
    if pages > settings["max_pages"]:
        raise RefusedInChild("pdf_pages", settings["max_pages"])
    images: list[bytes] = []
    previews = 0
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


# --- videos and recordings -------------------------------------------------------------------------------


def tool(
    settings: dict[str, Any], name: str, args: list[str], fds: list[int], limit: int = 1 << 20, cpu: int = 0
) -> bytes:
    """Run ffmpeg or ffprobe on the descriptors ``fds`` (named /proc/self/fd/N in ``args``); its output, or
    RefusedInChild if it fails. With ``cpu``, the program gets that many CPU seconds of its own (SIGXCPU past them), and
    a failure after using them is a RefusedInChild for time."""
    import subprocess

    def budget() -> None:  # in the program's process, before it starts: this one is single-threaded
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))

    before = children_cpu()
    done = subprocess.run(  # noqa: S603  (the configured ffmpeg or ffprobe; the file comes as an fd, not a name)
        [settings[name], "-hide_banner", *(["-nostdin"] if name == "ffmpeg" else []), "-v", "error", *args],
        env={},
        input=b"",  # (not /dev/null: the child may open no path)
        capture_output=True,  # what it says on stderr is dropped: it may quote the file
        pass_fds=fds,
        check=False,
        preexec_fn=budget if cpu else None,
    )
    if done.returncode != 0 and cpu and children_cpu() - before >= cpu - 1:
        # (ffmpeg takes the first SIGXCPU as a request to stop, and ends with an error of its own)
        raise RefusedInChild("video_too_slow", cpu)
    if done.returncode != 0 or len(done.stdout) > limit:
        raise RefusedInChild("media_unreadable")
    return done.stdout


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def scrub_media(job: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the first video and first audio stream into a new file of the same kind, and nothing else."""
    muxer = MEDIA[job["type"]].muxer
    src, dst = (f"/proc/self/fd/{job[k]}" for k in ("src", "dst"))
    video, audio, duration = media_streams(job, settings)
    maps = [arg for s in (video, audio) if s is not None for arg in ("-map", f"0:{s['index']}")]
    rebuild = video is not None and not copyable(video)
    width, height = shown_size(video)
    if rebuild:
        if muxer == "webm" or not (width and height):
            raise RefusedInChild("media_unreadable")  # (WebM takes no H.264)
        width, height = rebuilt_size(width, height)
        codecs = [*REBUILD, "-vf", f"scale={width}:{height}", *bitrate_cap(settings, duration), "-c:a", "copy"]
    else:
        kept_units = COPIED[video["codec_name"]] if video else None
        codecs = ["-c", "copy", *(["-bsf:v", kept_units] if kept_units else [])]
    args = ["-threads", "2", "-i", src, *maps, *codecs, "-map_metadata", "-1", "-map_chapters", "-1"]
    for kind in ("v", "a"):
        args += [f"-map_metadata:s:{kind}", "-1"]
    args += ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
    args += [*MUXER_OPTIONS.get(muxer, []), "-f", muxer, "-y", dst]
    fds, previews = [job["src"], job["dst"]], 0
    if video is not None and job["previews"]:
        args += poster_args(video, job["previews"][0])
        fds.append(job["previews"][0])
        previews = 1
    if rebuild:
        tell_parent(REBUILDING)
    tool(settings, "ffmpeg", args, fds, cpu=settings["video_cpu_seconds"] if rebuild else 0)
    if previews and os.fstat(job["previews"][0]).st_size == 0:
        previews = 0  # no frame could be decoded: the file is still sent, without a poster
    return {"ok": True, "type": job["type"], "width": width, "height": height, "previews": previews, "pages": None}


def media_streams(
    job: dict[str, Any], settings: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, float]:
    """ffprobe's word on the file: its first video stream (not cover art), first audio stream and duration;
    RefusedInChild if it is not what its name and first bytes said, or too long."""
    src = f"/proc/self/fd/{job['src']}"
    args = ["-of", "json", "-show_format", "-show_streams", "-show_data", src]  # (-show_data: the codec's record)
    info = json.loads(tool(settings, "ffprobe", args, [job["src"]]))
    formats = info.get("format", {}).get("format_name", "").split(",")
    if MEDIA[job["type"]].probed_as not in formats:
        raise RefusedInChild("media_unreadable")  # not what its name and first bytes said
    streams = info.get("streams", [])
    duration = float(info["format"].get("duration") or 0)
    if duration > settings["media_seconds"]:
        raise RefusedInChild("media_duration", settings["media_seconds"] // 60)
    # Cover art in a recording (an "attached picture") is an image with its own metadata: never kept.
    pictures = [
        s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    video = None if job["type"].startswith("audio/") or not pictures else pictures[0]
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise RefusedInChild("media_unreadable")
    return video, audio, duration


def shown_size(video: dict[str, Any] | None) -> tuple[int | None, int | None]:
    """The picture's width and height as it is shown (turned by its display orientation)."""
    if video is None:
        return None, None
    width, height = int(video.get("width") or 0) or None, int(video.get("height") or 0) or None
    rotation = next((abs(int(d.get("rotation", 0))) for d in video.get("side_data_list", [])), 0)
    return (height, width) if rotation in (90, 270) else (width, height)


def rebuilt_size(width: int, height: int) -> tuple[int, int]:
    """At most REBUILT_LONG_SIDE on the long side (the CPU a re-encode takes follows the pixels), even numbers."""
    scale = min(1.0, REBUILT_LONG_SIDE / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def bitrate_cap(settings: dict[str, Any], duration: float) -> list[str]:
    """A re-encode fits the largest file the child may write, however costly its picture (sensor noise costs bits):
    at most 8 Mbit/s, less for a long video; a quarter of the room is left to its sound."""
    rate = min(8_000_000, int(settings["file_size"] * 8 * 0.75 / max(duration, 1.0)))
    return ["-maxrate", str(rate), "-bufsize", str(2 * rate)]


def poster_args(video: dict[str, Any], fd: int) -> list[str]:
    """A second output: the first frame, upright, at most 480 px wide, as a plain JPEG."""
    poster = f"/proc/self/fd/{fd}"
    scale = "scale='min(480,iw)':-2"
    args = ["-map", f"0:{video['index']}", "-frames:v", "1", "-vf", scale, "-map_metadata", "-1"]
    return [*args, "-fflags", "+bitexact", "-flags:v", "+bitexact", "-c:v", "mjpeg", "-f", "mjpeg", "-y", poster]


def copyable(video: dict[str, Any]) -> bool:
    """May this picture be copied: a codec in COPIED whose configuration record holds only what the codec defines
    there? (A muxer writes that record again byte for byte, and filter_units does not filter it.)"""
    codec = video.get("codec_name")
    if codec not in COPIED:
        return False
    try:
        record = hexdump_bytes(video.get("extradata") or "")
        return RECORDS[codec](record)
    except (ValueError, IndexError):
        return False


def hexdump_bytes(dump: str) -> bytes:
    """The bytes of ffprobe's -show_data dump ("00000000: 0164 001f ...  ascii" lines)."""
    return b"".join(bytes.fromhex(line[10:50].replace(" ", "")) for line in dump.splitlines() if line.strip())


def nal_units(data: bytes, at: int, count: int) -> tuple[list[bytes], int]:
    """``count`` NAL units each after a 16-bit length, from ``at``; and where they end."""
    units = []
    for _ in range(count):
        length = int.from_bytes(data[at : at + 2], "big")
        units.append(data[at + 2 : at + 2 + length])
        if len(units[-1]) != length or length == 0:
            raise ValueError("short")
        at += 2 + length
    return units, at


def avcc_clean(record: bytes) -> bool:
    """avcC: its sequence and picture parameter sets (and, for the high profiles, their extensions), nothing else."""
    if not record:
        return True  # parameter sets in the stream itself, where the filter sees them
    if record[0] != 1:
        return False
    sps, at = nal_units(record, 6, record[5] & 0x1F)
    pps, at = nal_units(record, at + 1, record[at])
    extensions: list[bytes] = []
    if at < len(record):  # (written for the high profiles: chroma format, bit depths)
        extensions, at = nal_units(record, at + 4, record[at + 3])
    kinds = [u[0] & 0x1F for u in sps] + [u[0] & 0x1F for u in pps] + [u[0] & 0x1F for u in extensions]
    return at == len(record) and kinds == [7] * len(sps) + [8] * len(pps) + [13] * len(extensions)


def hvcc_clean(record: bytes) -> bool:
    """hvcC: arrays of video, sequence and picture parameter sets only (x265 and cameras may add SEI arrays)."""
    if not record:
        return True
    if record[0] != 1:
        return False
    at = 23
    for _ in range(record[22]):
        kind, count = record[at] & 0x3F, int.from_bytes(record[at + 1 : at + 3], "big")
        units, at = nal_units(record, at + 3, count)
        if kind not in (32, 33, 34) or any((u[0] >> 1) & 0x3F != kind for u in units):
            return False
    return at == len(record)


def av1c_clean(record: bytes) -> bool:
    """av1C: its four bytes, then at most sequence header OBUs (metadata OBUs may sit there too: not copied)."""
    if not record:
        return True
    at = 4
    while at < len(record):
        header = record[at]
        if (header >> 3) & 0x0F != 1 or not header & 0x02:  # a sequence header, with its size
            return False
        at += 2 if header & 0x04 else 1
        size, shift = 0, 0
        while True:  # leb128
            byte = record[at]
            size, shift, at = size | (byte & 0x7F) << shift, shift + 7, at + 1
            if not byte & 0x80:
                break
        at += size
    return at == len(record) and record[0] == 0x81


def vpx_clean(record: bytes) -> bool:
    """VP8, VP9: nothing, or WebM's feature list of VP9 (profile, level, bit depth, chroma: one byte each)."""
    items = [record[at : at + 3] for at in range(0, len(record), 3)]
    return all(len(i) == 3 and 1 <= i[0] <= 4 and i[1] == 1 for i in items)


RECORDS = {"h264": avcc_clean, "hevc": hvcc_clean, "av1": av1c_clean, "vp8": vpx_clean, "vp9": vpx_clean}


def tell_parent(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# --- the job loop ---------------------------------------------------------------------------------------


class Files:
    """The descriptors of one job, opened on what the parent passed."""

    src: IO[bytes]
    dst: IO[bytes]
    previews: list[IO[bytes]]

    def __init__(self, job: dict[str, Any]):
        self.src = os.fdopen(job["src"], "rb", closefd=True)
        self.dst = os.fdopen(job["dst"], "wb", closefd=True)
        self.previews = [os.fdopen(fd, "wb", closefd=True) for fd in job["previews"]]

    def close(self) -> None:
        for f in (self.src, self.dst, *self.previews):
            f.close()


def run(job: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    from PIL import Image

    if is_media(job["type"]):
        try:
            return scrub_media(job, settings)
        except RefusedInChild as refusal:
            return {"ok": False, "error": refusal.code, "limit": refusal.limit}
        except (ValueError, KeyError, TypeError, OSError):
            return {"ok": False, "error": "media_unreadable", "limit": None}
    files = Files(job)
    try:
        if job["type"] == "application/pdf":
            return scrub_pdf(job, files, settings)
        return scrub_image(job, files)
    except RefusedInChild as refusal:
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
    if any(is_media(t) for t in types):
        import subprocess  # noqa: F401  (ffmpeg and ffprobe are started from here, after confine())
    if "image/heic" in types:
        import pillow_heif

        pillow_heif.register_heif_opener(thumbnails=False)
        pillow_heif.options.DECODE_THREADS = 1  # decoders run single-threaded: the child may start no thread
    for type_ in types:
        if not is_media(type_):
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
        tell_parent(run(json.loads(line), settings))


if __name__ == "__main__":
    main()
