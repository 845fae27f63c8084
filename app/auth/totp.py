"""Time-based one-time codes (authenticator apps) and their QR code, drawn on our server."""

import pyotp
import segno

ISSUER = "Prystan"


def new_secret() -> str:
    return pyotp.random_base32()


def verify(secret: str | None, code: str | None) -> bool:
    code = (code or "").replace(" ", "")
    if not secret or not code.isdigit():
        return False
    return pyotp.TOTP(secret).verify(code, valid_window=1)


def qr_svg(secret: str, username: str) -> str:
    """An inline SVG of the enrolment QR code: no image request, nothing sent elsewhere."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    return segno.make(uri, error="m").svg_inline(scale=4, border=2, title="QR")
