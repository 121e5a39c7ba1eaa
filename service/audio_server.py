"""Prompt files for local runs: WAV tones, served over HTTP from a directory on a free port."""

from __future__ import annotations

import contextlib
import math
import re
import struct
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any


def write_tone(path: Path, seconds: float, rate: int = 16_000, channels: int = 1, freq: float = 440.0) -> Path:
    """A sine tone as 16-bit PCM WAV; ACS plays only mono 16 kHz, so other shapes make invalid prompts."""
    frames = int(seconds * rate)
    samples = (int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(frames))
    data = b"".join(struct.pack("<h", s) * channels for s in samples)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data)
    return path


class _Files(BaseHTTPRequestHandler):
    """GET of a file, with single ``Range: bytes=a-b`` support (206), as blob storage answers it:
    callcue reads a prompt's WAV header with a Range request."""

    protocol_version = "HTTP/1.1"
    directory: Path = Path(".")

    def do_GET(self) -> None:
        path = self.directory / self.path.lstrip("/").split("?")[0]
        if ".." in self.path or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        status, body, first = 200, data, 0
        if wanted:
            first = int(wanted.group(1))
            last = min(int(wanted.group(2) or len(data) - 1), len(data) - 1)
            status, body = 206, data[first : last + 1]
        self.send_response(status)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{first + len(body) - 1}/{len(data)}")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up early (it read the WAV header it wanted) is not news


class AudioServer:
    """Serves ``directory`` at http://127.0.0.1:<port>/ from a thread until stopped."""

    def __init__(self, directory: Path) -> None:
        handler = type("Files", (_Files,), {"directory": directory})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="audio-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def start(self) -> AudioServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> AudioServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
