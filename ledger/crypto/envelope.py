"""Envelope encryption of personal data values, from `cryptography` primitives only.

Each (subject, category) has its own 256-bit data key; a value is sealed with
AES-256-GCM under it, with associated data that binds the ciphertext to its
event, its category and its key. Data keys are stored only wrapped (also
AES-256-GCM) under the key-encryption key, bound to their slot. Destroying a
wrapped data key makes every value sealed under it unreadable: crypto-shredding.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.errors import KeyUnavailable

KEY_BYTES = 32
NONCE_BYTES = 12
_VALUE_DOMAIN = b"ledger-value/v1"
_WRAP_DOMAIN = b"ledger-dek/v1"


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return AESGCM.generate_key(bit_length=256)


def value_aad(event_uuid: str, category: str, key_id: str) -> bytes:
    """Associated data of one sealed value: domain, event uuid, category, key id, NUL-separated."""
    return b"\x00".join((_VALUE_DOMAIN, event_uuid.encode(), category.encode(), key_id.encode()))


def wrap_aad(key_id: str, subject: str, category: str) -> bytes:
    """Associated data of one wrapped data key: domain, key id, subject, category."""
    return b"\x00".join((_WRAP_DOMAIN, key_id.encode(), subject.encode(), category.encode()))


def aead_seal(key: bytes | AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """nonce || ciphertext || tag."""
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def aead_open(key: bytes | AESGCM, sealed: bytes, aad: bytes) -> bytes:
    """Inverse of :func:`aead_seal`; KeyUnavailable if the key or the binding is wrong."""
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    try:
        return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        raise KeyUnavailable(
            "decryption failed: wrong key, or the ciphertext was moved or changed"
        ) from None


class DataKey:
    """One unwrapped data key, ready to seal and open values of its subject and category."""

    __slots__ = ("_aead", "category", "key_id", "subject")

    def __init__(self, key_id: str, subject: str, category: str, key: bytes) -> None:
        self.key_id = key_id
        self.subject = subject
        self.category = category
        self._aead = AESGCM(key)

    def seal_value(self, value: Any, *, event_uuid: str) -> dict[str, str]:
        """Encrypted envelope of one category's value for one event."""
        sealed = aead_seal(
            self._aead, orjson.dumps(value), value_aad(event_uuid, self.category, self.key_id)
        )
        return {"key": self.key_id, "sealed": base64.b64encode(sealed).decode("ascii")}

    def open_value(self, envelope: dict[str, str], *, event_uuid: str) -> Any:
        """Decrypt an envelope made by :meth:`seal_value`."""
        sealed = base64.b64decode(envelope["sealed"])
        plaintext = aead_open(self._aead, sealed, value_aad(event_uuid, self.category, self.key_id))
        return orjson.loads(plaintext)
