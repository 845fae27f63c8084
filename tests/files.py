"""Test files made on the spot, each carrying the metadata a phone or an editor would leave behind."""

import io
import struct

import pikepdf
from PIL import Image, ImageCms, PngImagePlugin

SECRET_TEXT = "SECRET-METADATA-7731"
XMP = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>{SECRET_TEXT}</dc:creator></rdf:Description>'
    '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
).encode()


def exif(orientation: int | None = None) -> bytes:
    data = Image.Exif()
    data[0x010F] = "PhoneMaker"  # Make
    data[0x0110] = SECRET_TEXT  # Model
    data[0x0131] = SECRET_TEXT  # Software
    if orientation:
        data[0x0112] = orientation
    gps = {1: "N", 2: (53.0, 54.0, 12.5), 3: "E", 4: (27.0, 33.0, 54.0)}  # Minsk
    data[0x8825] = gps
    return data.tobytes()


def icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def picture(size=(64, 48), mode="RGB") -> Image.Image:
    image = Image.new(mode, size, (200, 40, 40) if mode.startswith("RGB") else 1)
    for x in range(size[0] // 2):
        for y in range(size[1]):
            image.putpixel((x, y), (20, 90, 200) if mode.startswith("RGB") else 0)
    return image


def jpeg(orientation=None, size=(64, 48)) -> bytes:
    out = io.BytesIO()
    picture(size).save(out, "JPEG", exif=exif(orientation), icc_profile=icc(), comment=SECRET_TEXT.encode(),
                       xmp=XMP)
    return out.getvalue()


def png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET_TEXT)
    info.add_itxt("Description", SECRET_TEXT)
    info.add_text("XML:com.adobe.xmp", XMP.decode())
    out = io.BytesIO()
    picture(mode="RGBA").save(out, "PNG", pnginfo=info, icc_profile=icc(), exif=exif())
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    picture().save(out, "WEBP", exif=exif(), icc_profile=icc(), xmp=XMP)
    return out.getvalue()


def gif(frames=1) -> bytes:
    images = [picture().rotate(i * 90).convert("P") for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=frames > 1, append_images=images[1:], duration=120, loop=0,
                   comment=SECRET_TEXT.encode())
    return out.getvalue()


def pdf() -> bytes:
    document = pikepdf.new()
    document.add_blank_page(page_size=(200, 200))
    document.docinfo["/Author"] = SECRET_TEXT
    document.docinfo["/Title"] = SECRET_TEXT
    with document.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [SECRET_TEXT]
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg(size=(400, 300))
    return data[: len(data) // 2]


def big_png(width: int, height: int) -> bytes:
    """A PNG with many pixels but a tiny file: what a decompression bomb looks like."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG", optimize=True)
    return out.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])
