"""Sealed at rest (AT-REST.md): the only package that calls libsodium, through sodium.py.

- sodium.py: the primitives (key pairs, sealed and secret boxes, Argon2id, BLAKE2b, secretstream).
- staffkeys.py: a staff member's key pair, its secret key under a key derived from the password.
- epochs.py: the queue key in epochs, sealed to everyone who may read, grants, the recovery key.
- unlocking.py: sign-ins waiting for their second factor, and sessions that can open sealed data.
"""
