"""Is the widget on the client's site? Fetch the page and look for the install snippet (issue 9 part 3).

The server fetches a URL the client chose, so it must not become a way into the service's own network (SSRF):
only http and https, every address the host resolves to must be public unless `allow_private` (tests and
development), at most MAX_REDIRECTS redirects each checked the same way, a connect and read timeout, a total
deadline and at most `max_bytes` read. Nothing here raises for a bad site: the answer says what went wrong.

Known limit: the address is checked when resolved here and `requests` resolves the host again to connect, so a
DNS server answering differently within that moment (DNS rebinding) is not stopped.
"""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import urljoin, urlsplit

import requests
from flask_babel import lazy_gettext as _l

MAX_REDIRECTS = 3
MAX_BYTES = 2 * 1024 * 1024
TIMEOUT_S = 5.0
CHUNK = 16 * 1024

Outcome = Literal["found", "missing", "unreachable"]


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    url: str
    reason: str = ""


class _Refused(Exception):
    """The page could not be fetched; the message says why, for the client."""


def check_page(url: str, public_key: str, *, allow_private: bool = False, timeout_s: float = TIMEOUT_S,
               max_bytes: int = MAX_BYTES) -> CheckResult:
    """Fetch `url` (following at most MAX_REDIRECTS checked redirects) and look for the site's snippet."""
    deadline = time.monotonic() + 2 * timeout_s
    try:
        final_url, html = _fetch(url, allow_private, timeout_s, max_bytes, deadline)
    except _Refused as exc:
        return CheckResult("unreachable", url, str(exc))
    return CheckResult("found" if has_snippet(html, public_key) else "missing", final_url)


def page_url(domain: str) -> str:
    """The URL to fetch for a domain as the site stores it: `shop.example` means https://shop.example/."""
    return domain if "://" in domain else f"https://{domain}/"


def _fetch(url: str, allow_private: bool, timeout_s: float, max_bytes: int, deadline: float) -> tuple[str, str]:
    for _ in range(MAX_REDIRECTS + 1):
        _check_target(url, allow_private)
        try:
            response = requests.get(url, timeout=(timeout_s, timeout_s), stream=True, allow_redirects=False,
                                    headers={"User-Agent": "CallBack install check"})
        except requests.Timeout as exc:
            raise _Refused(_l("The site did not answer in time.")) from exc
        except requests.exceptions.SSLError as exc:
            raise _Refused(_l("The site's HTTPS certificate could not be verified.")) from exc
        except requests.RequestException as exc:
            raise _Refused(_l("Could not connect to the site.")) from exc
        with response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            if not 200 <= response.status_code < 300:
                raise _Refused(_l("The site answered with HTTP status %(status)d.", status=response.status_code))
            return url, _read(response, max_bytes, deadline)
    raise _Refused(_l("The site redirects more than %(n)d times.", n=MAX_REDIRECTS))


def _check_target(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Refused(_l("Only http and https addresses can be checked."))
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _Refused(_l("The site's name was not found in DNS.")) from exc
    except ValueError as exc:  # a port out of range
        raise _Refused(_l("Only http and https addresses can be checked.")) from exc
    if not allow_private and any(not ipaddress.ip_address(info[4][0]).is_global for info in infos):
        raise _Refused(_l("The site's address is in a private network: it cannot be checked from here."))


def _read(response: requests.Response, max_bytes: int, deadline: float) -> str:
    """At most `max_bytes` of the body; the snippet is looked for in that part only."""
    body = bytearray()
    try:
        for chunk in response.iter_content(CHUNK):
            body += chunk
            if len(body) >= max_bytes:
                break
            if time.monotonic() > deadline:
                raise _Refused(_l("The site did not answer in time."))
    except requests.RequestException as exc:
        raise _Refused(_l("The site did not answer in time.")) from exc
    try:
        return bytes(body[:max_bytes]).decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return bytes(body[:max_bytes]).decode("utf-8", errors="replace")


class _SnippetFinder(HTMLParser):
    def __init__(self, public_key: str):
        super().__init__()
        self.public_key, self.found = public_key, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        src = urlsplit(attrs.get("src") or "").path
        if tag == "script" and src.endswith("/widget.js") and attrs.get("data-site") == self.public_key:
            self.found = True


def has_snippet(html: str, public_key: str) -> bool:
    """True if the page has a `<script src=".../widget.js" data-site="<public_key>">` tag."""
    finder = _SnippetFinder(public_key)
    finder.feed(html)
    finder.close()
    return finder.found
