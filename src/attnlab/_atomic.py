"""Atomic writes: files (a temp file in the target's directory, fsync, ``os.replace``) and whole
directories (built under a hidden temp name, then swapped into place), plus file digests.

An interrupted writer never leaves a half-written file or directory under a final name.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from attnlab._signals import deferred

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "atomic_write_text",
    "file_digest",
    "json_safe",
    "make_temp_dir",
    "replace_dir",
    "temp_dir_beside",
]


# -- atomic writes ------------------------------------------------------------------------------
def _umask() -> int:
    """The process umask, read without changing it (Linux), else the usual 0o022."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def make_temp_dir(target: Path) -> Path:
    """A fresh hidden directory beside ``target`` (``.<name>.<random>.tmp``), with the
    permissions of a plain ``mkdir`` (not ``mkdtemp``'s 0700)."""
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


@contextlib.contextmanager
def temp_dir_beside(target: Path) -> Iterator[Path]:
    """A fresh temp directory beside ``target`` (:func:`make_temp_dir`) for the ``with`` block,
    removed if the block raises (an interrupt included) and left alone otherwise (the block has
    moved it into place).

    Creating it and removing it run under :func:`attnlab._signals.deferred`: an interrupt that
    lands between the directory's creation and the moment its name is known cannot leave it
    behind.
    """
    tmp: Path | None = None
    try:
        with deferred():
            tmp = make_temp_dir(target)
        yield tmp
    except BaseException:
        if tmp is not None:
            with deferred():
                shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory + ``os.replace``
    (with the permissions of a plain ``open``, not ``mkstemp``'s 0600).

    The temp file is created, and removed on failure, under
    :func:`attnlab._signals.deferred`, so an interrupt leaves no temp file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd: int | None = None
    tmp: str | None = None
    try:
        with deferred():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fd = None  # the file object owns it now
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with deferred():
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays as Python values and non-finite floats as ``None``."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as strict JSON (NaN and infinities become ``null``), atomically."""
    text = json.dumps(
        json_safe(obj), indent=2, sort_keys=True, allow_nan=False, default=_json_default
    )
    atomic_write_text(path, text + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_parquet(path: Path, table: Any) -> None:
    """Write a pandas DataFrame as Parquet, atomically."""
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


# -- digests ------------------------------------------------------------------------------------
def file_digest(path: Path) -> dict[str, Any]:
    """``{"sha256": hex digest, "size": bytes}`` of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
    return {"sha256": h.hexdigest(), "size": size}


# -- directories --------------------------------------------------------------------------------
_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux ``renameat2(RENAME_EXCHANGE)``; False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(new: Path, target: Path) -> None:
    """Put the complete directory ``new`` at ``target``, replacing what is there, atomically.

    ``new`` must be a sibling of ``target`` (same file system). When ``target`` exists, the two
    are exchanged in one step where the OS allows it (Linux ``renameat2``), so ``target`` always
    names either the old or the new directory; elsewhere the old one is first renamed aside.
    The old content ends under ``new``'s name and is removed; if that removal is interrupted,
    the leftover is a hidden directory that the store deletes on its next run of the point.
    """
    new, target = Path(new), Path(target)
    if not target.exists():
        os.rename(new, target)
        return
    if not _exchange(new, target):
        aside = make_temp_dir(target)
        os.rmdir(aside)
        os.rename(target, aside)
        os.rename(new, target)
        new = aside
    shutil.rmtree(new, ignore_errors=True)
