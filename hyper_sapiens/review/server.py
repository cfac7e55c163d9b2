"""The review page's HTTP server: Python's ``http.server``, on 127.0.0.1 only, behind a random token.

Every URL starts with ``/<token>/`` (``secrets.token_urlsafe``, printed once by the verb); a request without the
right token is answered 403 whatever it asks. Routes after the token:

============================  ============================================================================
``GET  /``                    the page (``static/index.html``)
``GET  static/<name>``        the page's script and style, only the files shipped in ``static/``
``GET  api/clip``             the clip as JSON: size, frame rate, tracks, scores, flags, features, reviews
``GET  video``                the recording, when a browser plays it (``Range`` requests: 206 / 416)
``GET  files/<path>``         a file inside the clip folder (extracted frames); anything that resolves
                              outside it (``..``, encoded ``%2e%2e%2f``, absolute paths, symlinks out) is 403
``POST api/review``           one frame's correction, JSON ``{"frame", "keypoints"}``: 413 above
                              :data:`~.corrections.MAX_BODY_BYTES`, 415 unless ``application/json``, 400 with
                              a message for a malformed or invalid one; nothing is written then
============================  ============================================================================

A request whose ``Host`` is not the loopback address and port, or whose ``Origin`` is another site, is 403 too
(DNS rebinding, cross-site posts).
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from .. import json_safe
from ..data.io import DataFileError
from ..keypoints import COCO17
from .clip import ClipFolder, clip_tracks
from .corrections import DRAIN_LIMIT_BYTES, MAX_BODY_BYTES, CorrectionError, ReviewStore, parse_correction
from .media import Media, frame_name

__all__ = ["HOST", "ReviewApp", "make_server", "parse_range"]

#: The only address the server binds.
HOST = "127.0.0.1"
CHUNK = 256 * 1024


def static_files() -> dict[str, bytes]:
    """The page's files shipped in ``hyper_sapiens/review/static/``, by name."""
    root = resources.files("hyper_sapiens.review").joinpath("static")
    return {p.name: p.read_bytes() for p in root.iterdir() if p.is_file() and not p.name.startswith(".")}


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """A single ``Range: bytes=a-b`` / ``a-`` / ``-n`` as inclusive ``(start, end)`` byte offsets of a file of
    ``size`` bytes; ``None`` when the header is not one range of bytes (the whole file is sent, as RFC 9110
    allows); ``"unsatisfiable"`` when it starts past the end (416)."""
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return "unsatisfiable"
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size:
        return "unsatisfiable"
    if start < 0 or end < start:
        return None
    return start, min(end, size - 1)


