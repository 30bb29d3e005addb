"""A Hugging Face Hub emulator: the file-resolve endpoints ``huggingface_hub`` downloads through.

Speaks the documented wire format of ``hf_hub_download``:

* ``HEAD|GET /{datasets/|spaces/|}{repo_id}/resolve/{revision}/{path}`` → the file bytes with
  ``X-Repo-Commit`` (40-hex commit), ``ETag`` (sha256 of the content, quoted, as for LFS files),
  ``Content-Length`` and ``Accept-Ranges``; a ``Range: bytes=N-`` request gets ``206``;
* a missing file → ``404`` with ``X-Error-Code: EntryNotFound``; a missing repo or revision →
  ``401``/``404`` with ``X-Error-Code: RepoNotFound`` / ``RevisionNotFound`` (as the Hub does);
* ``require_token``: requests without ``Authorization: Bearer <token>`` get ``401``.

Point the SDK at it with ``HF_ENDPOINT=<emulator.url>`` (and ``HF_HUB_OFFLINE=0``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from tests.emulators.base import Emulator, Request, Response, json_response


class HFHub(Emulator):
    name = "hf_hub"

    def __init__(self, require_token: str | None = None) -> None:
        super().__init__()
        self.require_token = require_token
        self.files: dict[tuple[str, str], bytes] = {}  # (repo_type/repo_id, path) -> bytes
        self.commit = hashlib.sha1(b"pgolf-hf-emulator").hexdigest()
        self.add_route(
            "GET",
            r"/(?:(?P<kind>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)",
            self._resolve,
        )

    def add_file(self, repo_id: str, path: str, data: bytes, repo_type: str = "dataset") -> None:
        self.files[(f"{repo_type}/{repo_id}", path)] = data

    def error_body(self, status: int) -> Any:
        return {"error": f"HTTP {status}"}

    def _resolve(self, req: Request) -> Response:
        if self.require_token and req.header("authorization") != f"Bearer {self.require_token}":
            return json_response(
                {"error": "Invalid credentials in Authorization header"},
                401,
                {"X-Error-Code": "RepoNotFound"},
            )
        kind = {"datasets": "dataset", "spaces": "space"}.get(req.params.get("kind", ""), "model")
        repo = f"{kind}/{req.params['repo']}"
        if not any(k[0] == repo for k in self.files):
            return json_response({"error": "Repository Not Found"}, 401, {"X-Error-Code": "RepoNotFound"})
        if req.params["rev"] not in ("main", self.commit):
            return json_response({"error": "Invalid rev id"}, 404, {"X-Error-Code": "RevisionNotFound"})
        data = self.files.get((repo, req.params["path"]))
        if data is None:
            return json_response({"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound"})
        headers = {
            "X-Repo-Commit": self.commit,
            "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
            "Accept-Ranges": "bytes",
        }
        rng = req.header("range")
        if rng and rng.startswith("bytes=") and req.method == "GET":
            start = int(rng[6:].split("-")[0] or 0)
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            return Response(206, data[start:], headers, "application/octet-stream")
        return Response(200, data, headers, "application/octet-stream")
