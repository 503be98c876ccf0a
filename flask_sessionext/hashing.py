"""SHA-256 digests of tokens: what this package stores or compares instead of the tokens."""

from __future__ import annotations

import hashlib


def sha256_hex(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8), in hex."""
    return hashlib.sha256(text.encode()).hexdigest()
