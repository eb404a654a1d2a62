"""Verification of a stored run: nothing on disk is trusted before it matches its manifest.

A run directory's ``manifest.json`` records the sha256 and size of every file it lists and its
own digest (``manifest_sha256``, over the canonical JSON of the rest). :func:`verify_run` says
what is wrong with a directory — no manifest, a manifest that is not JSON or was edited, one
from another config, a missing, truncated or altered file — or ``None`` when it is complete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attnlab._atomic import file_digest, json_safe

__all__ = [
    "MANIFEST",
    "REQUIRED_FILES",
    "IncompleteRunError",
    "is_complete",
    "manifest_digest",
    "verify_run",
]

MANIFEST = "manifest.json"
REQUIRED_FILES = ("config.toml", "results.parquet", "summary.json")


class IncompleteRunError(FileNotFoundError):
    """A directory that is not a complete, verified run (the message says what is wrong)."""


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON without its own ``manifest_sha256`` field."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    text = json.dumps(json_safe(body), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_manifest(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed manifest of ``path``, or ``(None, why it cannot be trusted)``."""
    file = path / MANIFEST
    if not path.is_dir():
        return None, "no such directory"
    if not file.is_file():
        return None, f"no {MANIFEST} (interrupted or never run)"
    try:
        manifest = json.loads(file.read_bytes())
    except (OSError, ValueError) as err:
        return None, f"{MANIFEST} is not valid JSON ({type(err).__name__})"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("checksums"), dict):
        return None, f"{MANIFEST} has no checksums (corrupt, or written by an older attnlab)"
    if manifest.get("manifest_sha256") != manifest_digest(manifest):
        return None, f"{MANIFEST} does not match its own digest (edited or corrupt)"
    return manifest, None


def verify_run(path: Path | str) -> str | None:
    """Why ``path`` is not a complete, intact run directory — or ``None`` when it is.

    Checks the manifest (valid JSON, its own digest, the directory's config hash), that it
    lists the required files, and the size and sha256 of every file it lists.

    Parameters
    ----------
    path : str or pathlib.Path
        The run directory to check, ``<out>/<experiment>-<config hash>``.

    Returns
    -------
    str or None
        One line saying what is wrong (``"results.parquet does not match its recorded sha256
        (corrupt)"``), or ``None`` for a complete run.
    """
    path = Path(path)
    manifest, why = _read_manifest(path)
    if manifest is None:
        return why
    config_hash = str(manifest.get("config_hash", ""))
    if not config_hash or not path.name.endswith(config_hash[:12]):
        return f"{MANIFEST} belongs to another config (hash {config_hash[:12] or '?'})"
    checksums = manifest["checksums"]
    for name in REQUIRED_FILES:
        if name not in checksums:
            return f"{MANIFEST} does not list {name}"
    for name, expected in checksums.items():
        file = path / name
        if not file.is_file():
            return f"{name} is missing"
        try:
            actual = file_digest(file)
        except OSError as err:
            return f"{name} cannot be read ({err.strerror or err})"
        if not isinstance(expected, Mapping) or actual["size"] != expected.get("size"):
            return f"{name} has {actual['size']} bytes, {expected.get('size')} recorded"
        if actual["sha256"] != expected.get("sha256"):
            return f"{name} does not match its recorded sha256 (corrupt)"
    return None


def is_complete(path: Path | str) -> bool:
    """Whether ``path`` is a complete run whose files all match its manifest's checksums.

    Parameters
    ----------
    path : str or pathlib.Path
        The run directory.

    Returns
    -------
    bool
        ``verify_run(path) is None``.
    """
    return verify_run(path) is None
