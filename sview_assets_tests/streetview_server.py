"""A local stand-in for the Street View Static API on 127.0.0.1, answering as its documentation describes.

``/metadata``: JSON with ``status`` OK (``pano_id``, ``date``, ``location``), ZERO_RESULTS where there is no
imagery, REQUEST_DENIED for a refused key. ``/`` (the image endpoint): a JPEG for a known panorama, 404 for an
unknown one (``return_error_code=true``), 403 for a refused key. The first ``throttle`` requests get 429. Every
request is recorded (its parameters without the key; the keys seen apart).
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

GOOD_KEY = "sv-test-key-5f1e2d9c"


class FakeStreetView:
    """The server and what it saw; ``no_imagery``: 'lat,lng' texts (6 decimals) with no panorama nearby."""

    def __init__(self, no_imagery: set[str] = frozenset(), throttle: int = 0, image_delay: float = 0.0):
        self.no_imagery, self.throttle, self.image_delay = set(no_imagery), throttle, image_delay
        self.requests: list[tuple[str, dict]] = []
        self.keys: set[str] = set()
        self.lock = threading.Lock()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/maps/api/streetview"

    def __enter__(self) -> FakeStreetView:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def image_requests(self) -> list[tuple[str, str]]:
        return [(p["pano"], p["heading"]) for path, p in self.requests if path.endswith("/streetview") and "pano" in p]

    def metadata_requests(self) -> list[str]:
        return [p["location"] for path, p in self.requests if path.endswith("/metadata")]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return

            def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client was killed mid-answer, as one test does on purpose

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                key = params.pop("key", "")
                with fake.lock:
                    fake.keys.add(key)
                    fake.requests.append((url.path, params))
                    throttled = len(fake.requests) <= fake.throttle
                if throttled:
                    return self._send(429, b'{"error": "rate limited"}', "application/json", {"Retry-After": "0"})
                if url.path.endswith("/metadata"):
                    return self._metadata(key, params)
                if url.path.endswith("/streetview"):
                    return self._image(key, params)
                return self._send(404, b"not found", "text/plain")

            def _metadata(self, key: str, params: dict) -> None:
                if key != GOOD_KEY:
                    answer = {"status": "REQUEST_DENIED", "error_message": "The provided API key is invalid."}
                elif params.get("location") in fake.no_imagery:
                    answer = {"status": "ZERO_RESULTS"}
                else:
                    lat, lng = (float(v) for v in params["location"].split(","))
                    answer = {"status": "OK", "pano_id": f"pano-{params['location']}", "date": "2021-06", "location": {"lat": lat, "lng": lng}}
                self._send(200, json.dumps(answer).encode(), "application/json; charset=UTF-8")

            def _image(self, key: str, params: dict) -> None:
                if key != GOOD_KEY:
                    return self._send(403, b"The Google Maps Platform server rejected your request.", "text/plain")
                if not params.get("pano", "").startswith("pano-"):
                    return self._send(404, b"", "text/plain")
                time.sleep(fake.image_delay)
                shade = int(float(params["heading"])) % 256
                buffer = io.BytesIO()
                Image.fromarray(np.full((64, 64, 3), shade, dtype=np.uint8)).save(buffer, format="JPEG")
                self._send(200, buffer.getvalue(), "image/jpeg")

        return Handler
