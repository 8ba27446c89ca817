"""The audit log's hash chain: each entry's canonical form, and its SHA-256 linked to the
hash of the entry before it.

An entry's ``hash`` is the SHA-256 (64 lowercase hex digits) of the UTF-8 bytes of one
JSON object: the entry's fields and ``prev_hash``, the hash of the entry before it (for
the first entry, 64 zeros)::

    {"action":A,"actor":B,"at":C,"details":D,"id":N,"outcome":E,"prev_hash":F,"reason":G,"subject":H}

written as RFC 8785 (the JSON Canonicalization Scheme) writes it. For these values
that is: keys in the order above (sorted), no whitespace, ``id`` a decimal integer,
every other value a string (``details`` is the JSON text the database holds, taken
as a string), non-ASCII characters as themselves, and only ``"``, ``\\`` and control
characters escaped (``\\b \\f \\n \\r \\t``, the others as ``\\u00xx``). Python's
``json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
gives the same text.

Editing an entry changes its hash; deleting, inserting or reordering entries breaks the
link (``prev_hash``) from the entry after them; renumbering changes the hash (the id is
part of it). Someone able to recompute every hash after the one they changed defeats a
chain alone: the signed checkpoints (`dfr.audit_signing`) are what catch that.

>>> entry_hash(1, "2025-01-01T00:00:00.000+00:00", "disp", "login", "", "{}", "accepted", "",
...            GENESIS_HASH)
'dd4c2dae17aabcb038a39ebc2a4b4b55519fbac96373295f976da53150f6c09e'
"""

from __future__ import annotations

from hashlib import sha256 as _sha256
from json.encoder import encode_basestring as _json_string  # RFC 8785's string escaping

#: The ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64

_TEMPLATE = (
    '{"action":%s,"actor":%s,"at":%s,"details":%s,"id":%d,'
    '"outcome":%s,"prev_hash":%s,"reason":%s,"subject":%s}'
)


def canonical_entry(
    entry_id: int,
    at: str,
    actor: str,
    action: str,
    subject: str,
    details: str,
    outcome: str,
    reason: str,
    prev_hash: str,
) -> str:
    """The canonical JSON text of an entry (see the module docstring); `details` is the
    JSON text stored with the entry."""
    return _TEMPLATE % (
        _json_string(action),
        _json_string(actor),
        _json_string(at),
        _json_string(details),
        entry_id,
        _json_string(outcome),
        _json_string(prev_hash),
        _json_string(reason),
        _json_string(subject),
    )


def entry_hash(
    entry_id: int,
    at: str,
    actor: str,
    action: str,
    subject: str,
    details: str,
    outcome: str,
    reason: str,
    prev_hash: str,
) -> str:
    """The entry's hash: SHA-256 (hex) of its canonical JSON, which holds `prev_hash`."""
    # canonical_entry() written out: this runs for every entry appended and verified.
    text = _TEMPLATE % (
        _json_string(action),
        _json_string(actor),
        _json_string(at),
        _json_string(details),
        entry_id,
        _json_string(outcome),
        _json_string(prev_hash),
        _json_string(reason),
        _json_string(subject),
    )
    return _sha256(text.encode("utf-8")).hexdigest()
