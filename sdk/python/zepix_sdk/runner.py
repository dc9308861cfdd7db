"""Runs a plugin as an engine child process: protocol 1 on stdin/stdout.

The engine starts ``python3 -I -S -B <sdk_root>/zepix_sdk/runner.py <plugin_dir>``. The runner puts
the SDK and the plugin folder on ``sys.path`` itself (``-I -S`` leaves both out), imports the entry
module named by ``plugin.toml`` (default ``plugin.py``), finds the plugin class and serves.

stdout is the protocol channel: ``print`` in a plugin goes to stderr, which the engine logs.
A plugin file may end with ``if __name__ == "__main__": run(Plugin)`` so that it can also be
started directly (``python3 plugin.py``); under the runner that call does nothing.
"""

if __name__ == "__main__" and not __package__:
    # Started as a script: make `zepix_sdk` importable from this file's package parent, and keep
    # this folder off sys.path (its module names must not shadow the plugin's or the stdlib's).
    import sys as _sys
    from pathlib import Path as _Path

    _here = _Path(__file__).resolve().parent
    _sys.path[:] = [p for p in _sys.path if p and _Path(p).resolve() != _here]
    _sys.path.insert(0, str(_here.parent))
    from zepix_sdk.runner import main as _main

    _sys.exit(_main(_sys.argv[1:]))

import logging
import os
import sys
from collections import deque
from pathlib import Path
from typing import Any

from zepix_sdk import errors as E
from zepix_sdk.dispatch import Dispatcher, encode, loads
from zepix_sdk.errors import error_from_rpc
from zepix_sdk.manifest import find_plugin_class, load_entry, load_manifest

MAX_LINE = 1 << 20
READ_SIZE = 1 << 16
# Flush the output buffer at least this often while working through a batch of lines.
_FLUSH_EVERY = 256

_log = logging.getLogger("zepix_sdk")

# True while the runner serves a plugin: `run()` called by an imported plugin module does nothing.
_active = False


