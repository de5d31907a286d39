"""The one place where emails are normalised and hashed.

Partner feeds are keyed by the SHA-256 of the normalised email, and the warehouse joins them to users by
hashing its own emails the same way. If two pieces of code normalised differently (one trimming, the other
not), the join would silently lose members, so every producer and consumer calls these functions.
"""

from __future__ import annotations

import hashlib
import re

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SHA256_HEX_RE = re.compile(r"[0-9a-f]{64}")


def normalize_email(email: str) -> str:
    """Return `email` trimmed of surrounding whitespace and lower-cased (the partner-key convention)."""
    return email.strip().lower()


def email_sha256(email: str) -> str:
    """Return the lowercase hex SHA-256 of the normalised email, encoded as UTF-8.

    This is the join key of partner feeds (`email_sha256` columns): lower(trim(email)) hashed.
    """
    return hashlib.sha256(normalize_email(email).encode("utf-8")).hexdigest()


def looks_like_plaintext_email(value: str) -> bool:
    """Tell whether `value` looks like a plaintext email address (something@domain.tld).

    Used to refuse files whose hashed-key column carries a raw address instead of its hash.
    """
    return bool(_EMAIL_RE.fullmatch(value.strip()))


def is_sha256_hex(value: str) -> bool:
    """Tell whether `value` is a 64-character lowercase hex digest, the shape `email_sha256` returns."""
    return bool(_SHA256_HEX_RE.fullmatch(value))
