"""app/crypto/sodium.py and app/crypto/staffkeys.py against answers that do not come from our code: the RFCs' and
NaCl's published vectors, and the same constructions rebuilt here from other parts (hashlib, argon2-cffi, PyNaCl's
crypto_box). Then what a stored file and a locked staff key must survive: changed, cut, reordered, wrong key."""

import hashlib
import re
import struct

import pytest
from argon2 import Type, extract_parameters
from argon2.low_level import hash_secret_raw
from nacl import bindings
from nacl.public import Box, PrivateKey, PublicKey
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

from app import passwords
from app.config import Defaults
from app.crypto import sodium, staffkeys

# RFC 7748, section 6.1: Alice's and Bob's X25519 keys.
ALICE = (
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
)
BOB = (
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
)

# NaCl's tests/secretbox.c (libsodium's test/default/secretbox.c): firstkey, nonce, the 131-byte message and its
# box (the 16-byte MAC, then the ciphertext; NaCl's own zero padding left out).
FIRSTKEY = "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389"
NONCE = "69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37"
MESSAGE = (
    "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c61296cdc3c0123"
    "3561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924"
    "ca1c60902e52f0a089bc76897040e082f937763848645e0705"
)
BOXED = (
    "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc17c98"
    "dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6b"
    "b3732bc0e9da99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5"
)

# RFC 7693, Appendix A: BLAKE2b-512("abc").
BLAKE2B_ABC = (
    "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc95"
    "18d38aa8dbf1925ab92386edd4009923"
)

# Made once with libsodium's secretstream bindings directly (key bytes 0..31, one chunk tagged final): a file
# stored today must still open after any change to our code.
STREAM_KEY = bytes(range(32))
STREAM_VECTORS = {
    b"Sealed at rest, part 1: the keys.": (
        "5fe80f9ee418472f1c7143e30d225be3a70de2f1f4209e3aeee2ea4f0ba6663129c4a312c4c25596b82544537165e7f72121"
        "6d6f07df6359689d4887fc602dce198c9483123152b232ac"
    ),
    b"": "bf21629a57a476feff76ed29405f2aee4ed5d17b38060567fb152762100480d92d378ff247e70d7585",
}

CHUNK = sodium.STREAM_CHUNK
SEALED_CHUNK = CHUNK + sodium.STREAM_OVERHEAD
HEADER = sodium.STREAM_HEADER_BYTES
TAG_MESSAGE = bindings.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL


def test_public_of_gives_rfc_7748_public_keys():
    for secret, public in (ALICE, BOB):
        assert sodium.public_of(bytes.fromhex(secret)) == bytes.fromhex(public)


def test_open_reads_nacl_secretbox_vector():
    closed = bytes.fromhex(NONCE) + bytes.fromhex(BOXED)
    assert sodium.open_(bytes.fromhex(FIRSTKEY), closed) == bytes.fromhex(MESSAGE)


def test_a_secret_box_changed_or_under_another_key_is_refused():
    key = bytes.fromhex(FIRSTKEY)
    closed = bytearray(bytes.fromhex(NONCE) + bytes.fromhex(BOXED))
    closed[-1] ^= 1
    for bad_key, bad in [(key, bytes(closed)), (bytes(32), bytes.fromhex(NONCE) + bytes.fromhex(BOXED)), (key, b"")]:
        with pytest.raises(sodium.Refused):
            sodium.open_(bad_key, bad)


def test_close_puts_a_fresh_nonce_in_front_of_a_nacl_secretbox():
    key = sodium.random_bytes()
    first, second = sodium.close(key, b"text"), sodium.close(key, b"text")
    assert first != second
    assert SecretBox(key).decrypt(first[24:], first[:24]) == b"text"
    assert sodium.open_(key, second) == b"text"


def box_seal(public: bytes, message: bytes) -> bytes:
    """crypto_box_seal, as libsodium defines it, from other parts: an ephemeral pair, nonce = BLAKE2b-24(epk || pk),
    then crypto_box from the ephemeral secret key to ``public``."""
    ephemeral = PrivateKey.generate()
    epk = bytes(ephemeral.public_key)
    nonce = hashlib.blake2b(epk + public, digest_size=24).digest()
    return epk + Box(ephemeral, PublicKey(public)).encrypt(message, nonce).ciphertext


def box_seal_open(secret: bytes, sealed: bytes) -> bytes:
    epk = sealed[:32]
    nonce = hashlib.blake2b(epk + sodium.public_of(secret), digest_size=24).digest()
    return Box(PrivateKey(secret), PublicKey(epk)).decrypt(sealed[32:], nonce)


