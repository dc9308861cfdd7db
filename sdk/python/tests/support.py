"""Helpers: plugin folders in a temp dir and a runner process spoken to over real pipes."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from . import SDK_ROOT

RUNNER = SDK_ROOT / "zepix_sdk" / "runner.py"
REPO_ROOT = SDK_ROOT.parent.parent

MANIFEST = """\
id = "{id}"
name = "{name}"
version = "1.2.3"
runtime = "python"
entry = "{entry}"
protocol = 1
roles = ["logic"]
strategy = "{strategy}"
timeframes = ["5m", "15m"]
capabilities = {capabilities}
"""


def make_plugin(root: Path, code: str, *, plugin_id: str = "t_plugin", entry: str = "plugin.py",
                capabilities=("orders", "positions", "risk", "trend", "notify", "db"), extra: str = "") -> Path:
    """A plugin folder under ``root`` with this entry code."""
    folder = root / plugin_id
    folder.mkdir(parents=True, exist_ok=True)
    manifest = MANIFEST.format(id=plugin_id, name=plugin_id.replace("_", " ").title(), entry=entry,
                               strategy=plugin_id.upper(), capabilities=json.dumps(list(capabilities)))
    (folder / "plugin.toml").write_text(manifest + extra)
    (folder / entry).write_text(textwrap.dedent(code))
    return folder


class Runner:
    """``python3 -I -S -B runner.py <plugin_dir>`` with JSON-line helpers."""

    def __init__(self, plugin_dir: Path, argv: list[str] | None = None, env: dict | None = None) -> None:
        self.stderr_file = tempfile.TemporaryFile()
        cmd = argv or [sys.executable, "-I", "-S", "-B", str(RUNNER), str(plugin_dir)]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr_file,
            cwd=str(plugin_dir), env=env,
        )
        self.buf = b""
        self.next_id = 0

    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, *messages: dict) -> None:
        self.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))

    def call(self, method: str, params: dict | None = None, rid: int | None = None) -> int:
        if rid is None:
            self.next_id += 1
            rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
        return rid

    def read(self, timeout: float = 10.0) -> dict:
        """The next line from the plugin, parsed."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line from the plugin; stderr:\n{self.stderr()}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError(f"the plugin closed stdout; stderr:\n{self.stderr()}")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def initialize(self, data_dir: Path, settings: dict | None = None, protocols=(1,)) -> dict:
        self.call("initialize", {
            "protocols": list(protocols), "plugin_id": "t_plugin", "settings": settings or {},
            "data_dir": str(data_dir), "capabilities": ["orders", "positions", "risk", "trend", "notify", "db"],
            "engine": {"name": "zepix", "version": "0.1.0"},
        })
        return self.read()

    def answer(self, rid: int, result=None, error: dict | None = None) -> None:
        msg = {"jsonrpc": "2.0", "id": rid}
        if error is not None:
            msg["error"] = error
        else:
            msg["result"] = result
        self.send(msg)

    def close_stdin(self) -> None:
        self.proc.stdin.close()

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except Exception:  # noqa: BLE001
                pass
        self.stderr_file.close()
