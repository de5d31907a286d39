import hashlib

import pytest

from engagement_warehouse.pii import email_sha256, is_sha256_hex, looks_like_plaintext_email, normalize_email


def test_normalize_strips_and_lowercases():
    assert normalize_email("  Ava.Smith@Example.COM \n") == "ava.smith@example.com"


def test_email_sha256_is_hex_of_normalised_utf8():
    assert email_sha256("test@example.com") == ("973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b")
    assert email_sha256(" TEST@example.com ") == email_sha256("test@example.com")
    assert email_sha256("zoë@example.com") == hashlib.sha256("zoë@example.com".encode()).hexdigest()
    assert email_sha256("a@example.com") != email_sha256("b@example.com")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ava@example.com", True),
        ("  Ava.Smith+tag@mail.example.co.uk ", True),
        ("973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b", False),
        ("not an email", False),
        ("ava@localhost", False),
        ("a b@example.com", False),
        ("", False),
    ],
)
def test_looks_like_plaintext_email(value, expected):
    assert looks_like_plaintext_email(value) is expected


def test_is_sha256_hex():
    assert is_sha256_hex(email_sha256("x@example.com"))
    assert not is_sha256_hex("ABC")
    assert not is_sha256_hex(email_sha256("x@example.com").upper())
