"""A small client of callcue's control and status API, and the two ways a call to it can fail."""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
    """The API answered with an error: its RFC 9457 problem details, or what stood in for them."""

    def __init__(self, status: int, code: str, detail: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{detail} ({code})")
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body or {}

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("detail"), str):
            return cls(response.status_code, body["code"], body["detail"], body)
        # Not callcue speaking (a proxy, a load balancer, another service on that port): say what came back.
        reason = response.reason_phrase or "error"
        return cls(response.status_code, f"http_{response.status_code}",
                   f"HTTP {response.status_code} {reason} from {response.request.url}")  # fmt: skip


class Unreachable(Exception):
    """No HTTP answer at all: refused, timed out, DNS, TLS."""


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash; ValueError when it cannot be an HTTP server's address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--url must be an http(s) URL like {DEFAULT_URL}, got {url!r}")
    return url.rstrip("/")


def _segment(value: str) -> str:
    # Ids go into the path as one segment: a '/' or '?' in one must not change which route is asked.
    return quote(value, safe="")


class ApiClient:
    def __init__(self, base_url: str, api_key: str | None, timeout: float = 10.0) -> None:
        headers = {"Accept": "application/json, application/problem+json", "User-Agent": "callcue-cli"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = check_base_url(base_url)
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach callcue at {self.base_url}: {exc or type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        body = response.json()
        if not isinstance(body, dict):
            raise ApiError(response.status_code, "unexpected_body", f"{method} {path} answered {type(body).__name__}")
        return body

    def start_sequence(self, call_id: str, plan: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", f"/v1/calls/{_segment(call_id)}/sequences", json=plan)

    def sequence(self, sequence_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/sequences/{_segment(sequence_id)}")

    def cancel(self, sequence_id: str) -> dict[str, Any]:
        return self._request("POST", f"/v1/sequences/{_segment(sequence_id)}/cancel")

    def call(self, call_id: str, since: int = 0) -> dict[str, Any]:
        return self._request("GET", f"/v1/calls/{_segment(call_id)}", params={"since": since})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
