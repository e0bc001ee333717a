"""Signed checkpoints in the C2SP formats: ``tlog-checkpoint`` bodies in ``signed-note``s,
Ed25519 signatures, and verifier keys as ``name+keyid+base64``. Pure: text and bytes in and out.

A checkpoint body is three lines: the log's origin, its size in decimal, and its
root hash in base64. The note is the body, a blank line, then one signature line
per key: ``— <key name> <base64(key id (4 bytes) || signature (64 bytes))>``.
The key id is the first 4 bytes of SHA-256(key name || "\\n" || 0x01 || public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import BadSignature as BadSignature
from ledger.errors import CheckpointError as CheckpointError

ED25519 = b"\x01"
DASH = "\u2014"


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint commits to."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(),
                 *self.extensions]  # fmt: skip
        return "".join(line + "\n" for line in lines)


def _strict_b64(text: str) -> bytes:
    """Base64 in its one canonical spelling: unused bits set or odd padding are refused, so no
    two texts decode alike and no changed character goes unnoticed."""
    decoded = base64.b64decode(text, validate=True)
    if base64.b64encode(decoded).decode() != text:
        raise binascii.Error("non-canonical base64")
    return decoded


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public: Ed25519PublicKey) -> bytes:
    """The 4-byte id of a key: SHA-256(name || "\\n" || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + _raw_public(public)).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        # the name is not quoted: a file given as a key may hold anything
        raise CheckpointError("a key name must be non-empty, without spaces or '+'")


def verifier_key(name: str, public: Ed25519PublicKey) -> str:
    """The C2SP verifier key text: ``name+hex(key id)+base64(0x01 || public key)``."""
    _check_name(name)
    encoded = base64.b64encode(ED25519 + _raw_public(public)).decode()
    return f"{name}+{key_id(name, public).hex()}+{encoded}"


@dataclass(frozen=True)
class Verifier:
    """A parsed verifier key."""

    name: str
    key_id: bytes
    public: Ed25519PublicKey


def parse_verifier_key(text: str) -> Verifier:
    """Parse ``name+keyid+base64``; CheckpointError if malformed or inconsistent."""
    parts = text.strip().split("+", 2)  # base64 may itself contain "+"
    if len(parts) != 3:
        raise CheckpointError("a verifier key is name+keyid+base64")
    name, hex_id, encoded = parts
    _check_name(name)
    try:
        raw = _strict_b64(encoded)
        wanted_id = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError):
        raise CheckpointError("the verifier key's id or key is not valid hex/base64") from None
    if len(raw) != 33 or raw[:1] != ED25519 or len(wanted_id) != 4:
        raise CheckpointError("the verifier key is not an Ed25519 key (type 0x01, 32 bytes)")
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id(name, public) != wanted_id:
        raise CheckpointError("the verifier key's id does not match its name and key")
    return Verifier(name, wanted_id, public)


def sign(checkpoint: Checkpoint, name: str, private: Ed25519PrivateKey) -> str:
    """The signed note of *checkpoint*, with one signature line."""
    _check_name(name)
    body = checkpoint.body()
    signature = private.sign(body.encode())
    blob = base64.b64encode(key_id(name, private.public_key()) + signature).decode()
    return f"{body}\n{DASH} {name} {blob}\n"


def add_signature(note: str, name: str, private: Ed25519PrivateKey) -> str:
    """Cosign a note with another key (key rotation: old and new sign the same checkpoint)."""
    body, _ = _split(note)
    signature = private.sign(body.encode())
    blob = base64.b64encode(key_id(name, private.public_key()) + signature).decode()
    return f"{note}{DASH} {name} {blob}\n"


def _split(note: str) -> tuple[str, list[str]]:
    if "\n\n" not in note or not note.endswith("\n"):
        raise CheckpointError("a signed note is a body, a blank line and signature lines")
    body, _, signatures = note.partition("\n\n")
    lines = signatures[:-1].split("\n")
    if not lines or not all(line.startswith(DASH + " ") for line in lines):
        raise CheckpointError("every signature line starts with an em dash and a space")
    return body + "\n", lines


def parse(note: str) -> Checkpoint:
    """The checkpoint a note's body states (its signatures are not checked here)."""
    body, _ = _split(note)
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("a checkpoint body has an origin, a size and a root hash")
    origin, size_text, root_text, *extensions = lines
    if (
        not origin
        or not (size_text.isascii() and size_text.isdigit())
        or (size_text != "0" and size_text[0] == "0")
    ):
        raise CheckpointError("the checkpoint's origin or size is malformed")
    try:
        root = _strict_b64(root_text)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        raise CheckpointError("the checkpoint's root hash is not base64") from None
    if len(root) != 32:
        raise CheckpointError("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def verify(note: str, verifier: Verifier) -> Checkpoint:
    """The checkpoint, if *verifier*'s key signed the note; CheckpointError otherwise."""
    body, lines = _split(note)
    checkpoint = parse(note)
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[1] != verifier.name:
            continue
        try:
            blob = _strict_b64(parts[2])
        except (binascii.Error, ValueError):
            continue
        if len(blob) != 68 or blob[:4] != verifier.key_id:
            continue
        try:
            verifier.public.verify(blob[4:], body.encode())
        except InvalidSignature:
            raise BadSignature(f"the signature by {verifier.name} does not verify") from None
        return checkpoint
    raise CheckpointError(f"the note carries no signature by {verifier.name}")