class ReviewApp:
    """What the server serves: one clip, its media, its reviews, and the token that guards them."""

    def __init__(self, clip: ClipFolder, media: Media, store: ReviewStore, token: str | None = None,
                 tracks: dict[str, Any] | None = None) -> None:
        self.clip = clip
        self.tracks = tracks  # clip.clip_tracks(clip), read when first needed
        self.media = media
        self.store = store
        self.token = token or secrets.token_urlsafe(24)
        self.root = clip.folder.resolve()
        self.static = static_files()
        self._clip_json: bytes | None = None
        self._lock = threading.Lock()

    def clip_data(self) -> dict[str, Any]:
        """The page's data (units: pixels of the original frame, frames, seconds, frames/s)."""
        if self.tracks is None:
            self.tracks = clip_tracks(self.clip)
        media: dict[str, Any] = {"kind": self.media.kind, "codec": self.media.codec, "note": self.media.note,
                                 "read_only": self.media.read_only, "source": str(self.media.source)}
        if self.media.kind == "video":
            media["url"] = "video"
        else:
            rel = self.media.frames_dir.resolve().relative_to(self.root).as_posix()
            media["url"] = f"files/{rel}/"
            media["pattern"] = frame_name(0).replace("000000", "{frame:06d}")
        return {
            "name": self.clip.name, "fps": self.clip.fps, "width": self.clip.width, "height": self.clip.height,
            "frames": self.clip.frames, "joints": list(COCO17.names), "bones": [list(b) for b in COCO17.bones],
            **self.tracks,
            "threshold": (self.clip.features.get("clip") or {}).get("prior_threshold"),
            "features": {k: v for k, v in self.clip.features.items() if k != "clip"},
            "video_settings": self.clip.features.get("clip"), "media": media,
        }

    def clip_json(self) -> bytes:
        """``{"clip": clip_data(), "reviews": {frame: [[x, y, v] x 17]}}`` as JSON; the tracks are read once, the
        reviews every time."""
        with self._lock:
            if self._clip_json is None:
                self._clip_json = json_safe.dumps(self.clip_data()).encode("utf-8")
            reviews = json.dumps(self.store.as_lists()).encode("utf-8")
        return b'{"clip": ' + self._clip_json + b', "reviews": ' + reviews + b"}"

    def token_ok(self, candidate: str) -> bool:
        """Whether ``candidate`` is the token (compared in constant time)."""
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self.token.encode("utf-8"))

    def clip_file(self, rel: str) -> Path:
        """The file ``rel`` (percent-decoded, ``/``-separated) inside the clip folder. ``PermissionError`` for a
        path that is absolute, holds ``..``, ``.``, an empty part, a backslash or NUL, or resolves outside the
        folder (a symlink out); ``FileNotFoundError`` when there is no such file."""
        if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/") or ":" in PurePosixPath(rel).parts[0]:
            raise PermissionError(f"refused path {rel!r}")
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise PermissionError(f"refused path {rel!r}")
        path = (self.root / Path(*parts)).resolve()
        if not path.is_relative_to(self.root):
            raise PermissionError(f"{rel!r} resolves outside the clip folder")
        if not path.is_file():
            raise FileNotFoundError(rel)
        return path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hyper-sapiens-review"
    sys_version = ""
    app: ReviewApp  # set on the subclass that make_server builds

    # ------------------------------------------------------------------ plumbing
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: the request lines hold the token. Errors are reported by :meth:`_error`."""

    def _headers(self, status: int, content_type: str, length: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; "
                         "media-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; "
                         "frame-ancestors 'none'")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self._headers(status, content_type, len(body), extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str, close: bool = False) -> None:
        if close:
            self.close_connection = True
        if status >= 500:
            print(f"review: error: {message}", file=sys.stderr)
        self._json(status, {"error": message})

    def _route(self) -> str | None:
        """The path after ``/<token>/`` (still percent-encoded), or ``None`` after answering 403."""
        host = self.headers.get("Host", "")
        port = self.server.server_address[1]
        if host not in (f"{HOST}:{port}", f"localhost:{port}"):
            self._error(403, "forbidden", close=True)
            return None
        origin = self.headers.get("Origin")
        if origin is not None and origin not in (f"http://{HOST}:{port}", f"http://localhost:{port}"):
            self._error(403, "forbidden", close=True)
            return None
        path = self.path.split("?", 1)[0].split("#", 1)[0]  # origin-form only: "/<token>/..."
        _, _, rest = path.partition("/")
        token, slash, route = rest.partition("/")
        if not path.startswith("/") or not self.app.token_ok(token):
            self._error(403, "forbidden", close=True)
            return None
        if not slash:  # /<token> -> /<token>/, so that the page's relative URLs work
            self._send(301, b"", "text/plain", {"Location": f"/{token}/"})
            return None
        return route

    # ------------------------------------------------------------------ GET
    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        route = self._route()
        if route is None:
            return
        try:
            self._get(route)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except DataFileError as err:
            self._error(500, str(err))

    def _get(self, route: str) -> None:
        app = self.app
        if route in ("", "index.html"):
            self._send(200, app.static["index.html"], "text/html; charset=utf-8")
        elif route.startswith("static/"):
            name = route[len("static/"):]
            if name not in app.static:
                self._error(404, "not found")
                return
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            self._send(200, app.static[name], kind)
        elif route == "api/clip":
            self._send(200, app.clip_json(), "application/json; charset=utf-8")
        elif route == "video":
            if app.media.video is None:
                self._error(404, "this clip is shown as frames, not as a video")
                return
            kind = mimetypes.guess_type(app.media.video.name)[0] or "video/mp4"
            self._file(app.media.video, "video/mp4" if kind == "video/quicktime" else kind)
        elif route.startswith("files/"):
            try:
                rel = unquote(route[len("files/"):], errors="strict")
                path = app.clip_file(rel)
            except UnicodeDecodeError:
                self._error(400, "path is not UTF-8")
                return
            except PermissionError:
                self._error(403, "forbidden")
                return
            except FileNotFoundError:
                self._error(404, "not found")
                return
            self._file(path, mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        else:
            self._error(404, "not found")

    def _file(self, path: Path, content_type: str) -> None:
        """Send a file, or the byte range the ``Range`` header asks for (206), streamed in chunks."""
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        extra = {"Accept-Ranges": "bytes"}
        header = self.headers.get("Range")
        if header:
            parsed = parse_range(header, size)
            if parsed == "unsatisfiable":
                self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
                return
            if parsed is not None:
                start, end = parsed
                status = 206
                extra["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        self._headers(status, content_type, length, extra)
        if self.command == "HEAD":
            return
        with open(path, "rb") as f:
            f.seek(start)
            left = length
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    # ------------------------------------------------------------------ POST
    def do_POST(self) -> None:  # noqa: N802
        route = self._route()
        if route is None:
            return
        if route != "api/review":
            self._error(404, "not found", close=True)
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._error(411, "send the body with a Content-Length", close=True)
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(411, "Content-Length required", close=True)
            return
        if length < 0:
            self._error(400, "negative Content-Length", close=True)
            return
        if length > MAX_BODY_BYTES:
            # Read (and drop) a moderately oversized body first: a reply sent while the client is still sending
            # would reach it as a broken pipe instead of this message. Beyond DRAIN_LIMIT_BYTES, just hang up.
            if length <= DRAIN_LIMIT_BYTES:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 16))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            self._error(413, f"correction of {length} bytes; at most {MAX_BODY_BYTES} are accepted", close=True)
            return
        body = self.rfile.read(length)
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            self._error(415, "send the correction as application/json")
            return
        if self.app.media.read_only:
            self._error(403, f"corrections are off: {self.app.media.read_only}")
            return
        clip = self.app.clip
        try:
            frame, keypoints = parse_correction(body, clip.frames, clip.width, clip.height)
            result = self.app.store.save(frame, keypoints)
        except CorrectionError as err:
            self._error(400, str(err))
            return
        except PermissionError as err:
            self._error(403, f"corrections are off: {err}")
            return
        except (DataFileError, OSError) as err:
            self._error(500, f"could not save the correction: {err}")
            return
        self._json(200, result)


def make_server(app: ReviewApp, port: int = 0) -> ThreadingHTTPServer:
    """A threaded server for ``app`` bound to 127.0.0.1:``port`` (0: a free port); call ``serve_forever``."""
    handler = type("ReviewHandler", (_Handler,), {"app": app})
    server = ThreadingHTTPServer((HOST, port), handler)
    server.daemon_threads = True
    return server


def url(server: ThreadingHTTPServer, app: ReviewApp) -> str:
    """The page's address, token included."""
    return f"http://{HOST}:{server.server_address[1]}/{app.token}/"

