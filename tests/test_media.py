"""Videos and voice recordings: rebuilt by ffmpeg in the sandbox by stream copy, with one video and one audio stream
and no metadata (checked with exiftool -ee and ffprobe on samples carrying place, device and author), the
orientation kept; refused clearly when they cannot be; limits of their own; a poster frame for moderators, never a
player; never public; refused, and not offered, where the server has no ffmpeg."""

import io
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import Attachment
from app.uploads import intake, sandbox
from tests import media
from tests.helpers import errors_in, make_app, make_user, receipt_from, sign_in

pytestmark = pytest.mark.usefixtures("tools")

# Tags a muxer writes by itself, which say nothing about the sender.
HARMLESS_TAGS = {
    "handler_name",
    "vendor_id",
    "language",
    "major_brand",
    "minor_version",
    "compatible_brands",
    "DURATION",
}


@pytest.fixture
def tools():
    media.need_tools()


def rebuilt(app, path: str, work) -> intake.Received:
    """Receive and rebuild one file exactly as a submission does."""
    work.mkdir(exist_ok=True)
    with open(path, "rb") as f:
        stored = FileStorage(stream=io.BytesIO(f.read()), filename=os.path.basename(path))
    limits = intake.limits_from(app.config)
    (received,) = intake.receive([stored], limits, str(work))
    intake.scrub([received], sandbox.settings_from(app.config), str(work))
    return received


def refused(app, path: str, work) -> list[str]:
    with pytest.raises(intake.FilesRefused) as caught:
        rebuilt(app, path, work)
    return caught.value.messages


# What a phone, a camera or an editing program says about the sender, by exiftool's tag names.
SENDER_TAGS = {
    "Make", "Model", "Artist", "Author", "Title", "Comment", "Location", "Software", "Encoder", "Album", "Genre",
    "GPSCoordinates", "GPSLatitude", "GPSLongitude", "GPSPosition", "LocationInformation", "ContentCreateDate",
    "CreationDate", "DateTimeOriginal", "Copyright", "Description", "Keywords",
}  # fmt: skip
DATES = ("CreateDate", "ModifyDate", "TrackCreateDate", "TrackModifyDate", "MediaCreateDate", "MediaModifyDate")


def assert_no_sender_data(path: str) -> None:
    data = Path(path).read_bytes()
    # (The samples' own encoders left their names inside the picture and sound data, "x264" and "Lavc": codec data
    # that a stream copy keeps, as it keeps the sender's phone's.)
    for word in (media.SECRET.encode(), b"53.9023", b"027.5619", b"iPhone", b"Apple", b"Anna"):
        assert word not in data, word
    found = media.exif(path)
    leftovers = {
        key: value
        for key, value in found.items()
        if key.split(":")[-1] in SENDER_TAGS
        or (key.split(":")[-1] in DATES and not str(value).startswith("0000"))
        or "GPS" in key
        or media.SECRET in str(value)
    }
    assert leftovers == {}, leftovers
    probed = media.probe(path)
    assert probed.get("chapters", []) == []
    for tags in [probed["format"].get("tags", {}), *(s.get("tags", {}) for s in probed["streams"])]:
        # (WebM names the program that wrote it, "Lavf" without a version, and a re-encoded picture its encoder:
        # ours, the same for every file.)
        ours = {("encoder", "Lavf"), ("encoder", "Lavc libx264")}
        assert {k for k, v in tags.items() if (k, v) not in ours} <= HARMLESS_TAGS, tags


def test_an_iphone_mov_loses_its_place_device_and_dates_and_keeps_its_orientation(app, tmp_path):
    source = media.iphone_mov(str(tmp_path))
    before = media.exif(source)
    assert any("GPS" in k for k in before) and before.get("UserData:Make") == "Apple"  # the sample carries them
    assert media.probe(source)["streams"][0]["side_data_list"][0]["rotation"] in (90, -90)
    result = rebuilt(app, source, tmp_path / "work")
    assert (result.type, result.name) == ("video/quicktime", "IMG_0001.mov")
    assert_no_sender_data(result.clean_path)
    streams = media.probe(result.clean_path)["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio"]
    assert streams[0]["side_data_list"][0]["rotation"] in (90, -90)  # geometry, not metadata: it stays
    assert (result.width, result.height) == (120, 160)  # as shown: upright
    assert len(result.previews) == 1  # the poster frame
    with open(result.previews[0], "rb") as poster:
        head = poster.read()
    assert head.startswith(b"\xff\xd8") and b"Lavc" not in head and media.SECRET.encode() not in head  # bitexact


