"""Validated, frozen experiment configs: TOML in and out, CLI overrides, canonical hash.

Every experiment is described by a subclass of :class:`ExperimentConfig` (a frozen pydantic
model that forbids unknown fields). Declare ranges with ``pydantic.Field(ge=..., gt=..., le=...)``
or validators that raise ``ValueError`` naming the range; :func:`build_config` turns any
validation failure into one :class:`ConfigError` line naming field, value and valid range::

    class AlignmentConfig(ExperimentConfig):
        d: int = Field(100, ge=2, description="ambient dimension")
        theta: float = Field(0.25, ge=0)

    cfg = build_config(AlignmentConfig, {"d": "400"})        # CLI strings are coerced
    cfg.to_toml(); AlignmentConfig.from_toml(text); cfg.config_hash()

The hash is the sha256 of the canonical JSON of the config (sorted keys, floats as JSON) and
the config class name; results are stored under ``<experiment>-<hash[:12]>``.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

import pydantic
import tomli_w

from attnlab._validate import ParameterError

C = TypeVar("C", bound="ExperimentConfig")


class ConfigError(ParameterError):
    """An invalid configuration (one line: field, value, valid range)."""


class ExperimentConfig(pydantic.BaseModel):
    """Base of all experiment configs: frozen, unknown fields rejected, ``seed`` common to all.

    ``seed`` is the root of every random stream of the run (see :mod:`attnlab.rng`).
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", validate_default=True)

    seed: int = pydantic.Field(
        0, ge=0, le=2**63 - 1, description="root seed of every random stream"
    )

    @pydantic.model_validator(mode="after")
    def _no_nan(self) -> Self:
        """NaN is never a meaningful setting (and breaks equality/hash round trips)."""
        for name, value in self:
            values = value if isinstance(value, tuple | list) else (value,)
            if any(isinstance(v, float) and math.isnan(v) for v in values):
                raise ValueError(f"{name} = nan is not allowed (NaN is never a valid setting)")
        return self

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (tuples become lists)."""
        return self.model_dump(mode="json")

    def to_toml(self) -> str:
        """TOML text of the config (``None`` fields are omitted: they take their default)."""
        return tomli_w.dumps({k: v for k, v in self.to_dict().items() if v is not None})

    @classmethod
    def from_toml(cls, text: str) -> Self:
        """Parse and validate TOML text (raises :class:`ConfigError` on bad values)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"invalid TOML for {cls.__name__}: {err}") from None
        return build_config(cls, data)

    @classmethod
    def from_toml_file(cls, path: Path | str) -> Self:
        """Read and validate a TOML file (e.g. a stored run's ``config.toml``)."""
        return build_config(cls, load_toml_file(path))

    def config_hash(self) -> str:
        """Canonical sha256 hex digest of (class name, fields)."""
        payload = json.dumps(
            {"class": type(self).__name__, "fields": self.to_dict()},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def replace(self, **changes: Any) -> Self:
        """A validated copy with some fields changed."""
        return build_config(type(self), {**self.to_dict(), **changes})


def _format_error(cls: type, err: pydantic.ValidationError) -> str:
    parts = []
    fields = cls.model_fields  # type: ignore[attr-defined]
    for e in err.errors():
        name = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown field {name!r} (valid fields: {', '.join(sorted(fields))})")
        elif not name:  # a model-level validator: its message names field and value itself
            parts.append(msg)
        else:
            parts.append(f"{name} = {e.get('input')!r}: {msg}")
    return f"invalid config for {cls.__name__}: " + "; ".join(parts)


def _num(x: Any) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def describe_fields(cls: type[ExperimentConfig]) -> list[dict[str, Any]]:
    """One dict per field of ``cls``: ``name``, ``type``, ``default``, ``range`` (from
    ``ge``/``gt``/``le``/``lt`` constraints, e.g. ``"[1, inf)"``, or ``""``), ``description``."""
    import annotated_types as at

    rows = []
    for name, info in cls.model_fields.items():
        lo = hi = None
        lo_open = hi_open = False
        for m in info.metadata:
            if isinstance(m, at.Ge):
                lo = m.ge
            elif isinstance(m, at.Gt):
                lo, lo_open = m.gt, True
            elif isinstance(m, at.Le):
                hi = m.le
            elif isinstance(m, at.Lt):
                hi, hi_open = m.lt, True
        rng = ""
        if lo is not None or hi is not None:
            rng = (
                ("(" if lo is None or lo_open else "[")
                + ("-inf" if lo is None else _num(lo))
                + ", "
                + ("inf" if hi is None else _num(hi))
                + (")" if hi is None or hi_open else "]")
            )
        annotation = info.annotation
        if typing.get_args(annotation) or not hasattr(annotation, "__name__"):
            type_name = str(annotation).replace("typing.", "")
        else:
            type_name = annotation.__name__
        rows.append(
            {
                "name": name,
                "type": type_name,
                "default": info.get_default(call_default_factory=True),
                "range": rng,
                "description": info.description or "",
            }
        )
    return rows


def load_toml_file(path: Path | str) -> dict[str, Any]:
    """The table of a TOML file, or a one-line :class:`ConfigError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None


def build_config(cls: type[C], values: Mapping[str, Any]) -> C:
    """Validate ``values`` into ``cls`` or raise one-line :class:`ConfigError`."""
    try:
        return cls.model_validate(dict(values))
    except pydantic.ValidationError as err:
        raise ConfigError(_format_error(cls, err)) from None


def parse_value(text: str) -> Any:
    """Parse a CLI override value: a TOML literal (``400``, ``0.25``, ``[1, 2]``, ``true``)
    when it parses as one, otherwise the raw string (``token``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["d=400", "theta=0.25"]`` -> ``{"d": 400, "theta": 0.25}`` (one-line error if malformed).

    A key given twice is an error (ambiguous); an empty value is an error (use the default by
    leaving the key out)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        if key in out:
            raise ConfigError(f"--set {key} given twice ({out[key]!r} and {value!r})")
        out[key] = parse_value(value)
    return out
