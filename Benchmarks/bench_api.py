"""What the deploy benchmarks share: their error type and a small client of the service's API."""
from __future__ import annotations

import http.client
import json
import time
from typing import Any

API_VERSION = "1.78"
HEADERS = {"X-OpenStack-Ironic-API-Version": API_VERSION, "Accept": "application/json"}
LOOPBACK = "127.0.0.1"


class BenchError(Exception):
    """A benchmark step failed; the message says which and why."""


class Api:
    """A small JSON client of the service's API on 127.0.0.1 (one connection per call)."""

    def __init__(self, port: int):
        self.port = port

    def call(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,),
             timeout: float = 60.0) -> Any:
        headers = dict(HEADERS)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(1, 31):
            conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as e:
                if method != "GET" or attempt >= 4:
                    raise BenchError(f"{method} {path}: {e}") from e
                time.sleep(0.2 * attempt)
                continue
            finally:
                conn.close()
            # 409 (node locked, by a heartbeat or the power sync) and 503 are worth another try.
            if response.status in (409, 503) and response.status not in expect and attempt < 30:
                time.sleep(0.3)
                continue
            if response.status not in expect:
                raise BenchError(f"{method} {path} -> HTTP {response.status}: {data[:400]!r}")
            return json.loads(data) if data else None
        raise BenchError(f"{method} {path}: no answer after 30 tries")

    def nodes(self, fields: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        path: str | None = f"/v1/nodes?fields={fields}&limit=1000"
        for _ in range(100):
            if path is None:
                break
            page = self.call("GET", path)
            found += page["nodes"]
            following = page.get("next")
            path = following[following.index("/v1/"):] if following else None
        return found
