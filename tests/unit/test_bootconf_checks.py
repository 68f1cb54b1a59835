"""The checks boot-config applies to an SSH key file and to Wi-Fi settings before it installs them."""

from __future__ import annotations

import base64

from appliance.bootconf import check_authorized_keys, check_wifi


def blob(kind: str) -> str:
    raw = len(kind).to_bytes(4, "big") + kind.encode() + b"\0\0\0\x20" + bytes(32)
    return base64.b64encode(raw).decode()


def test_public_keys_are_counted_and_comments_skipped() -> None:
    text = f"# mine\nssh-ed25519 {blob('ssh-ed25519')} me@laptop\n\nssh-rsa {blob('ssh-rsa')}\n"
    assert check_authorized_keys(text) == (2, [])


def test_each_bad_line_is_named() -> None:
    text = "\n".join(
        [
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            f"ssh-ed25519 {blob('ssh-ed25519')[:-7]}",  # truncated paste
            f"ssh-ed25519 {blob('ssh-rsa')}",  # the type says one thing, the data another
            "ssh-ed25519",
        ]
    )
    count, problems = check_authorized_keys(text)
    assert count == 0
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [
        (1, "not an SSH public key"),
        (2, "the key's base64 part is damaged"),
        (3, "the key data is not a ssh-ed25519 key"),
        (4, "not an SSH public key"),
    ]


def test_an_empty_key_file_is_a_problem() -> None:
    assert [p.message for p in check_authorized_keys("# nothing\n")[1]] == ["no key in the file"]


def test_wifi_blocks() -> None:
    assert check_wifi('ctrl_interface=DIR=/run/wpa_supplicant\nnetwork={\n ssid="a"\n psk="b"\n}\n') == []
    assert [p.key for p in check_wifi('network={\n psk="b"\n}\n')] == ["ssid"]
    assert [p.message for p in check_wifi("country=DE\n")] == ["no network={...} block"]
    assert [p.line for p in check_wifi('}\nnetwork={\nssid="x"\nnetwork={\nssid="y"\n}\n}\n')] == [1, 4]
