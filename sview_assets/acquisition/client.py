"""A polite client of the Google Street View Static API: a metadata request, then images by panorama id.

Politeness: requests are spaced to at most ``requests_per_second``; a 429, a 5xx, a network error, or a
metadata status of ``OVER_QUERY_LIMIT`` or ``UNKNOWN_ERROR`` is retried after ``backoff_seconds`` doubled
at each try (or the server's ``Retry-After``, when it says more), up to ``max_retries`` times, and then
stops the run with :class:`ServiceUnavailable`. A refused key (``REQUEST_DENIED``, or HTTP 403 for an
image) stops it with :class:`KeyRefused`.

The key travels only in the request's query string: no message, log line or record built here contains a
URL, so the key is never written anywhere.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from sview_assets.sources.city_options import StreetViewOptions

RETRIED_STATUSES = {"OVER_QUERY_LIMIT", "UNKNOWN_ERROR"}
MAX_WAIT_SECONDS = 300.0
USER_AGENT = "sview (street-level imagery for urban inequality research)"


class AcquisitionError(RuntimeError):
    """The acquisition cannot go on; what was fetched so far is kept and a re-run resumes."""


class KeyRefused(AcquisitionError):
    """The service refused the API key (wrong key, API not enabled, billing off, or restricted elsewhere)."""


class ServiceUnavailable(AcquisitionError):
    """The service kept answering with errors or too-many-requests after every retry."""


@dataclass(frozen=True)
class Metadata:
    """What the metadata endpoint says of one location: ``status`` (OK, ZERO_RESULTS, NOT_FOUND, ...), and for OK the panorama."""

    status: str
    pano_id: str = ""
    date: str = ""
    lat: float | None = None
    long: float | None = None


class _Pace:
    """Spaces request starts at least ``1 / per_second`` seconds apart."""

    def __init__(self, per_second: float, sleep: Callable[[float], None]):
        self.interval, self.sleep, self.last = 1.0 / per_second, sleep, float("-inf")

    def wait(self) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            self.sleep(self.interval - (now - self.last))
        self.last = time.monotonic()


class StreetViewClient:
    """Metadata and image requests of one city's acquisition (``options``), with ``key``; counts what it asked."""

    def __init__(self, options: StreetViewOptions, key: str, sleep: Callable[[float], None] = time.sleep, timeout: float = 30.0):
        if not key:
            raise KeyRefused(f"no API key: set the environment variable {options.key_env} to your Street View Static API key.")
        self.options, self._key, self.sleep, self.timeout = options, key, sleep, timeout
        self._pace = _Pace(options.requests_per_second, sleep)
        self.metadata_requests = 0
        self.image_requests = 0
        self.retries = 0

    def _short(self, body: bytes) -> str:
        """The start of an answer's body for a message, with the key blanked should the service echo it."""
        return body[:200].decode("utf-8", "replace").strip().replace("\n", " ").replace(self._key, "<key>")

    def _url(self, path: str, params: dict[str, str]) -> str:
        return f"{self.options.endpoint.rstrip('/')}{path}?{urllib.parse.urlencode({**params, 'key': self._key})}"

    def _get(self, path: str, params: dict[str, str], what: str) -> tuple[int, bytes, str]:
        """One GET with pacing and retries: (HTTP status, body, content type) of the first answer not worth retrying."""
        for attempt in range(self.options.max_retries + 1):
            self._pace.wait()
            request = urllib.request.Request(self._url(path, params), headers={"User-Agent": USER_AGENT})
            retry_after = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, response.read(), response.headers.get("Content-Type", "")
            except urllib.error.HTTPError as error:
                status, body = error.code, error.read()
                error.close()
                if status != 429 and status < 500:
                    return status, body, error.headers.get("Content-Type", "")
                problem, retry_after = f"HTTP {status}", error.headers.get("Retry-After")
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                reason = getattr(error, "reason", error)
                problem = f"network error ({reason.__class__.__name__})"
            if attempt == self.options.max_retries:
                break
            self.retries += 1
            self.sleep(self._backoff(attempt, retry_after))
        raise ServiceUnavailable(
            f"the Street View service answered {what} with {problem} {self.options.max_retries + 1} times in a row; stopped. "
            "Everything fetched so far is kept: run again later to resume."
        )

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        wait = self.options.backoff_seconds * 2**attempt
        if retry_after and retry_after.strip().isdigit():
            wait = max(wait, float(retry_after))
        return min(wait, MAX_WAIT_SECONDS)

    def metadata(self, lat: float, long: float) -> Metadata:
        """Whether there is imagery near (lat, long), and which panorama; metadata requests are free of charge."""
        params = {"location": f"{lat:.6f},{long:.6f}", "radius": str(self.options.radius), "source": "outdoor"}
        for attempt in range(self.options.max_retries + 1):
            self.metadata_requests += 1
            status, body, _ = self._get("/metadata", params, "a metadata request")
            if status == 403:
                raise _refused(f"HTTP 403 to a metadata request ({self._short(body)})", self.options)
            try:
                answer = json.loads(body)
            except ValueError:
                raise ServiceUnavailable(f"the metadata endpoint answered HTTP {status} with something that is not JSON ({self._short(body)}).") from None
            verdict = str(answer.get("status", ""))
            if verdict == "REQUEST_DENIED":
                raise _refused(f"REQUEST_DENIED: {self._short(str(answer.get('error_message', 'no message')).encode())}", self.options)
            if verdict not in RETRIED_STATUSES:
                break
            if attempt < self.options.max_retries:
                self.retries += 1
                self.sleep(self._backoff(attempt, None))
        else:
            raise ServiceUnavailable(f"the metadata endpoint kept answering {verdict}; stopped. Run again later to resume.")
        if verdict != "OK":
            return Metadata(verdict)
        where = answer.get("location") or {}
        return Metadata("OK", str(answer.get("pano_id", "")), str(answer.get("date", "")), where.get("lat"), where.get("lng"))

    def image(self, pano_id: str, heading: float) -> bytes:
        """The image of panorama ``pano_id`` looking at compass ``heading`` (billed: one request of the budget)."""
        params = {
            "pano": pano_id,
            "heading": f"{heading:g}",
            "fov": f"{self.options.field_of_view:g}",
            "pitch": f"{self.options.pitch:g}",
            "size": self.options.image_size,
            "return_error_code": "true",
        }
        self.image_requests += 1
        status, body, content_type = self._get("", params, "an image request")
        if status == 403:
            raise _refused(f"HTTP 403 to an image request ({self._short(body)})", self.options)
        if status != 200 or not content_type.startswith("image/"):
            raise ImageMissing(f"HTTP {status} ({content_type or 'no content type'}) for panorama {pano_id} at heading {heading:g}")
        return body


class ImageMissing(ValueError):
    """The service had no image for a panorama and heading (recorded for that location; the run goes on)."""


def _refused(what: str, options: StreetViewOptions) -> KeyRefused:
    return KeyRefused(
        f"the Street View service refused the API key in {options.key_env} ({what}). Check the key, that the Street View Static API "
        "is enabled for its project with billing on, and any restriction on the key (referrer, IP address, API). Nothing more was requested."
    )
