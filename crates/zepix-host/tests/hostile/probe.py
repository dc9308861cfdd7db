"""A hostile plugin: tries, inside the sandbox, what a plugin must not do, and a few things it must
be able to do. Prints one JSON line per probe: {"probe": name, "denied": bool, "detail": text}.

usage: probe.py all '<json: other_db, config, plugin_dir, data_dir, port, engine_pid, standin_pid>'
       probe.py busy        (spins forever: the CPU limit must end it)
"""

import json
import os
import sys


def report(name, denied, detail):
    print(json.dumps({"probe": name, "denied": denied, "detail": str(detail)[:400]}), flush=True)


def attempt(name, action):
    """Runs `action`; an exception (PermissionError, MemoryError, ...) means it was denied."""
    try:
        detail = action()
    except BaseException as e:  # noqa: BLE001 - every failure is a denial here
        report(name, True, f"{type(e).__name__}: {e}")
    else:
        report(name, False, detail)


def read(path):
    with open(path, "rb") as f:
        return f"read {len(f.read())} bytes"


def write(path):
    with open(path, "w") as f:
        f.write("written by a hostile plugin\n")
    return f"wrote {path}"


def write_and_read_back(path):
    write(path)
    with open(path) as f:
        return f"wrote and read back {len(f.read())} bytes"


def sqlite(path):
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS trades (id INTEGER PRIMARY KEY, pnl REAL)")
    db.executemany("INSERT INTO trades (pnl) VALUES (?)", [(1.5,), (-0.5,)])
    db.commit()
    total = db.execute("SELECT SUM(pnl) FROM trades").fetchone()[0]
    db.close()
    return f"sum {total}"


def threads():
    import threading

    results = []
    workers = [threading.Thread(target=lambda i=i: results.append(sum(range(i * 1000)))) for i in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return f"{len(results)} threads ran"


def asyncio_loop():
    import asyncio

    async def main():
        await asyncio.sleep(0)
        return 42

    return f"asyncio returned {asyncio.run(main())}"


def system(marker):
    status = os.system(f"echo ran > {marker}")
    if status != 0 and not os.path.exists(marker):
        raise OSError(f"os.system returned {status}")
    return f"the shell ran (status {status})"


def subprocess_run():
    import subprocess

    return f"exit {subprocess.run(['/bin/true']).returncode}"


def tcp(port):
    import socket

    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.close()
    return "connected"


def udp(port):
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"hostile", ("127.0.0.1", port))
    return "sent a datagram"


def kill(pid, sig):
    os.kill(pid, sig)
    return f"signal {sig} sent to {pid}"


def allocate():
    block = bytearray(1 << 30)
    return f"allocated {len(block)} bytes"


def raise_memory_limit():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    return "address-space limit raised"


def libc_call(name, *args):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return f"{name} succeeded"


def main():
    mode = sys.argv[1]
    if mode == "busy":
        while True:
            pass
    cfg = json.loads(sys.argv[2])
    plugin_dir, data_dir = cfg["plugin_dir"], cfg["data_dir"]

    attempt("read_own_code", lambda: read(os.path.join(plugin_dir, "probe.py")))
    attempt("read_other_plugin_db", lambda: read(cfg["other_db"]))
    attempt("read_config", lambda: read(cfg["config"]))
    attempt("read_etc_passwd", lambda: read("/etc/passwd"))
    attempt("read_engine_environ", lambda: read(f"/proc/{cfg['engine_pid']}/environ"))
    attempt("write_config", lambda: write(cfg["config"]))
    attempt("write_tmp", lambda: write(f"/tmp/zepix-hostile-{os.getpid()}"))
    attempt("write_plugin_dir", lambda: write(os.path.join(plugin_dir, "dropped.py")))
    attempt("write_data_dir", lambda: write_and_read_back(os.path.join(data_dir, "state.txt")))
    attempt("sqlite_data_dir", lambda: sqlite(os.path.join(data_dir, "plugin.db")))
    attempt("threads", threads)
    attempt("asyncio", asyncio_loop)
    attempt("os_system", lambda: system(os.path.join(data_dir, "system-marker")))
    attempt("subprocess", subprocess_run)
    attempt("tcp_connect", lambda: tcp(cfg["port"]))
    attempt("udp_socket", lambda: udp(cfg["port"]))
    attempt("kill_engine", lambda: kill(cfg["standin_pid"], 15))
    attempt("signal_parent", lambda: kill(cfg["engine_pid"], 0))
    attempt("memory_1gib", allocate)
    attempt("raise_memory_limit", raise_memory_limit)
    attempt("ptrace_attach", lambda: libc_call("ptrace", 16, cfg["standin_pid"], None, None))
    attempt("unshare_user_ns", lambda: libc_call("unshare", 0x10000000))
    # Last: if it works, the process becomes a shell that reports it.
    line = json.dumps({"probe": "exec_sh", "denied": False, "detail": "/bin/sh ran"})
    attempt("exec_sh", lambda: os.execv("/bin/sh", ["sh", "-c", f"echo '{line}'"]))


main()