def test_telemetry_subtitles_and_chapters_are_dropped(app, tmp_path):
    source = media.telemetry_mp4(str(tmp_path))
    kinds = [s["codec_type"] for s in media.probe(source)["streams"]]
    assert "data" in kinds and "subtitle" in kinds and media.probe(source)["chapters"]
    result = rebuilt(app, source, tmp_path / "work")
    assert result.type == "video/mp4"
    assert [s["codec_type"] for s in media.probe(result.clean_path)["streams"]] == ["video", "audio"]
    assert_no_sender_data(result.clean_path)


def test_an_mp3_loses_its_id3_tags_and_cover_art(app, tmp_path):
    source = media.id3_mp3(str(tmp_path))
    assert Path(source).read_bytes().startswith(b"ID3")
    result = rebuilt(app, source, tmp_path / "work")
    assert result.type == "audio/mpeg" and result.previews == []
    data = Path(result.clean_path).read_bytes()
    assert not data.startswith(b"ID3") and b"TAG" not in data[-128:]
    assert [s["codec_type"] for s in media.probe(result.clean_path)["streams"]] == ["audio"]
    assert_no_sender_data(result.clean_path)


def test_an_m4a_whose_brand_says_isom_is_taken_as_a_recording_without_its_author(app, tmp_path):
    source = media.authored_m4a(str(tmp_path))
    assert Path(source).read_bytes()[8:12] == b"isom"
    result = rebuilt(app, source, tmp_path / "work")
    assert (result.type, result.name) == ("audio/mp4", "New Recording 12.m4a")
    assert_no_sender_data(result.clean_path)


@pytest.mark.parametrize(
    ("name", "codecs", "type_"),
    [
        ("clip.webm", ["-c:v", "libvpx", "-b:v", "100k", "-c:a", "libopus"], "video/webm"),
        ("voice.ogg", ["-c:a", "libopus"], "audio/ogg"),
        ("voice.wav", ["-c:a", "pcm_s16le"], "audio/wav"),
    ],
)
def test_webm_ogg_and_wav_lose_their_tags(app, tmp_path, name, codecs, type_):
    source = media.tagged(str(tmp_path), name, codecs)
    assert media.SECRET.encode() in Path(source).read_bytes()
    result = rebuilt(app, source, tmp_path / "work")
    assert result.type == type_
    assert_no_sender_data(result.clean_path)


@pytest.mark.parametrize("app_config", [{"UPLOAD_MAX_MEDIA_MINUTES": 1}])
def test_a_video_over_the_duration_limit_is_refused(app, tmp_path):
    source = media.long_video(str(tmp_path), 65)
    assert refused(app, source, tmp_path / "work") == ["long.mp4 is longer than 1 minute. Send a shorter part of it."]


def test_what_cannot_be_rebuilt_is_refused_clearly(app, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(5000))
    assert refused(app, str(broken), tmp_path / "work") == [
        "broken.mp4 could not be rebuilt without its hidden data: it may be damaged, or hold streams we cannot copy "
        "safely. Try another file or another format."
    ]
    named_wrong = tmp_path / "memo.mp3"
    named_wrong.write_bytes(Path(media.authored_m4a(str(tmp_path))).read_bytes())
    assert refused(app, str(named_wrong), tmp_path / "work") == [
        "The name of memo.mp3 does not match what the file contains. Check that it is the file you meant."
    ]


