"""Webhooks (batch callbacks) the way GitHub and Stripe do them: safe destinations, signed bodies.

A callback URL is checked when a batch is submitted and again before every
delivery, since DNS can change in between:

- `http` or `https`, a host, no credentials (`user:pass@`), at most 2048 chars;
- every address the host resolves to must be public: loopback, private,
  link-local, multicast, reserved, unspecified, shared (CGNAT) and cloud
  metadata addresses are refused, in every spelling (`2130706433`,
  `0x7f000001`, `[::ffff:127.0.0.1]`, NAT64 and 6to4 forms included),
- unless the operator allow-lists the host or a network holding its
  addresses (`LLMLABEL_CALLBACK_ALLOW`, e.g. `hooks.internal,10.20.0.0/16`).

A delivery connects to the address that was checked (never a re-resolved
one), and signs the body: `Llmlabel-Signature: v1=<hex HMAC-SHA256 of
"{timestamp}." + body with the team's secret>` next to `Llmlabel-Timestamp`,
so a receiver can check who sent it and refuse replays (`verify_signature`).
Pure apart from the resolver, which callers may replace.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from llmlabel.errors import InputError

__all__ = [
    "METADATA_ADDRESSES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AllowList",
    "Destination",
    "Resolver",
    "backoff_s",
    "blocked_reason",
    "check_url",
    "event_body",
    "new_secret",
    "parse_allow_list",
    "redact_url",
    "resolve_destination",
    "sign",
    "signature_header",
    "verify_signature",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
"""(host, port) -> the addresses it resolves to, as strings."""

SIGNATURE_HEADER = "Llmlabel-Signature"
TIMESTAMP_HEADER = "Llmlabel-Timestamp"
MAX_URL_LENGTH = 2048

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task credentials
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS over IPv6
    )
)
"""Cloud instance metadata endpoints (credentials live there); named in refusals."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class AllowList:
    """Destinations the operator allows although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.hosts or any(
            h.startswith("*.") and host.endswith(h[1:]) for h in self.hosts
        )

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def parse_allow_list(text: str | None) -> AllowList:
    """`LLMLABEL_CALLBACK_ALLOW`: comma-separated host names (`*.example.com`), IPs or networks."""
    hosts: set[str] = set()
    networks: list[Network] = []
    for entry in (part.strip() for part in (text or "").split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return AllowList(frozenset(hosts), tuple(networks))


def blocked_reason(address: IPAddress) -> str | None:
    """Why a webhook may not go to `address` (None: it is a public address)."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address) and not (
        address.is_loopback or address.is_unspecified
    ):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address in _NAT64 or int(address) < 2**32):
            # NAT64 and the old IPv4-compatible form carry an IPv4 address in the low bits.
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = blocked_reason(embedded)
            return f"{inner} (inside the IPv6 address)" if inner else None
    for test, reason in (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
    ):
        if test:
            return reason
    if not address.is_global:
        return "not a public address"
    return None


def _refused(message: str) -> InputError:
    return InputError(f"callback_url: {message}", field="callback_url")


def check_url(url: str) -> str:
    """The URL if its shape is acceptable (scheme, host, no credentials); InputError otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise _refused(f"longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refused(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise _refused("must be an http:// or https:// URL")
    if not parts.hostname:
        raise _refused("has no host")
    if parts.username is not None or parts.password is not None:
        raise _refused("must not carry credentials (user:password@); "
                       "verify deliveries with the signature header instead")
    if port == 0:
        raise _refused("port 0 is not a destination")
    return url


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked callback URL and the address a delivery connects to."""

    url: str
    scheme: str
    host: str
    port: int
    target: str
    """Path and query, as sent in the request line."""
    address: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.target}"


def resolve_destination(
    url: str, allow: AllowList, *, resolver: Resolver | None = None
) -> Destination:
    """Check `url` and every address its host resolves to; InputError naming the reason.

    An allow-listed host passes whatever it resolves to; otherwise each address
    must be public or inside an allow-listed network.
    """
    check_url(url)
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = list((resolver or _system_resolver)(host, port))
    except (OSError, UnicodeError) as exc:
        raise _refused(f"host {host!r} does not resolve ({exc})") from None
    if not addresses:
        raise _refused(f"host {host!r} does not resolve")
    parsed = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
    if not allow.allows_host(host):
        for address in parsed:
            reason = blocked_reason(address)
            if reason and not allow.allows_address(address):
                shown = f"{host!r} resolves to {address}" if str(address) != host else str(address)
                raise _refused(
                    f"{shown}, {reason}: webhooks only go to public addresses "
                    "(an operator can allow it with LLMLABEL_CALLBACK_ALLOW)"
                )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(url=url, scheme=parts.scheme, host=host, port=port, target=target,
                       address=str(parsed[0]))


def redact_url(url: str) -> str:
    """What logs may show of a URL: scheme, host and port (paths and queries can hold tokens)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}/…"


def new_secret() -> str:
    """A fresh signing secret for a team."""
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"{timestamp}." + body` under `secret`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The `Llmlabel-Signature` value of one delivery."""
    return f"v1={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    body: bytes,
    *,
    signature: str,
    timestamp: str,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver does: recompute the signature, compare in constant time, refuse old ones."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    expected = signature_header(secret, sent_at, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))


def backoff_s(attempt: int, *, base_s: float, cap_s: float = 3600.0,
              rng: Callable[[], float] = random.random) -> float:
    """Delay before retry number `attempt` (1 = first retry): doubling, capped, +-20 % jitter."""
    delay = min(cap_s, base_s * 2.0 ** max(attempt - 1, 0))
    return delay * (0.8 + 0.4 * rng())


def event_body(event: dict[str, Any]) -> bytes:
    """The exact bytes a delivery sends (and signs)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
