"""Provenance recorded in every run's manifest: versions, git revision, devices."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["git_revision", "jax_devices", "package_versions"]

_PACKAGES = (
    "attnlab",
    "numpy",
    "scipy",
    "jax",
    "jaxlib",
    "pydantic",
    "pandas",
    "pyarrow",
    "matplotlib",
    "dask",
    "distributed",
)


def package_versions() -> dict[str, str]:
    """Versions of python, attnlab (from the imported source) and the key dependencies."""
    import attnlab

    out = {"python": platform.python_version(), "attnlab": attnlab.__version__}
    for name in _PACKAGES[1:]:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_revision() -> str | None:
    """The git revision of the attnlab source tree (``+dirty`` if modified), if any."""
    src = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=src,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=src,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def jax_devices() -> list[str]:
    try:
        import jax

        return [str(d) for d in jax.devices()]
    except Exception:  # pragma: no cover - reported, never fatal
        return []