@pytest.mark.parametrize("app_config", [{"UPLOAD_MAX_FILE_MB": 1, "UPLOAD_MAX_MEDIA_MB": 3}])
def test_videos_have_size_limits_of_their_own(app, client, tmp_path):
    assert app.config["MAX_CONTENT_LENGTH"] == (50 + 300 + 1) * 2**20  # the plain form's request carries both
    photo_limit = client.post(
        "/uploads",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(2 * 2**20), "Upload-Metadata": "filename YS5qcGc="},
    )
    client.get("/submit/information")
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": str(2 * 2**20)}
    photo_limit = client.post("/uploads", headers=tus | {"Upload-Metadata": "filename YS5qcGc="})  # a.jpg
    video_ok = client.post("/uploads", headers=tus | {"Upload-Metadata": "filename YS5tcDQ="})  # a.mp4
    assert (photo_limit.status_code, video_ok.status_code) == (413, 201)
    too_long = client.post(
        "/uploads", headers=tus | {"Upload-Length": str(4 * 2**20), "Upload-Metadata": "filename YS5tcDQ="}
    )
    assert too_long.status_code == 413 and "larger than 3 MB" in too_long.get_data(as_text=True)


def test_moderators_see_a_poster_and_a_download_never_a_player_and_readers_never_see_video(app, client, tmp_path):
    source = media.iphone_mov(str(tmp_path))
    with open(source, "rb") as f:
        data = {"telegram": "seller_one", "title": "Bike", "category": "goods", "body": "A bike.",
                "attachments": [(io.BytesIO(f.read()), "IMG_0001.MOV")]}  # fmt: skip
    sent = client.post("/submit/ad", data=data, content_type="multipart/form-data")
    assert sent.status_code == 200 and receipt_from(sent.get_data(as_text=True))
    with app.app_context():
        video = db.session.scalars(select(Attachment)).one()
        assert (video.content_type, video.previews) == ("video/quicktime", 1)
        ad_id, video_id = video.submission_id, video.id
    staff = app.test_client()
    sign_in(staff, app, make_user(app, "olga"))
    item = staff.get(f"/moderation/{ad_id}").get_data(as_text=True)
    assert f"/moderation/attachments/{video_id}/preview" in item and "<video" not in item and "<audio" not in item
    assert 'name="public_image"' not in item  # a video cannot be made public
    download = staff.get(f"/moderation/attachments/{video_id}")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["Content-Type"] == "video/quicktime"
    staff.post(f"/moderation/{ad_id}/approve", data={"version": 1, "public_image": video_id})
    with app.app_context():
        assert db.session.get(Attachment, video_id).public is False
    from tests.helpers import public_id

    page = client.get(f"/ads/{public_id(app, ad_id)}-bike").get_data(as_text=True)
    assert "<video" not in page and public_id(app, video_id, Attachment) not in page
    assert client.get(f"/ads/images/{public_id(app, video_id, Attachment)}").status_code == 404


def test_a_server_without_ffmpeg_refuses_videos_and_does_not_offer_them(tmp_path):
    app = make_app(tmp_path, FFMPEG="/nowhere/ffmpeg")
    with app.app_context():
        db.create_all()
    client = app.test_client()
    form = client.get("/submit/information").get_data(as_text=True)
    assert ".mp4" not in form and ".mp3" not in form and "Videos (MP4" not in form
    data = {
        "telegram": "anna_k1",
        "body": "A video.",
        "attachments": [(io.BytesIO(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100), "clip.mp4")],
    }
    refused_form = client.post("/submit/information", data=data, content_type="multipart/form-data")
    assert refused_form.status_code == 422
    assert "clip.mp4 is a video or a recording, which this site cannot take at the moment." in " ".join(
        errors_in(refused_form.get_data(as_text=True))
    )


def test_the_form_offers_videos_and_recordings_with_their_limits(client):
    form = client.get("/submit/information").get_data(as_text=True)
    assert ".mp4" in form and ".m4a" in form and ".mov" in form
    assert "at most 200 MB and 15 minutes each, 300 MB together" in form


# --- Frames that carry metadata of their own --------------------------------------------------------------------
# A stream copy keeps every byte of every frame: a Motion-JPEG frame is a whole JPEG file with its EXIF, a PNG frame
# a whole PNG with its text chunks, an H.264 or HEVC frame may hold SEI user data. exiftool -ee sees none of it
# inside a video, so these tests look for the markers in the bytes of the file as stored, and downloaded by staff.


