"""The ``attnlab`` command's persistent cache of compiled programs.

Compiling attnlab's jax programs takes a large share of a paper-size run on CPU (tens of
programs, up to seconds each). The command points jax's persistent compilation cache at a
directory per machine and jax version, so a second run of the same experiment, or of another
experiment sharing its programs, loads them instead of compiling them again. Results are the
same either way: a cached program is the program the compiler would produce.

Only the command does this (its own process and the worker processes it spawns, through jax's
environment variables); importing attnlab changes none of jax's settings.

``ATTNLAB_COMPILE_CACHE=off`` turns it off; ``ATTNLAB_COMPILE_CACHE=DIR`` puts it under DIR
(default: ``$XDG_CACHE_HOME/attnlab/xla`` or ``~/.cache/attnlab/xla``); a
``JAX_COMPILATION_CACHE_DIR`` already set is left as it is.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import sys
from pathlib import Path

__all__ = ["enable_compile_cache"]

OFF = {"0", "off", "no", "false", "none"}


def _machine_fingerprint() -> str:
    """Machine, CPU features and jax versions: executables compiled for one are not loaded on
    another (a program compiled with instructions a CPU lacks would crash there)."""
    parts = [platform.machine(), platform.system(), sys.version.split()[0]]
    for dist in ("jax", "jaxlib"):
        try:
            parts.append(f"{dist}={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist}=?")
    try:
        flags = [
            ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")
        ]
        parts.append(flags[0] if flags else "")
    except OSError:
        parts.append(platform.processor())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def enable_compile_cache() -> str | None:
    """Turn on jax's persistent compilation cache for this process and the processes it spawns
    (module docstring). Returns the cache directory, or None when turned off."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    setting = os.environ.get("ATTNLAB_COMPILE_CACHE", "").strip()
    if setting.lower() in OFF:
        return None
    base = Path(setting) if setting else _default_base()
    path = str(base / _machine_fingerprint())
    os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    # every program, however quick to compile: a paper-size run compiles dozens of small ones
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    if "jax" in sys.modules:  # already imported: jax has read its environment
        import jax

        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update(
            "jax_persistent_cache_min_compile_time_secs",
            float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
        )
    return path


def _default_base() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "attnlab" / "xla"