def test_unseal_opens_a_box_sealed_independently():
    secret, public = bytes.fromhex(BOB[0]), bytes.fromhex(BOB[1])
    assert sodium.unseal(secret, box_seal(public, b"a tip")) == b"a tip"


def test_seal_makes_what_crypto_box_seal_opens():
    pair = sodium.new_pair()
    assert sodium.public_of(pair.secret) == pair.public
    sealed = sodium.seal(pair.public, b"a queue key")
    assert len(sealed) == 32 + 16 + len(b"a queue key")
    assert box_seal_open(pair.secret, sealed) == b"a queue key"
    assert sodium.seal(pair.public, b"a queue key") != sealed  # a new ephemeral key each time


def test_a_sealed_box_opens_with_its_own_secret_key_only():
    pair, other = sodium.new_pair(), sodium.new_pair()
    sealed = bytearray(sodium.seal(pair.public, b"data"))
    with pytest.raises(sodium.Refused):
        sodium.unseal(other.secret, bytes(sealed))
    sealed[40] ^= 1
    for bad in (bytes(sealed), bytes(sealed[:47]), b""):
        with pytest.raises(sodium.Refused):
            sodium.unseal(pair.secret, bad)


@pytest.mark.parametrize(("ops", "mem", "size"), [(1, 8192, 32), (2, 64 * 1024, 32), (3, 32 * 1024, 64)])
def test_argon2_equals_argon2_cffi(ops, mem, size):
    password, salt = "пароль у лесе".encode(), bytes(range(16))
    expected = hash_secret_raw(
        password, salt, time_cost=ops, memory_cost=mem // 1024, parallelism=1, hash_len=size, type=Type.ID, version=19
    )
    assert sodium.argon2(password, salt, ops=ops, mem=mem, size=size) == expected


def test_digest_gives_rfc_7693_value():
    assert sodium.digest(b"abc", size=64) == bytes.fromhex(BLAKE2B_ABC)


def test_split_gives_a_different_subkey_per_name_each_time_the_same():
    master = sodium.random_bytes()
    first = sodium.split(master, b"receipt", b"search", b"files")
    assert len(set(first)) == 3 and all(len(key) == 32 for key in first)
    assert sodium.split(master, b"receipt", b"search", b"files") == first
    assert sodium.split(master, b"search") == [first[1]]
    assert sodium.split(sodium.random_bytes(), b"receipt")[0] != first[0]


def test_split_and_fingerprint_stay_what_they_were():
    """Subkeys open stored data and a fingerprint is kept in the database: both are pinned, rebuilt with hashlib."""
    master = bytes(range(32))
    keyed = hashlib.blake2b(b"receipt", key=master, person=b"prystan-split", digest_size=32).digest()
    assert sodium.split(master, b"receipt") == [keyed]
    fingerprint = hashlib.blake2b(bytes.fromhex(ALICE[1]), person=b"prystan-fpr", digest_size=32).hexdigest()
    assert sodium.fingerprint(bytes.fromhex(ALICE[1])).replace(" ", "") == fingerprint


def test_fingerprint_is_16_groups_of_4_hex_digits():
    public = bytes.fromhex(ALICE[1])
    text = sodium.fingerprint(public)
    assert re.fullmatch(r"[0-9a-f]{4}( [0-9a-f]{4}){15}", text)
    assert text == sodium.fingerprint(public) != sodium.fingerprint(bytes.fromhex(BOB[1]))


def test_same_compares_bytes():
    assert sodium.same(b"abc", b"abc") and not sodium.same(b"abc", b"abd") and not sodium.same(b"abc", b"ab")


# Secretstream: files.


def encrypt(key: bytes, data: bytes, piece: int = CHUNK) -> bytes:
    return b"".join(sodium.encrypt_stream(key, (data[i : i + piece] for i in range(0, len(data), piece))))


def decrypt(key: bytes, stored: bytes, piece: int = 4096) -> bytes:
    return b"".join(sodium.decrypt_stream(key, (stored[i : i + piece] for i in range(0, len(stored), piece))))