def stored_video(app, client, path: str) -> tuple[str, bytes]:
    """Send ``path`` with the information form as a visitor does; the type and bytes of what the site stored."""
    with open(path, "rb") as f:
        data = {
            "telegram": "anna_k1",
            "body": "A video.",
            "attachments": [(io.BytesIO(f.read()), os.path.basename(path))],
        }
    sent = client.post("/submit/information", data=data, content_type="multipart/form-data")
    assert sent.status_code == 200, errors_in(sent.get_data(as_text=True))
    with app.app_context():
        video = db.session.scalars(select(Attachment)).one()
        video_id, type_ = video.id, video.content_type
    staff = app.test_client()
    sign_in(staff, app, make_user(app, "olga"))
    download = staff.get(f"/moderation/attachments/{video_id}")
    assert download.status_code == 200
    return type_, download.get_data()


def video_codec(data: bytes, tmp_path) -> str:
    copy = tmp_path / "stored.bin"
    copy.write_bytes(data)
    return next(s["codec_name"] for s in media.probe(copy)["streams"] if s["codec_type"] == "video")


@pytest.mark.parametrize(("name", "type_"), [("dashcam.mov", "video/quicktime"), ("dashcam.mp4", "video/mp4")])
def test_a_motion_jpeg_video_loses_the_exif_of_every_frame(app, client, tmp_path, name, type_):
    source = media.mjpeg_video(str(tmp_path), name)
    assert media.exif(tmp_path / "frame.jpg")["GPS:GPSLatitude"]  # each frame is this still, with its GPS position
    original = Path(source).read_bytes()
    assert all(original.count(marker) >= 10 for marker in media.FRAME_MARKERS)  # in each of its frames
    assert video_codec(original, tmp_path) == "mjpeg"
    stored_type, stored = stored_video(app, client, source)
    assert stored_type == type_
    for marker in media.FRAME_MARKERS:
        assert marker not in stored, marker
    assert video_codec(stored, tmp_path) == "h264"  # rebuilt from its pixels
    copy = tmp_path / "stored.bin"
    assert [s["codec_type"] for s in media.probe(copy)["streams"]] == ["video", "audio"]  # the sound stays


def test_a_video_of_png_frames_loses_their_text_chunks(app, client, tmp_path):
    source = media.png_video(str(tmp_path))
    original = Path(source).read_bytes()
    assert original.count(media.SECRET.encode()) >= 10 and b"tEXt" in original
    _type, stored = stored_video(app, client, source)
    assert media.SECRET.encode() not in stored and b"tEXt" not in stored
    assert video_codec(stored, tmp_path) == "h264"


def test_h264_sei_user_data_is_removed_and_the_video_is_copied_not_re_encoded(app, client, tmp_path):
    source = media.sei_h264(str(tmp_path))
    original = Path(source).read_bytes()
    assert media.SEI_MARKER in original and b"x264 - core" in original  # the encoder's own SEI too
    _type, stored = stored_video(app, client, source)
    assert media.SEI_MARKER not in stored and b"x264 - core" not in stored
    (tmp_path / "stored.bin").write_bytes(stored)
    probed = media.probe(tmp_path / "stored.bin")
    assert probed["streams"][0]["codec_name"] == "h264" and int(probed["streams"][0]["nb_frames"]) == 10
    assert 6 in media.picture_units(source)[1] and 6 not in media.picture_units(tmp_path / "stored.bin")[1]


def test_hevc_is_copied_without_the_sei_of_its_frames(app, client, tmp_path):
    source = media.hevc_mp4(str(tmp_path), params="log-level=error:info=0:hash=1")  # a picture hash SEI per frame
    _codec, before = media.picture_units(source)
    assert before.count(40) == 10
    _type, stored = stored_video(app, client, source)
    (tmp_path / "stored.bin").write_bytes(stored)
    codec, units = media.picture_units(tmp_path / "stored.bin")
    assert codec == "hevc" and not {39, 40} & set(units)
    assert [u for u in units if u < 32] == [u for u in before if u < 32]  # every picture is there, as it was


