"""Passkeys and security keys (WebAuthn) as a second factor for staff, with the `webauthn` library (Duo Labs).

A key resists phishing because the browser binds what it signs to the site's address: the relying-party id and
the origin are the configured address the request came in on (PRYSTAN_PUBLIC_URL, or PRYSTAN_ONION_URL for the
onion; the local address in development and tests), never a header of the client's. A key is registered for one
address and offered only there: someone who signs in on both registers a key on each.

The challenge is made by the server and kept on the account's row (User.key_challenge), not in the cookie, and it
is taken once, by a conditional UPDATE, so an answer cannot be replayed, even with an old copy of the session.
The authenticator's signature counter must grow too (a cloned key shows as a counter that goes back), except for
keys that keep none (passkeys synced between devices send 0).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    parse_authentication_credential_json,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app import staff
from app.addresses import base_url
from app.extensions import db
from app.models import SecurityKey, User, utcnow
from app.staff import security_keys as registered

CHALLENGE_MINUTES = 5
TIMEOUT_MS = 120_000
SITE_NAME = "Prystan"


def relying_party() -> tuple[str, str]:
    """(rp id, origin) of the address this request came in on."""
    address = urlsplit(base_url())
    return address.hostname, f"{address.scheme}://{address.netloc}"


def here(user: User) -> list[SecurityKey]:
    """The account's keys for the address this request came in on."""
    rp_id, _origin = relying_party()
    return [key for key in registered(user) if key.rp_id == rp_id]


def new_challenge(user: User) -> bytes:
    """A fresh challenge for the account, replacing any earlier one."""
    challenge = secrets.token_bytes(32)
    user.key_challenge, user.key_challenge_at = bytes_to_base64url(challenge), utcnow()
    db.session.commit()
    return challenge


def take_challenge(user: User) -> bytes | None:
    """The account's current challenge, if it is recent, used up at once: it answers one ceremony (or one
    form that holds a sign-in and a registration together)."""
    value, made = user.key_challenge, user.key_challenge_at
    if not value or made is None or utcnow() - made > timedelta(minutes=CHALLENGE_MINUTES):
        return None
    taken = db.session.execute(
        update(User)
        .where(User.id == user.id, User.key_challenge == value)
        .values(key_challenge=None, key_challenge_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return base64url_to_bytes(value) if taken.rowcount == 1 else None


def descriptors(keys: list[SecurityKey]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=key.credential_id) for key in keys]


def registration_options(user: User, challenge: bytes) -> str:
    """What navigator.credentials.create() needs, as JSON. A key already registered here is not taken twice."""
    rp_id, _origin = relying_party()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=SITE_NAME,
        user_id=f"prystan-staff-{user.id}".encode(),
        user_name=user.username,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        exclude_credentials=descriptors(here(user)),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return options_to_json(options)


def authentication_options(user: User, challenge: bytes, keys: list[SecurityKey] | None = None) -> str:
    """What navigator.credentials.get() needs, as JSON: the account's keys for this address (or ``keys``)."""
    rp_id, _origin = relying_party()
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=descriptors(here(user) if keys is None else keys),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options)


def register(user: User, name: str, credential: str, challenge: bytes) -> SecurityKey | None:
    """Check what the browser's authenticator made for ``challenge`` on this address; keep the new key (the
    account's other sessions end)."""
    rp_id, origin = relying_party()
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin
        )
        # A public key the library cannot load would never verify a signature: refuse it now, not at sign-in.
        decoded_public_key_to_cryptography(decode_credential_public_key(verified.credential_public_key))
    except Exception:  # (anything a hostile answer makes the parsers raise: it is no key)
        return None
    if db.session.scalar(select(SecurityKey.id).where(SecurityKey.credential_id == verified.credential_id)):
        return None
    return staff.add_security_key(
        user,
        name=name,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        rp_id=rp_id,
    )


def authenticate(user: User, assertion: str, challenge: bytes, keys: list[SecurityKey] | None = None):
    """The account's key (of this address, or of ``keys``) that signed ``challenge``, with its counter moved
    on; None for anything else: another account's key, another address, a wrong origin, a replay."""
    rp_id, origin = relying_party()
    try:
        credential_id = parse_authentication_credential_json(assertion).raw_id
    except Exception:  # (anything a hostile answer makes the parser raise)
        return None
    key = next((k for k in (here(user) if keys is None else keys) if k.credential_id == credential_id), None)
    if key is None:
        return None
    try:
        verified = verify_authentication_response(
            credential=assertion,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=key.public_key,
            credential_current_sign_count=key.sign_count,
        )
    except Exception:
        return None
    moved = db.session.execute(  # (two sign-ins racing with one answer: only one moves the counter)
        update(SecurityKey)
        .where(SecurityKey.id == key.id, SecurityKey.sign_count == key.sign_count)
        .values(sign_count=verified.new_sign_count, last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return None
    key.sign_count, key.last_used_at = verified.new_sign_count, utcnow()
    return key
