"""Signed checkpoints of the audit chain: the server's Ed25519 key, and the checkpoints it
signs, kept in the database and, one JSON line each, in a file a copy can be taken of.

A checkpoint says "entry N of this audit log has hash H" (`dfr.audit_chain`), signed at
time T by the server's key. The server writes one when it starts (``kind`` "start"),
every so many entries ("interval") and when it stops ("stop"). Its signature is Ed25519
over the UTF-8 bytes of the RFC 8785 canonical JSON::

    {"at":T,"entry_id":N,"head_hash":H,"key_id":K,"kind":"start"|"interval"|"stop","type":"dfr.audit.checkpoint"}

K, the key's fingerprint, is the SHA-256 (hex) of the raw 32-byte public key. The
private key stays in the state dir (``audit-signing.key``, 0600); its public half is
written next to it (``audit-signing.pub``) and served at ``/api/audit/public-key``.
This is the only module that speaks the ``cryptography`` package.

Errors::

    SigningKeyError      (Exception) a key file that cannot be read or is not Ed25519
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

START, INTERVAL, STOP = "start", "interval", "stop"
KINDS = (START, INTERVAL, STOP)
_TYPE = "dfr.audit.checkpoint"


class SigningKeyError(Exception):
    """A key file that cannot be read, or holds no Ed25519 key."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that entry `entry_id` of the audit log had hash `head_hash`."""

    entry_id: int
    head_hash: str
    at: str  # UTC, ISO 8601, when it was signed
    kind: str  # start, interval or stop
    key_id: str  # fingerprint of the key that signed it
    signature: str  # Ed25519, base64

    def message(self) -> bytes:
        """The bytes the signature is over (see the module docstring)."""
        return _signed_bytes(self.entry_id, self.head_hash, self.at, self.kind, self.key_id)

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Checkpoint:
        """Raises ValueError for anything but a checkpoint's fields with their types."""
        names = {"entry_id": int, "head_hash": str, "at": str, "kind": str}
        names |= {"key_id": str, "signature": str}
        if not isinstance(data, dict) or set(data) != set(names):
            raise ValueError(f"a checkpoint has the fields {', '.join(names)}")
        for name, kind in names.items():
            if type(data[name]) is not kind:
                raise ValueError(f"{name} must be {kind.__name__}")
        return cls(**data)


class PublicKey:
    """The public half of the signing key: what checks a checkpoint's signature."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()
        self.pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    @classmethod
    def from_pem(cls, pem: bytes) -> PublicKey:
        """Raises SigningKeyError when `pem` holds no Ed25519 public key."""
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as exc:
            raise SigningKeyError(f"not a PEM public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError("not an Ed25519 public key")
        return cls(key)

    @classmethod
    def read(cls, path: Path) -> PublicKey:
        """Raises SigningKeyError naming the file."""
        try:
            return cls.from_pem(path.read_bytes())
        except OSError as exc:
            raise SigningKeyError(f"{path}: {exc.strerror or exc}") from exc
        except SigningKeyError as exc:
            raise SigningKeyError(f"{path}: {exc}") from exc

    def verifies(self, signature: bytes, data: bytes) -> bool:
        """Whether `signature` is this key's over `data` (an evidence manifest)."""
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def signed(self, checkpoint: Checkpoint) -> bool:
        """Whether this key signed `checkpoint`, as it reads."""
        if checkpoint.key_id != self.key_id:
            return False
        try:
            signature = base64.b64decode(checkpoint.signature, validate=True)
            self._key.verify(signature, checkpoint.message())
        except (InvalidSignature, ValueError, TypeError):  # TypeError: a field that is not text
            return False
        return True


class SigningKey:
    """The server's checkpoint signing key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key())

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """The key in `path`, made (0600) the first time; its public half is (re)written
        next to it with the suffix ``.pub``. Raises SigningKeyError."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            key = cls._read(path)
            if path.stat().st_mode & 0o077:  # copied in with looser rights: its owner's only
                path.chmod(0o600)
        except FileNotFoundError:
            key = cls._create(path)
        except OSError as exc:
            raise SigningKeyError(f"{path}: {exc.strerror or exc}") from exc
        signing = cls(key)
        public = path.with_suffix(".pub")
        if not public.exists() or public.read_text() != signing.public.pem:
            public.write_text(signing.public.pem)
        return signing

    def sign_bytes(self, data: bytes) -> bytes:
        """A detached Ed25519 signature over `data` (an evidence package's manifest)."""
        return self._key.sign(data)

    def sign(self, entry_id: int, head_hash: str, at: str, kind: str) -> Checkpoint:
        key_id = self.public.key_id
        signature = self._key.sign(_signed_bytes(entry_id, head_hash, at, kind, key_id))
        encoded = base64.b64encode(signature).decode("ascii")
        return Checkpoint(entry_id, head_hash, at, kind, key_id, encoded)

    @staticmethod
    def _read(path: Path) -> Ed25519PrivateKey:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise SigningKeyError(f"{path}: not a PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path}: not an Ed25519 private key")
        return key

    @staticmethod
    def _create(path: Path) -> Ed25519PrivateKey:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            # Made 0600 from the start: the key is never readable by others, even briefly.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return SigningKey._read(path)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        return key


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """How the store checkpoints its audit chain: with this key, every `every` entries,
    and a copy of each checkpoint appended to `file` (None: the database only)."""

    key: SigningKey
    every: int = 100
    file: Path | None = None


def read_checkpoints(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints in a checkpoints file, and what is wrong with each line that is
    not one ("line 7: ..."). Raises OSError when the file cannot be read."""
    found: list[Checkpoint] = []
    wrong: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                found.append(Checkpoint.from_json(json.loads(line)))
            except ValueError as exc:
                wrong.append(f"line {number}: {exc}")
    return found, wrong


def append_checkpoints(path: Path, checkpoints: list[Checkpoint]) -> None:
    """Append one JSON line per checkpoint, on disk before this returns."""
    text = "".join(json.dumps(c.as_json(), sort_keys=True) + "\n" for c in checkpoints)
    with path.open("a", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def _signed_bytes(entry_id: int, head_hash: str, at: str, kind: str, key_id: str) -> bytes:
    statement = {
        "at": at,
        "entry_id": entry_id,
        "head_hash": head_hash,
        "key_id": key_id,
        "kind": kind,
        "type": _TYPE,
    }
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