def test_av1_is_copied_without_its_metadata_obus(app, client, tmp_path):
    source = media.av1_hdr_mp4(str(tmp_path))
    assert 5 in media.picture_units(source)[1]  # OBU_METADATA
    _type, stored = stored_video(app, client, source)
    (tmp_path / "stored.bin").write_bytes(stored)
    codec, units = media.picture_units(tmp_path / "stored.bin")
    assert codec == "av1" and 5 not in units and 6 in units


def test_hevc_loses_the_sei_its_configuration_box_and_frames_carry(app, client, tmp_path):
    source = media.hevc_mp4(str(tmp_path))
    assert Path(source).read_bytes().count(b"x265 (build") >= 1
    _type, stored = stored_video(app, client, source)
    assert b"x265" not in stored
    assert video_codec(stored, tmp_path) == "h264"  # an hvcC with more than parameter sets is not copied


def test_an_mpeg4_part2_video_becomes_h264(app, client, tmp_path):
    source = media.mpeg4_video(str(tmp_path))
    assert video_codec(Path(source).read_bytes(), tmp_path) == "mpeg4"
    stored_type, stored = stored_video(app, client, source)
    assert stored_type == "video/3gpp" and video_codec(stored, tmp_path) == "h264"
    assert b"Lavc" not in stored.split(b"mdat", 1)[0]  # (the encoder's name sat in the MPEG-4 headers)


def test_a_re_encoded_video_keeps_a_poster_its_orientation_and_its_size_as_shown(app, tmp_path):
    plain = media.mjpeg_video(str(tmp_path), "plain.mov")
    turned = str(tmp_path / "turned.mov")
    media.ffmpeg("-i", plain, "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=90", turned)
    result = rebuilt(app, turned, tmp_path / "work")
    assert (result.width, result.height) == (120, 160)
    stream = media.probe(result.clean_path)["streams"][0]
    # The picture itself is turned upright: no rotation left to apply.
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 120, 160)
    assert not any(d.get("rotation") for d in stream.get("side_data_list", []))
    assert len(result.previews) == 1 and Path(result.previews[0]).read_bytes().startswith(b"\xff\xd8")
    assert_no_sender_data(result.clean_path)


@pytest.mark.parametrize("app_config", [{"SCRUB_VIDEO_CPU_SECONDS": 1}])
def test_a_re_encode_past_its_cpu_budget_is_refused_and_says_why(app, tmp_path):
    source = media.frame_video(str(tmp_path), 8)
    assert refused(app, source, tmp_path / "work") == [
        "dashcam.mov is a kind of video that must be re-encoded to remove what each of its frames carries, and it "
        "would take too long. Send a shorter part of it, or the video as MP4 (H.264 or HEVC)."
    ]


@pytest.mark.parametrize("app_config", [{"SCRUB_TIMEOUT": 0.5}])
def test_a_re_encode_has_its_own_wall_clock_budget_beyond_the_submissions(app, tmp_path):
    source = media.frame_video(str(tmp_path), 3, size="640x360")
    result = rebuilt(app, source, tmp_path / "work")
    assert result.type == "video/quicktime" and (result.width, result.height) == (640, 360)


def test_a_large_video_is_re_encoded_at_most_1280_pixels_wide(app, tmp_path):
    source = media.frame_video(str(tmp_path), 0.2, size="1920x1080")
    result = rebuilt(app, source, tmp_path / "work")
    assert (result.width, result.height) == (1280, 720)
    stream = media.probe(result.clean_path)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 1280, 720)


def test_a_webm_whose_picture_would_have_to_be_re_encoded_is_refused(app, tmp_path):
    source = str(tmp_path / "clip.webm")  # Matroska with Motion-JPEG inside, named as WebM, which takes no H.264
    media.ffmpeg("-i", media.exif_jpeg(str(tmp_path)), "-c:v", "copy", "-f", "matroska", source)
    assert b"SERIAL4471CAM" in Path(source).read_bytes()
    assert refused(app, source, tmp_path / "work") == [intake.message("media_unreadable", name="clip.webm")]