@pytest.mark.parametrize("plain", list(STREAM_VECTORS))
def test_decrypt_stream_reads_a_fixed_vector(plain):
    assert decrypt(STREAM_KEY, bytes.fromhex(STREAM_VECTORS[plain]), piece=7) == plain


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 12345])
@pytest.mark.parametrize(("write", "read"), [(CHUNK, 4096), (1000, 9973), (CHUNK - 1, SEALED_CHUNK + 1)])
def test_a_file_round_trips_whatever_the_pieces(size, write, read):
    key, data = sodium.random_bytes(), sodium.random_bytes(size)
    stored = encrypt(key, data, write)
    chunks = max(1, -(-size // CHUNK))  # an empty file is one empty final chunk
    assert len(stored) == HEADER + size + chunks * sodium.STREAM_OVERHEAD
    assert decrypt(key, stored, read) == data
    assert decrypt(key, stored, len(stored)) == data


def test_encrypting_twice_gives_different_bytes():
    key = sodium.random_bytes()
    assert encrypt(key, b"same file") != encrypt(key, b"same file")


def refused(key: bytes, stored: bytes, piece: int = 4096) -> None:
    with pytest.raises(sodium.Refused):
        decrypt(key, stored, piece)


@pytest.mark.parametrize("where", [0, HEADER - 1, HEADER, HEADER + 5, HEADER + SEALED_CHUNK, -1])
def test_a_file_with_a_flipped_byte_is_refused(where):
    key = sodium.random_bytes()
    stored = bytearray(encrypt(key, sodium.random_bytes(2 * CHUNK + 10)))
    stored[where] ^= 0x80
    refused(key, bytes(stored))


@pytest.mark.parametrize("size", [CHUNK, 2 * CHUNK, 2 * CHUNK + 10])
def test_a_file_cut_at_a_chunk_boundary_is_refused(size):
    """What is left authenticates chunk by chunk: only the final tag tells that the file is whole."""
    key = sodium.random_bytes()
    stored = encrypt(key, sodium.random_bytes(size))
    for cut in range(HEADER, len(stored), SEALED_CHUNK):
        refused(key, stored[:cut])
    refused(key, stored[:-1])


def test_a_file_with_two_chunks_swapped_is_refused():
    key = sodium.random_bytes()
    stored = encrypt(key, sodium.random_bytes(3 * CHUNK))
    header, chunks = stored[:HEADER], [stored[i : i + SEALED_CHUNK] for i in range(HEADER, len(stored), SEALED_CHUNK)]
    refused(key, header + chunks[1] + chunks[0] + chunks[2])
    refused(key, header + chunks[0] + chunks[2] + chunks[1])


@pytest.mark.parametrize("size", [0, 10, CHUNK, 2 * CHUNK])
def test_data_after_the_final_chunk_is_refused(size):
    key = sodium.random_bytes()
    stored = encrypt(key, sodium.random_bytes(size))
    for extra in (b"x", stored[HEADER:], encrypt(key, b"more")[HEADER:], sodium.random_bytes(SEALED_CHUNK + 1)):
        refused(key, stored + extra)


def test_nothing_after_the_final_chunk_is_read_even_if_it_authenticates():
    """The final tag ends the file, whatever follows it: chunks pushed after it by the key's holder included."""
    key = sodium.random_bytes()
    full = sodium.random_bytes(CHUNK)
    for chunks in (
        [(full, TAG_FINAL), (b"more", TAG_FINAL)],
        [(full, TAG_FINAL), (full, TAG_MESSAGE), (b"x", TAG_FINAL)],
    ):
        state = bindings.crypto_secretstream_xchacha20poly1305_state()
        stored = bindings.crypto_secretstream_xchacha20poly1305_init_push(state, key)
        for piece, tag in chunks:
            stored += bindings.crypto_secretstream_xchacha20poly1305_push(state, piece, tag=tag)
        refused(key, stored)


def test_a_file_under_another_key_is_refused():
    stored = encrypt(sodium.random_bytes(), b"a photo")
    refused(sodium.random_bytes(), stored)


@pytest.mark.parametrize("stored", [b"", b"\x00" * (HEADER - 1), b"\x00" * HEADER, b"\x00" * (HEADER + 16)])
def test_an_empty_or_headless_file_is_refused(stored):
    refused(sodium.random_bytes(), stored)
    with pytest.raises(sodium.Refused):
        list(sodium.decrypt_stream(sodium.random_bytes(), []))


# Staff keys.

PASSWORD = "correct horse battery staple"
LOCK_HEADER = struct.Struct(">BIQ16s")  # version, ops, mem, salt: what a stored locked key starts with


def test_a_locked_key_opens_with_its_password_only(app):
    with app.app_context():
        pair = sodium.new_pair()
        locked = staffkeys.lock(pair.secret, PASSWORD)
        assert staffkeys.unlock(locked, PASSWORD) == pair.secret
        for wrong in ("correct horse battery stapl", "", PASSWORD.upper()):
            with pytest.raises(sodium.Refused):
                staffkeys.unlock(locked, wrong)


def test_a_locked_key_holds_neither_the_secret_nor_the_password(app):
    with app.app_context():
        pair = sodium.new_pair()
        locked = staffkeys.lock(pair.secret, PASSWORD)
        assert pair.secret not in locked and PASSWORD.encode() not in locked
        assert staffkeys.lock(pair.secret, PASSWORD) != locked  # a fresh salt and nonce each time


def test_the_kek_is_argon2id_with_the_costs_of_the_settings(app):
    """Recomputed with argon2-cffi from the stored salt: the settings are the costs actually paid."""
    app.config.update(KEK_OPSLIMIT=2, KEK_MEMLIMIT=16 * 1024)
    with app.app_context():
        secret = sodium.new_pair().secret
        locked = staffkeys.lock(secret, PASSWORD)
    version, ops, mem, salt = LOCK_HEADER.unpack_from(locked)
    assert (version, ops, mem) == (1, 2, 16 * 1024)
    kek = hash_secret_raw(PASSWORD.encode(), salt, 2, 16, 1, 32, Type.ID, version=19)
    closed = locked[LOCK_HEADER.size :]
    assert SecretBox(kek).decrypt(closed[24:], closed[:24]) == secret


def test_a_key_locked_under_older_costs_opens_after_the_settings_change(app):
    with app.app_context():
        secret = sodium.new_pair().secret
        locked = staffkeys.lock(secret, PASSWORD)
        app.config.update(KEK_OPSLIMIT=2, KEK_MEMLIMIT=16 * 1024)
        assert staffkeys.unlock(locked, PASSWORD) == secret
        relocked = staffkeys.relock(locked, PASSWORD, "a new long passphrase")
    assert LOCK_HEADER.unpack_from(relocked)[1:3] == (2, 16 * 1024)


def test_relock_keeps_the_secret_under_the_new_password_only(app):
    new = "another passphrase entirely"
    with app.app_context():
        public, locked = staffkeys.new_pair(PASSWORD)
        secret = staffkeys.unlock(locked, PASSWORD)
        assert sodium.public_of(secret) == public
        relocked = staffkeys.relock(locked, PASSWORD, new)
        assert staffkeys.unlock(relocked, new) == secret
        with pytest.raises(sodium.Refused):
            staffkeys.unlock(relocked, PASSWORD)
        with pytest.raises(sodium.Refused):
            staffkeys.relock(locked, "not the password", new)


def test_a_damaged_locked_key_is_refused_not_an_error(app):
    """A sign-in with a damaged key must fail as a wrong password does, not with a server error."""
    with app.app_context():
        locked = staffkeys.lock(sodium.new_pair().secret, PASSWORD)
        version, ops, mem, salt = LOCK_HEADER.unpack_from(locked)
        rest = locked[LOCK_HEADER.size :]
        damaged = [
            b"",
            locked[: LOCK_HEADER.size],
            locked[:-1],
            LOCK_HEADER.pack(2, ops, mem, salt) + rest,  # a version this code does not know
            LOCK_HEADER.pack(version, 0, mem, salt) + rest,  # costs libsodium refuses
            LOCK_HEADER.pack(version, ops, 1024, salt) + rest,
            LOCK_HEADER.pack(version, ops, 2**63, salt) + rest,
            LOCK_HEADER.pack(version, ops + 1, mem, salt) + rest,  # costs changed: another KEK
            LOCK_HEADER.pack(version, ops, mem, bytes(16)) + rest,
        ]
        for blob in damaged:
            with pytest.raises(sodium.Refused):
                staffkeys.unlock(blob, PASSWORD)


# The settings.


def test_the_kek_costs_more_than_the_password_hash_in_production():
    """Defaults: a stolen locked key is no cheaper to guess than the stored password hash, in memory and in time."""
    hashed = extract_parameters(passwords.PRODUCTION_HASHER.hash(PASSWORD))
    assert hashed.type is Type.ID
    assert hashed.memory_cost * 1024 < Defaults.KEK_MEMLIMIT
    assert hashed.time_cost <= Defaults.KEK_OPSLIMIT
    assert argon2id.OPSLIMIT_MIN <= Defaults.KEK_OPSLIMIT and argon2id.MEMLIMIT_MIN <= Defaults.KEK_MEMLIMIT


def test_the_test_suite_runs_at_libsodiums_minimum_costs(app):
    assert (app.config["KEK_OPSLIMIT"], app.config["KEK_MEMLIMIT"]) == (argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
    assert sodium.ARGON2_MIN == (argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
