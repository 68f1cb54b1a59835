"""The ``ups@host:port`` parser restates NUT's upscli_splitname/upscli_splitaddr, quirks included."""

from __future__ import annotations

import pytest

from appliance.clients.upsname import UpsAddress, UpsNameError, split_address, split_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ups", UpsAddress("ups", "localhost", 3493)),
        ("ups@host", UpsAddress("ups", "host", 3493)),
        ("ups@host:1234", UpsAddress("ups", "host", 1234)),
        ("ups@127.0.0.1:12abc", UpsAddress("ups", "127.0.0.1", 12)),  # strtol stops at the first non-digit
        ("ups@[::1]:3494", UpsAddress("ups", "::1", 3494)),
        ("ups@[::1]", UpsAddress("ups", "::1", 3493)),
        ("ups@[::1]junk", UpsAddress("ups", "::1", 3493)),
        ("@ups@host", UpsAddress("ups", "ups@host", 3493)),  # strtok skips leading separators; host after 1st @
        ("ups@host:65535", UpsAddress("ups", "host", 65535)),
    ],
)
def test_split_name(text: str, expected: UpsAddress) -> None:
    assert split_name(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ups@", "upscli_splitaddr: can't parse empty string"),
        ("ups@h:", "upscli_splitaddr: no port specified after ':' separator"),
        ("ups@h:0", "upscli_splitaddr: no port specified after ':' separator"),
        ("ups@h:65536", "upscli_splitaddr: no port specified after ':' separator"),
        ("ups@[::1", "upscli_splitaddr: missing closing bracket in [domain literal]"),
        ("", "upscli_splitname: can't parse empty string"),
        (None, ""),
    ],
)
def test_split_name_refusals(text: str | None, message: str) -> None:
    with pytest.raises(UpsNameError) as caught:
        split_name(text)
    assert str(caught.value) == message


def test_split_address_defaults_and_str() -> None:
    assert split_address("example.org") == UpsAddress(None, "example.org", 3493)
    assert str(split_address("[fe80::1]:99")) == "[fe80::1]:99"
    assert str(split_name("ups@h:7")) == "ups@h:7"


def test_long_text_is_cut_like_nut_buffer() -> None:
    assert split_name("u" * 600).ups == "u" * 511
