"""Fetching from Label Studio and image hosts without becoming anyone's proxy.

The ML protocol makes the platform fetch URLs that a caller chose (task images) and, for webhooks, call back the
Label Studio host that /ml/setup registered. So every fetch here:

- goes to http(s) only, and only to a host on the caller's allow-list (compared as host and port);
- follows at most ``MAX_REDIRECTS`` redirects, each one re-checked, and only to the same host and port;
- sends a ``Token`` Authorization header only to the host that token belongs to;
- stops reading at a byte cap and gives up after short timeouts (``CONNECT_TIMEOUT`` to connect,
  ``READ_TIMEOUT`` for each read, ``TOTAL_TIMEOUT`` for the whole body).

Failures raise ``FetchError`` whose ``reason`` is fit to show a caller: it names no URL, address or exception.
http.client rather than urllib: urllib follows redirects and honours proxy variables on its own.
"""
from __future__ import annotations

import http.client
import time
import urllib.parse
from dataclasses import dataclass

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
TOTAL_TIMEOUT = 20.0
MAX_REDIRECTS = 3
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
CHUNK_BYTES = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}

HostKey = tuple[str, int]


class FetchError(Exception):
    """A fetch that was refused or failed. ``reason`` completes "image ..." or "annotation ..." for a caller;
    ``status_code`` is what the protocol answers (413 for an over-size body, else 400)."""

    def __init__(self, reason: str, status_code: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


def host_key(url: str) -> HostKey | None:
    """(hostname, port) of an http(s) URL, the port defaulted by scheme; None for anything else."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def allowed_host_keys(entries) -> set[HostKey]:
    """Allow-list entries as host keys. An entry is a URL (``https://ls.example``), ``host:port`` or a bare host
    (which allows that host on the default http and https ports)."""
    keys = set()
    for entry in entries:
        entry = (entry or "").strip()
        if not entry:
            continue
        if "://" in entry:
            key = host_key(entry)
            if key:
                keys.add(key)
            continue
        try:
            parts = urllib.parse.urlsplit("//" + entry)
            port = parts.port
        except ValueError:
            continue
        if not parts.hostname:
            continue
        if port:
            keys.add((parts.hostname.lower(), port))
        else:
            keys.update((parts.hostname.lower(), p) for p in DEFAULT_PORTS.values())
    return keys


def _checked(url: str, allowed: set[HostKey]) -> tuple[urllib.parse.SplitResult, HostKey]:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise FetchError("URL is not valid")
    if parts.scheme not in DEFAULT_PORTS:
        raise FetchError("URL scheme is not allowed (http or https only)")
    key = host_key(url)
    if key is None or "@" in parts.netloc:
        raise FetchError("URL is not valid")
    if key not in allowed:
        raise FetchError("host is not an allowed host")
    return parts, key


@dataclass(frozen=True)
class _Answer:
    status: int
    location: str | None
    body: bytes


def _get_once(parts: urllib.parse.SplitResult, headers: dict, max_bytes: int) -> _Answer:
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=CONNECT_TIMEOUT)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.connect()
        connection.sock.settimeout(READ_TIMEOUT)
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        if response.status in REDIRECT_STATUSES:
            return _Answer(response.status, response.getheader("Location"), b"")
        if response.status != 200:
            return _Answer(response.status, None, b"")
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"is over {max_bytes} bytes", 413)
        deadline = time.monotonic() + TOTAL_TIMEOUT
        chunks, total = [], 0
        while True:
            chunk = response.read(CHUNK_BYTES)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise FetchError(f"is over {max_bytes} bytes", 413)
            if time.monotonic() > deadline:
                raise FetchError("could not be fetched (too slow)")
            chunks.append(chunk)
        return _Answer(200, None, b"".join(chunks))
    except FetchError:
        raise
    except (OSError, http.client.HTTPException, ValueError, UnicodeError):
        # The exception's text (addresses, resolver and TLS details) stays here: it is no caller's business.
        raise FetchError("could not be fetched")
    finally:
        connection.close()


def fetch(url: str, *, allowed: set[HostKey], tokens: dict[HostKey, str], max_bytes: int,
          accept: str = "*/*") -> bytes:
    """The body of a 200 answer to GET ``url``, under the rules in the module docstring.

    Args:
        url: absolute http(s) URL.
        allowed: host keys that may be contacted (every hop is checked against it).
        tokens: host key -> Label Studio token, sent as ``Authorization: Token ...`` to that host only.
        max_bytes: the body's cap; more raises FetchError with status 413.
    """
    for _ in range(MAX_REDIRECTS + 1):
        parts, key = _checked(url, allowed)
        headers = {"Accept": accept, "User-Agent": "SpineRead-ML"}
        if tokens.get(key):
            headers["Authorization"] = f"Token {tokens[key]}"
        answer = _get_once(parts, headers, max_bytes)
        if answer.status == 200:
            return answer.body
        if answer.status not in REDIRECT_STATUSES:
            raise FetchError(f"could not be fetched (HTTP {answer.status})")
        if not answer.location:
            raise FetchError("could not be fetched (a redirect without a location)")
        following = urllib.parse.urljoin(url, answer.location.strip())
        if urllib.parse.urlsplit(following).scheme not in DEFAULT_PORTS:
            raise FetchError("was redirected to a URL scheme that is not allowed (http or https only)")
        if host_key(following) != key:
            raise FetchError("was redirected to another host (not allowed)")
        url = following
    raise FetchError("could not be fetched (too many redirects)")
