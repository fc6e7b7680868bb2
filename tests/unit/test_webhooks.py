"""Webhook destinations (every spelling of an internal address), signatures, backoff, redaction."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from llmlabel.errors import InputError
from llmlabel.webhooks import (
    AllowList,
    backoff_s,
    blocked_reason,
    check_url,
    parse_allow_list,
    redact_url,
    resolve_destination,
    sign,
    signature_header,
    verify_signature,
)

NOBODY = AllowList()


def fixed(*addresses: str) -> object:
    def resolver(host: str, port: int) -> Sequence[str]:
        return addresses

    return resolver


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("http://10.0.0.1/", "private"),
        ("http://192.168.1.5:8080/", "private"),
        ("http://[::1]:6379/", "loopback"),
        ("http://localhost:8000/v1/batches", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "metadata"),
        ("http://[64:ff9b::a00:1]/", "private"),
        ("http://[2002:7f00:1::]/", "loopback"),
        ("http://[fe80::1]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://100.64.0.1/", "not a public address"),
    ],
)
def test_internal_destinations_are_refused(url: str, reason: str) -> None:
    # The system resolver: numeric spellings are what the OS would connect to.
    with pytest.raises(InputError) as info:
        resolve_destination(url, NOBODY)
    assert info.value.field == "callback_url"
    assert reason in str(info.value) and "LLMLABEL_CALLBACK_ALLOW" in str(info.value)


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    with pytest.raises(InputError, match="'hooks.example.com' resolves to 10.1.2.3, a private"):
        resolve_destination("https://hooks.example.com/x", NOBODY, resolver=fixed("10.1.2.3"))
    # One bad address among good ones is enough to refuse (the next lookup may return it).
    with pytest.raises(InputError, match="loopback"):
        resolve_destination("https://hooks.example.com/x", NOBODY,
                            resolver=fixed("93.184.216.34", "127.0.0.1"))


def test_a_public_destination_is_pinned_to_its_checked_address() -> None:
    found = resolve_destination("https://hooks.example.com/in?k=v", NOBODY,
                                resolver=fixed("93.184.216.34"))
    assert found.pinned_url == "https://93.184.216.34:443/in?k=v"
    assert (found.host_header, found.target, found.address) == (
        "hooks.example.com", "/in?k=v", "93.184.216.34")
    v6 = resolve_destination("http://hooks.example.com:8080", NOBODY,
                             resolver=fixed("2606:4700::1111"))
    assert v6.pinned_url == "http://[2606:4700::1111]:8080/"
    assert v6.host_header == "hooks.example.com:8080"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://user:secret@hooks.example.com/", "credentials"),
        ("http://:secret@hooks.example.com/", "credentials"),
        ("ftp://hooks.example.com/", "http:// or https://"),
        ("http:///path", "no host"),
        ("http://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com/" + "a" * 2100, "longer than"),
    ],
)
def test_url_shape(url: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        check_url(url)


def test_allow_list_hosts_wildcards_and_networks() -> None:
    allow = parse_allow_list(" hooks.internal, *.corp.example ,127.0.0.1, 10.20.0.0/16,[::1] ,")
    assert allow.allows_host("HOOKS.internal.") and allow.allows_host("a.b.corp.example")
    assert not allow.allows_host("corp.example.evil") and not allow.allows_host("other")
    assert allow.allows_address(ipaddress.ip_address("10.20.3.4"))
    assert allow.allows_address(ipaddress.ip_address("::1"))
    assert not allow.allows_address(ipaddress.ip_address("10.21.0.1"))
    assert resolve_destination("http://127.0.0.1:9/x", allow).address == "127.0.0.1"
    assert resolve_destination("http://hooks.internal/", allow,
                               resolver=fixed("192.168.0.9")).address == "192.168.0.9"
    with pytest.raises(InputError):
        resolve_destination("http://10.21.0.1/", allow)


def test_public_addresses_pass() -> None:
    for address in ("93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"):
        assert blocked_reason(ipaddress.ip_address(address)) is None, address


def test_unresolvable_host_is_refused() -> None:
    def broken(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    with pytest.raises(InputError, match="does not resolve"):
        resolve_destination("http://nowhere.invalid/", NOBODY, resolver=broken)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":"d1"}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("whsec_x", 1_700_000_000, body) == expected
    header = signature_header("whsec_x", 1_700_000_000, body)
    assert header == f"v1={expected}"
    ok = {"signature": header, "timestamp": "1700000000", "now": 1_700_000_100.0}
    assert verify_signature("whsec_x", body, **ok)  # type: ignore[arg-type]
    assert not verify_signature("whsec_y", body, **ok)  # type: ignore[arg-type]
    assert not verify_signature("whsec_x", body + b" ", **ok)  # type: ignore[arg-type]
    assert not verify_signature("whsec_x", body, signature=header, timestamp="1700000000",
                                now=1_700_000_000 + 301)
    assert not verify_signature("whsec_x", body, signature=header, timestamp="soon")


def test_backoff_doubles_with_jitter_and_a_cap() -> None:
    assert backoff_s(1, base_s=10, rng=lambda: 0.5) == 10
    assert backoff_s(3, base_s=10, rng=lambda: 0.5) == 40
    assert backoff_s(30, base_s=10, rng=lambda: 0.5) == 3600
    assert backoff_s(1, base_s=10, rng=lambda: 0.0) == pytest.approx(8)
    assert backoff_s(1, base_s=10, rng=lambda: 1.0) == pytest.approx(12)


def test_logs_see_only_scheme_host_and_port() -> None:
    assert redact_url("https://u:p@hooks.example.com:8443/t/SECRET?token=x") == (
        "https://hooks.example.com:8443/…")
    assert redact_url("http://[::1]/x") == "http://[::1]/…"


def test_the_readme_verification_snippet_accepts_our_signatures() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    after = readme.split("Verify a delivery on the receiving side", 1)[1]
    code = after.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - our own README
    body, now = b'{"id":"d7","type":"batch.labeled"}', int(time.time())
    headers = {"Llmlabel-Timestamp": str(now),
               "Llmlabel-Signature": signature_header("whsec_t", now, body)}
    assert namespace["verify"]("whsec_t", body, headers)
    assert not namespace["verify"]("whsec_other", body, headers)
    assert not namespace["verify"]("whsec_t", body + b"x", headers)
