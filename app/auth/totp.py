"""The enrolment QR code of an authenticator app, drawn on our server (the codes themselves: factors.py)."""

import pyotp
import segno

ISSUER = "Prystan"


def qr_svg(secret: str, username: str) -> str:
    """An inline SVG of the enrolment QR code: no image request, nothing sent elsewhere."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    return segno.make(uri, error="m").svg_inline(scale=4, border=2, title="QR")
