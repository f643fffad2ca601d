"""A minimal HTTPS client for the ephemeral API server: JSON in, status + JSON + warnings out.

Direct requests with the admin client certificate, no kubectl: a dry-run answer is a
`Status` object whose `details.causes` name the field, which is what a finding needs.
One keep-alive connection per client; `Client` is not thread-safe (make one per thread).
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# RFC 7234 warning header as kube-apiserver sends it: `299 - "message"`.
_WARNING = re.compile(r'^\s*\d{3}\s+\S+\s+"(?P<text>(?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Response:
    """One API answer: HTTP status, decoded body (a dict, or {} when empty) and warnings."""

    status: int
    body: dict[str, Any]
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _warnings(headers: list[tuple[str, str]]) -> tuple[str, ...]:
    out: list[str] = []
    for name, value in headers:
        if name.lower() != "warning":
            continue
        match = _WARNING.match(value)
        text = match.group("text") if match else value
        out.append(text.replace('\\"', '"').replace("\\\\", "\\"))
    return tuple(out)


class Client:
    """Requests against one API server as one client-certificate identity."""

    def __init__(self, base_url: str, *, ca_cert: Path, client_cert: Path, client_key: Path,
                 timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"API server URL needs a host and port: {base_url}")
        self._host, self._port = parts.hostname, parts.port
        self._timeout = timeout
        self._context = ssl.create_default_context(cafile=str(ca_cert))
        self._context.load_cert_chain(str(client_cert), str(client_key))
        self._conn: http.client.HTTPSConnection | None = None

    def _connection(self) -> http.client.HTTPSConnection:
        if self._conn is None:
            self._conn = http.client.HTTPSConnection(
                self._host, self._port, context=self._context, timeout=self._timeout
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> Response:
        """One request; a dropped keep-alive connection is retried once on a fresh one."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                raw = conn.getresponse()
                data = raw.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
        decoded: dict[str, Any] = {}
        if data:
            try:
                loaded = json.loads(data)
            except ValueError:
                loaded = {"message": data.decode("utf-8", "replace").strip()}
            decoded = loaded if isinstance(loaded, dict) else {"items": loaded}
        return Response(raw.status, decoded, _warnings(raw.getheaders()))

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, obj: dict[str, Any]) -> Response:
        return self.request("POST", path, json.dumps(obj).encode())

    def apply(self, path: str, obj: dict[str, Any], *, field_manager: str = "mercury",
              dry_run: bool = False, force: bool = True) -> Response:
        """Server-side apply (what Flux's kustomize-controller does) of one object at `path`."""
        query = f"fieldManager={field_manager}"
        if force:
            query += "&force=true"
        if dry_run:
            query += "&dryRun=All"
        sep = "&" if "?" in path else "?"
        # JSON is valid YAML: the apply-patch content type accepts it as is.
        return self.request("PATCH", f"{path}{sep}{query}", json.dumps(obj).encode(),
                            content_type="application/apply-patch+yaml")
