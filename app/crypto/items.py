"""A submission's own key (AT-REST.md, "Submission"): what seals its words, and the two ways to its secret key.

new_item() makes an X25519 pair in create(), seals the secret key to the current queue epoch and closes it under
the receipt key, and forgets it: the public forms keep the public key only, and everything the item holds
afterwards (its fields, the thread both ways, the reject note, an owner's edit, its files' names) is sealed to that
public key by seal(), which needs no secret. Staff open the item key through the epoch (from_queue), the receipt's
holder through the receipt key (from_receipt); open() then opens each sealed value.

What only staff may read (internal notes, readers' report notes) is sealed to the epoch's public key itself, never
to the item's key, so a receipt on a seized phone opens none of it.

Values are JSON (a dict of fields, or one string). Every function answers None rather than raising for what does
not open: a damaged row shows as locked, it never stops a page.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from app.crypto import sodium


class ItemKeys(NamedTuple):
    public: bytes  # what everything of the item is sealed to
    for_queue: bytes  # the item's secret key sealed to the epoch's public key
    for_receipt: bytes  # the item's secret key closed under the receipt key


def new_item(epoch_public: bytes, receipt_key: bytes) -> ItemKeys:
    """A new item's key pair, its secret key only in its two wraps (the caller keeps no secret)."""
    pair = sodium.new_pair()
    return ItemKeys(pair.public, sodium.seal(epoch_public, pair.secret), sodium.close(receipt_key, pair.secret))


def seal(public: bytes, value: Any) -> bytes:
    """Seal a value (JSON: a dict of fields or a string) to an item's or an epoch's public key."""
    return sodium.seal(public, json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def open_(secret: bytes, sealed: bytes) -> Any:
    """The value sealed to ``secret``'s public key; None when it does not open (a damaged or foreign value)."""
    try:
        return json.loads(sodium.unseal(secret, sealed))
    except (sodium.Refused, ValueError):  # (a JSON error is a ValueError)
        return None


def from_queue(epoch_secret: bytes, for_queue: bytes) -> bytes | None:
    """The item's secret key through its epoch's secret key."""
    try:
        return sodium.unseal(epoch_secret, for_queue)
    except sodium.Refused:
        return None


def from_receipt(receipt_key: bytes, for_receipt: bytes) -> bytes | None:
    """The item's secret key through the receipt key."""
    try:
        return sodium.open_(receipt_key, for_receipt)
    except sodium.Refused:
        return None


# --- items stored before sealing (`flask crypto migrate`) and their receipts --------------------------------------


def migrated_item(epoch_public: bytes) -> tuple[bytes, bytes]:
    """The key pair of an item stored before sealing: (its public key, its secret key sealed to the epoch). Its
    receipt key is known only when its holder next types the code (seal_receipt_key, receipt_wrap)."""
    pair = sodium.new_pair()
    return pair.public, sodium.seal(epoch_public, pair.secret)


def seal_receipt_key(epoch_public: bytes, receipt_key: bytes) -> bytes:
    """A receipt key typed for an item without a receipt wrap, sealed to the epoch until a reader makes the wrap."""
    return sodium.seal(epoch_public, receipt_key)


def receipt_wrap(epoch_secret: bytes, sealed_receipt_key: bytes, item_secret: bytes) -> bytes | None:
    """The item's secret key closed under the receipt key that ``sealed_receipt_key`` holds (None if it does not
    open): what new_item() makes at once for a new item."""
    try:
        receipt_key = sodium.unseal(epoch_secret, sealed_receipt_key)
    except sodium.Refused:
        return None
    return sodium.close(receipt_key, item_secret)