class PipeTransport:
    """JSON-RPC lines over file descriptors (stdin 0 / stdout 1 by default).

    ``pending`` holds the engine's lines not handled yet, in order: the serve loop handles them one
    at a time; while a handler waits for the answer to a service call, new engine requests are
    queued behind them.
    """

    def __init__(self, fd_in: int = 0, fd_out: int = 1) -> None:
        self.fd_in = fd_in
        self.fd_out = fd_out
        self.pending: deque = deque()
        self.partial: list[bytes] = []
        self.partial_len = 0
        self.out: list[bytes] = []
        self.next_id = 0
        self.eof = False

    # -- output --------------------------------------------------------------------------------

    def flush(self) -> None:
        out = self.out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        n = os.write(self.fd_out, data)
        if n != len(data):
            view = memoryview(data)[n:]
            while view:
                n = os.write(self.fd_out, view)
                view = view[n:]

    # -- input ---------------------------------------------------------------------------------

    def _read(self) -> bool:
        """Reads one chunk; complete lines go to ``pending``. False at end of input."""
        data = os.read(self.fd_in, READ_SIZE)
        if not data:
            self.eof = True
            return False
        if b"\n" not in data:
            self.partial.append(data)
            self.partial_len += len(data)
            if self.partial_len > MAX_LINE:
                self._oversize(self.partial_len)
            return True
        if self.partial:
            self.partial.append(data)
            data = b"".join(self.partial)
            self.partial = []
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            if len(line) > MAX_LINE:
                self._oversize(len(line))
        self.pending.extend(lines)
        if rest:
            self.partial = [rest]
            self.partial_len = len(rest)
            if self.partial_len > MAX_LINE:
                self._oversize(self.partial_len)
        else:
            self.partial_len = 0
        return True

    def _oversize(self, size: int) -> None:
        self.flush()
        sys.stderr.write(
            f"zepix_sdk: protocol error: the engine sent a line of more than {MAX_LINE} bytes "
            f"({size}); exiting\n"
        )
        sys.stderr.flush()
        os._exit(2)

    # -- plugin -> engine ------------------------------------------------------------------------

    def request(self, method: str, params: dict) -> Any:
        self.next_id += 1
        rid = self.next_id
        self.out.append(encode({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        self.flush()
        # Lines already pending arrived before the request went out: the answer is after them.
        start = len(self.pending)
        pending = self.pending
        while True:
            while len(pending) > start:
                item = pending[start]
                if type(item) is bytes:
                    if not item or item.isspace():
                        del pending[start]
                        continue
                    try:
                        msg = loads(item)
                    except ValueError:
                        start += 1  # answered with -32700 in its turn
                        continue
                else:
                    msg = item
                if type(msg) is dict and "method" not in msg and ("result" in msg or "error" in msg):
                    del pending[start]
                    if msg.get("id") != rid:
                        _log.warning("ignoring an answer to no pending request (id %r)", msg.get("id"))
                        continue
                    if "error" in msg:
                        raise error_from_rpc(msg["error"])
                    return msg.get("result")
                # An engine request: it waits, parsed, for its turn after the current handler.
                pending[start] = msg
                start += 1
            if not self._read():
                raise E.Unavailable(E.UNAVAILABLE, f"the engine closed the pipe before answering `{method}`")

    def notify(self, method: str, params: dict) -> None:
        self.out.append(encode({"jsonrpc": "2.0", "method": method, "params": params}))

    # -- the loop --------------------------------------------------------------------------------

    def serve(self, dispatcher: Dispatcher) -> int:
        """Answers the engine until ``shutdown`` or end of input; returns the exit status."""
        pending = self.pending
        out = self.out
        handle = dispatcher.handle_line
        handle_message = dispatcher.handle_message
        while True:
            n = 0
            while pending:
                item = pending.popleft()
                if type(item) is bytes:
                    if not item or item.isspace():
                        continue
                    reply = handle(item)
                else:
                    reply = handle_message(item)
                if reply is not None:
                    out.append(reply)
                if dispatcher.exit_requested:
                    self.flush()
                    return 0
                n += 1
                if n >= _FLUSH_EVERY:
                    self.flush()
                    n = 0
            self.flush()
            if self.eof or not self._read():
                return 0


def _setup_process() -> tuple[int, int]:
    """Keeps the protocol's pipes for the runner alone and returns their fds: fd 1 becomes a copy
    of stderr (anything the plugin or a C library prints lands in the engine's log), fd 0 reads
    /dev/null, and ``sys.stdout`` is ``sys.stderr``."""
    fd_in, fd_out = 0, 1
    try:
        fd_out = os.dup(1)
        os.dup2(2, 1)
    except OSError:
        fd_out = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        fd_in = os.dup(0)
        os.dup2(null, 0)
        os.close(null)
    except OSError:
        fd_in = 0
    sys.stdout = sys.stderr
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return fd_in, fd_out


def serve(plugin_cls: Any, plugin_dir: Path, manifest: dict | None = None, load_error: str | None = None,
          fds: tuple[int, int] = (0, 1)) -> int:
    """Serves ``plugin_cls`` on the protocol pipes ``fds`` (stdin, stdout); returns the exit status."""
    global _active
    _active = True
    if manifest is None:
        try:
            manifest = load_manifest(plugin_dir)
        except Exception as e:  # noqa: BLE001 - reported in the initialize answer
            manifest = {}
            load_error = load_error or f"cannot read {plugin_dir / 'plugin.toml'}: {type(e).__name__}: {e}"
    transport = PipeTransport(*fds)
    dispatcher = Dispatcher(plugin_cls, manifest, transport, plugin_dir=plugin_dir, load_error=load_error)
    try:
        return transport.serve(dispatcher)
    except KeyboardInterrupt:
        return 0
    finally:
        transport.flush()


def main(argv: list[str] | None = None) -> int:
    """``runner.py <plugin_dir>``: loads the plugin folder and serves it."""
    global _active
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python3 -I -S -B zepix_sdk/runner.py <plugin_dir>\n")
        return 64
    fds = _setup_process()
    _active = True
    plugin_dir = Path(argv[0]).resolve()
    path = str(plugin_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    manifest: dict = {}
    plugin_cls = None
    load_error = None
    try:
        manifest = load_manifest(plugin_dir)
        module = load_entry(plugin_dir, manifest)
        plugin_cls = find_plugin_class(module)
    except BaseException as e:  # noqa: BLE001 - told to the engine in the initialize answer
        if isinstance(e, KeyboardInterrupt):
            raise
        import traceback

        entry = manifest.get("entry") or "plugin.py"
        load_error = f"cannot load {entry}: {type(e).__name__}: {e}"
        _log.error("%s\n%s", load_error, traceback.format_exc().rstrip())
    return serve(plugin_cls, plugin_dir, manifest, load_error, fds)


def run(plugin_cls: Any, plugin_dir: Path | str | None = None) -> None:
    """Serves ``plugin_cls`` when its file is run directly (``python3 plugin.py``).

    Under the engine's runner the plugin module is imported, not run, and this does nothing.
    """
    if _active:
        return
    if plugin_dir is None:
        module = sys.modules.get(getattr(plugin_cls, "__module__", ""), None)
        file = getattr(module, "__file__", None)
        plugin_dir = Path(file).resolve().parent if file else Path.cwd()
    fds = _setup_process()
    sys.exit(serve(plugin_cls, Path(plugin_dir), fds=fds))


def console_main() -> None:
    sys.exit(main())
