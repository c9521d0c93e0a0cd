"""The discovery file: where a TCP bridge server listens and the token it wants.

``npc-ai serve`` writes it once it listens (JSON: host, port, token, pid,
protocol, minor), readable by the user only, and removes it on exit; clients read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bridge.protocol import PROTOCOL_MINOR, PROTOCOL_VERSION
from npc_ai.errors import NpcAiError

__all__ = [
    "check_discovery_free",
    "default_discovery_path",
    "read_discovery",
    "remove_discovery",
    "write_discovery",
]


def default_discovery_path() -> Path:
    """The per-user discovery file: under ``$XDG_RUNTIME_DIR``, else a per-user temp folder."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        return Path(runtime_dir) / "npc-ai" / "bridge.json"
    if sys.platform == "win32":  # pragma: no cover - Windows
        base = os.environ.get("LOCALAPPDATA") or tempfile.gettempdir()
        return Path(base) / "npc-ai" / "bridge.json"
    return Path(tempfile.gettempdir()) / f"npc-ai-{os.getuid()}" / "bridge.json"


def read_discovery(path: Path | None = None) -> dict[str, Any]:
    """The discovery file's content (host, port, token, pid, protocol)."""
    path = path or default_discovery_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NpcAiError(
            f"no bridge discovery file at {path}: is `npc-ai serve` running?", path=str(path)
        ) from None
    except ValueError as exc:
        raise NpcAiError(f"the discovery file {path} is not JSON: {exc}", path=str(path)) from None
    if not isinstance(data, dict) or not {"port", "token"} <= data.keys():
        raise NpcAiError(f"the discovery file {path} lacks port or token", path=str(path))
    return data


def check_discovery_free(path: Path) -> None:
    """Raise, naming the other server and the way out, when a live server owns ``path``.

    ``npc-ai serve`` calls it before loading a model, so the refusal comes at once.
    """
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        pid = int(old.get("pid", 0))
    except (ValueError, OSError, TypeError, AttributeError):
        return  # unreadable: not a live server's; it is replaced
    if pid and pid != os.getpid() and _alive(pid):
        raise NpcAiError(
            f"another npc-ai server (pid {pid}, port {old.get('port')}) owns {path}; stop it, "
            "or start this one with --discovery OTHER_PATH (and connect its clients with that "
            "file)",
            path=str(path),
            pid=pid,
            port=old.get("port"),
        )


def write_discovery(path: Path, port: int, token: str) -> None:
    """Write the discovery file, readable by the user only (0600 in a 0700 folder)."""
    check_discovery_free(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hasattr(os, "getuid"):
        # A folder someone else made (in a shared temp dir) could let them swap the file.
        info = path.parent.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            raise NpcAiError(
                f"the discovery folder {path.parent} is not private to this user (owner uid "
                f"{info.st_uid}, mode {info.st_mode & 0o777:o}); remove it or give --discovery",
                path=str(path.parent),
            )
    data = {
        "host": "127.0.0.1",
        "port": port,
        "token": token,
        "pid": os.getpid(),
        "protocol": PROTOCOL_VERSION,
        "minor": PROTOCOL_MINOR,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        if hasattr(os, "fchmod"):  # POSIX: 0600 whatever the umask
            os.fchmod(f.fileno(), 0o600)
        json.dump(data, f)
    os.replace(tmp, path)


def remove_discovery(path: Path) -> None:
    """Remove the discovery file if this process wrote it (another server's stays)."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
