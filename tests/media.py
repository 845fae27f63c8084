"""Videos and recordings made by the tests with ffmpeg (and exiftool), carrying the kinds of metadata phones and
cameras write: place, device, dates, author, titles, telemetry, subtitles, cover art. Each sample carries SECRET
somewhere, so that a test can look for it in the rebuilt file's bytes."""

import json
import os
import shutil
import subprocess

import pytest

SECRET = "SECRETMEDIA4471"
FFMPEG, FFPROBE, EXIFTOOL = shutil.which("ffmpeg"), shutil.which("ffprobe"), shutil.which("exiftool")


def need_tools() -> None:
    if not (FFMPEG and FFPROBE and EXIFTOOL):
        if os.environ.get("CI"):
            pytest.fail("ffmpeg, ffprobe and exiftool are missing: .ci/system-deps installs them")
        pytest.skip("ffmpeg, ffprobe or exiftool is not installed here (make test installs them)")


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-v", "error", "-y", *args], check=True, timeout=120)


def probe(path) -> dict:
    done = subprocess.run(
        [FFPROBE, "-v", "error", "-of", "json", "-show_format", "-show_streams", "-show_chapters", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def exif(path) -> dict:
    """Everything exiftool finds, embedded documents included (-ee: timed metadata, telemetry)."""
    done = subprocess.run([EXIFTOOL, "-j", "-a", "-ee", "-G1", "-u", str(path)], capture_output=True, text=True)
    return json.loads(done.stdout)[0]


def _video_source(seconds: float, size: str = "160x120") -> list[str]:
    return [
        "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={seconds}",
    ]  # fmt: skip


DEVICE = ["-metadata", "make=Apple", "-metadata", f"model=iPhone 15 Pro {SECRET}",
          "-metadata", "creation_time=2026-11-01T10:00:00Z", "-metadata", f"title=Protest {SECRET}",
          "-metadata", "location=+53.9023+027.5619/", "-metadata", "location-eng=+53.9023+027.5619/"]  # fmt: skip


def iphone_mov(folder, seconds: float = 1) -> str:
    """A QuickTime file as an iPhone writes it: ©xyz place, make and model, dates, a title, turned 90°."""
    plain = os.path.join(folder, "plain.mov")
    ffmpeg(*_video_source(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", *DEVICE, plain)
    path = os.path.join(folder, "IMG_0001.MOV")
    ffmpeg("-i", plain, "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=90", *DEVICE,
           "-metadata:s:v:0", f"handler_name=Core Media Video {SECRET}", path)  # fmt: skip
    os.remove(plain)
    return path


def telemetry_mp4(folder) -> str:
    """An action camera's file: besides picture and sound, a timecode data track and a subtitle track that
    carries the GPS track as text (the streams a GoPro or DJI file adds), and chapters."""
    srt = os.path.join(folder, "gps.srt")
    with open(srt, "w") as f:
        f.write(f"1\n00:00:00,000 --> 00:00:01,000\nGPS 53.9023 27.5619 {SECRET}\n")
    chapters = os.path.join(folder, "chapters.txt")
    with open(chapters, "w") as f:
        f.write(f";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle=Chapter {SECRET}\n")
    path = os.path.join(folder, "GX010001.mp4")
    ffmpeg(*_video_source(1), "-i", srt, "-i", chapters, "-map", "0:v", "-map", "1:a", "-map", "2:s",
           "-map_chapters", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", "mov_text",
           "-timecode", "01:00:00:00", "-metadata:s:s:0", f"handler_name=GoPro MET {SECRET}", *DEVICE,
           path)  # fmt: skip
    return path


def id3_mp3(folder) -> str:
    """A voice memo as MP3, with ID3 tags (title, artist, comment) and cover art."""
    cover = os.path.join(folder, "cover.jpg")
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=32x32", "-frames:v", "1", cover)
    path = os.path.join(folder, "memo.mp3")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=22050:duration=1", "-i", cover,
           "-map", "0", "-map", "1", "-c:a", "libmp3lame", "-c:v", "copy", "-id3v2_version", "3",
           "-metadata", f"title=Memo {SECRET}", "-metadata", f"artist=Anna {SECRET}",
           "-metadata", f"comment=Recorded at 53.9023 27.5619 {SECRET}", "-metadata:s:v", "comment=Cover (front)",
           path)  # fmt: skip
    return path


def authored_m4a(folder) -> str:
    """A phone's voice recording (M4A, brand isom), with an author, a title and a place."""
    path = os.path.join(folder, "New Recording 12.m4a")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=22050:duration=1", "-c:a", "aac",
           "-metadata", f"author=Anna {SECRET}", "-metadata", f"artist=Anna {SECRET}", *DEVICE,
           "-brand", "isom", "-f", "ipod", path)  # fmt: skip
    return path


def tagged(folder, name: str, codecs: list[str]) -> str:
    """Another format with tags of its own (WebM, OGG/Opus, WAV)."""
    path = os.path.join(folder, name)
    audio_only = not name.endswith(".webm")
    source = (
        ["-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=1"] if audio_only else _video_source(1)
    )
    ffmpeg(*source, *codecs, "-metadata", f"title=Title {SECRET}", "-metadata", f"artist=Anna {SECRET}", path)
    return path


def long_video(folder, seconds: int) -> str:
    path = os.path.join(folder, "long.mp4")
    ffmpeg("-f", "lavfi", "-i", f"color=c=blue:size=32x32:rate=1:duration={seconds}", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", path)  # fmt: skip
    return path


def sized_video(folder, megabytes: float, name: str = "evidence.mp4") -> str:
    """A video of about ``megabytes`` MB (lossless H.264 of a moving test picture, with sound)."""
    path = os.path.join(folder, name)
    seconds = max(1.0, megabytes / 1.95)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=f=440",
           "-t", f"{seconds:.2f}", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-c:a", "aac",
           "-shortest", *DEVICE, path)  # fmt: skip
    return path


# --- Videos whose frames carry metadata of their own (a stream copy would keep it, byte for byte) ----------------

# Markers a camera writes into each frame: exiftool -ee does not see them inside a video, so tests look at the bytes.
# (The GPS position is binary in EXIF: the tests look for the EXIF header itself, which holds it.)
FRAME_MARKERS = (b"SERIAL4471CAM", b"MakerCam4471", b"ModelDash4471", b"Exif\x00\x00")
SEI_MARKER = b"SEIMARK4471DRONE"


def exif_jpeg(folder) -> str:
    """A still as a compact camera or a dashcam writes it: GPS position, make, model and serial number."""
    path = os.path.join(folder, "frame.jpg")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120", "-frames:v", "1", path)
    subprocess.run(
        [EXIFTOOL, "-q", "-overwrite_original", "-GPSLatitude=53.9023", "-GPSLatitudeRef=N", "-GPSLongitude=27.5619",
         "-GPSLongitudeRef=E", "-GPSAltitude=220", "-Make=MakerCam4471", "-Model=ModelDash4471",
         "-SerialNumber=SERIAL4471CAM", "-BodySerialNumber=SERIAL4471CAM", path],
        check=True,
    )  # fmt: skip
    return path


def mjpeg_video(folder, name: str, seconds: float = 1) -> str:
    """A Motion-JPEG video (.mov or .mp4) whose every frame is that still, its EXIF included, with sound."""
    still = exif_jpeg(folder)
    path = os.path.join(folder, name)
    audio = "pcm_s16le" if name.endswith(".mov") else "aac"
    ffmpeg("-loop", "1", "-framerate", "10", "-i", still, "-f", "lavfi", "-i", "sine=f=440:sample_rate=22050",
           "-t", str(seconds), "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", audio, path)  # fmt: skip
    return path


def png_video(folder, name: str = "timelapse.mov") -> str:
    """A video of PNG frames, each with a text chunk (a timelapse made from screenshots, a screen recorder)."""
    still = os.path.join(folder, "frame.png")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120", "-frames:v", "1", still)
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", f"-PNG:Comment={SECRET}", still], check=True)
    path = os.path.join(folder, name)
    ffmpeg("-loop", "1", "-framerate", "10", "-i", still, "-t", "1", "-c:v", "copy", path)
    return path


def sei_h264(folder, name: str = "DJI_0001.mp4") -> str:
    """An H.264 video with SEI user data in its frames, where drones, dashcams and camcorders write GPS and ids."""
    path = os.path.join(folder, name)
    user_data = f"086f3693-b7b3-4f2c-9653-21492feee5b8+{SEI_MARKER.decode()}"
    ffmpeg(*_video_source(1), "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-bsf:v", f"h264_metadata=sei_user_data={user_data}", "-c:a", "aac", path)  # fmt: skip
    return path


def hevc_mp4(folder, name: str = "IMG_0002.mp4", params: str = "log-level=error") -> str:
    """An HEVC video as x265 writes it: its own name, version and options in an SEI, in the hvcC box and the frames."""
    path = os.path.join(folder, name)
    ffmpeg(*_video_source(1), "-c:v", "libx265", "-x265-params", params, "-tag:v", "hvc1", "-c:a", "aac", path)
    return path


def mpeg4_video(folder, name: str = "MOV00012.3gp", size: str = "176x144") -> str:
    """An MPEG-4 Part 2 video as an older phone writes it (3GP, or MP4)."""
    path = os.path.join(folder, name)
    audio = ["-c:a", "aac", "-ar", "8000"] if name.endswith(".3gp") else ["-c:a", "aac"]
    ffmpeg(*_video_source(1, size), "-c:v", "mpeg4", *audio, path)
    return path


def frame_video(folder, seconds: float, size: str = "1280x720", name: str = "dashcam.mov") -> str:
    """A Motion-JPEG video with changing pictures: its re-encode takes real CPU time."""
    path = os.path.join(folder, name)
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30,noise=alls=12:allf=t", "-t", str(seconds),
           "-c:v", "mjpeg", "-q:v", "4", path)  # fmt: skip
    return path


def av1_hdr_mp4(folder, name: str = "clip.mp4") -> str:
    """An AV1 video with metadata OBUs in its frames (SVT-AV1 writes HDR mastering data there)."""
    path = os.path.join(folder, name)
    hdr = "mastering-display=G(0.265,0.69)B(0.15,0.06)R(0.68,0.32)WP(0.3127,0.329)L(1000,0.0001):content-light=1000,400"
    ffmpeg(
        *_video_source(1), "-pix_fmt", "yuv420p10le", "-c:v", "libsvtav1", "-svtav1-params", hdr, "-c:a", "aac", path
    )
    return path


def picture_units(path) -> tuple[str, list[int]]:
    """A video's picture codec and the types of the units its stream is made of, its configuration record included
    (written out in front of the first frame): NAL unit types for H.264 and HEVC, OBU types for AV1."""
    codec = next(s["codec_name"] for s in probe(path)["streams"] if s["codec_type"] == "video")
    raw = f"{path}.raw"
    bsf = {"h264": ["-bsf:v", "h264_mp4toannexb"], "hevc": ["-bsf:v", "hevc_mp4toannexb"]}.get(codec, [])
    ffmpeg("-i", str(path), "-map", "0:v:0", "-c", "copy", *bsf, "-f", "obu" if codec == "av1" else codec, raw)
    with open(raw, "rb") as f:
        data = f.read()
    os.remove(raw)
    if codec == "h264":
        return codec, [unit[0] & 0x1F for unit in data.split(b"\x00\x00\x01")[1:]]
    if codec == "hevc":
        return codec, [(unit[0] >> 1) & 0x3F for unit in data.split(b"\x00\x00\x01")[1:]]
    types, at = [], 0
    while at < len(data):  # AV1 OBUs, each with its size (leb128)
        header = data[at]
        types.append((header >> 3) & 0x0F)
        at += 2 if header & 0x04 else 1
        size, shift = 0, 0
        while True:
            size, shift, at = size | (data[at] & 0x7F) << shift, shift + 7, at + 1
            if not data[at - 1] & 0x80:
                break
        at += size
    return codec, types
