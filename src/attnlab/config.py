"""Validated, frozen parameter objects and experiment configs: TOML in and out, canonical hash.

:class:`Params` is the base of every validated parameter object of attnlab: the model objects of
the families (``SubspaceModel``, ...), strategy objects (step-size schedules, simulators) and
experiment configs. It is a frozen pydantic model that

- forbids unknown fields;
- accepts only finite numbers (NaN and ±inf are refused, except in a field declared with
  ``Field(allow_inf_nan=True)`` where infinity means something, e.g. a ν = ∞ limit);
- refuses booleans where a number is expected (``n = true`` is an error, not ``n = 1``);
- reports any invalid value in ONE line naming the field, the value and the valid range, as a
  :class:`ConfigError` (a :class:`~attnlab.ParameterError`), whether it is built directly
  (``SubspaceModel(d=0)``) or from TOML / CLI values (:func:`build_config`).

:class:`ExperimentConfig` adds the root ``seed`` and a work/memory estimate (:meth:`cost`) that
the runner checks before any allocation. A config may contain model objects as fields
(``model: SubspaceModel``); overrides reach their fields as ``model.d=400`` or, when the name is
unique, simply ``d=400``::

    cfg = build_config(AlignmentConfig, {"d": "400"})        # CLI strings are coerced
    cfg.to_toml(); AlignmentConfig.from_toml(text); cfg.config_hash()

The hash is the sha256 of the canonical JSON of the config (sorted keys) and the config class
name; results are stored under ``<experiment>-<hash[:12]>``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

import pydantic
import tomli_w

from attnlab._validate import ParameterError

C = TypeVar("C", bound="Params")


class ConfigError(ParameterError):
    """An invalid configuration (one line: field, value, valid range)."""


def _numeric_annotation(annotation: Any) -> bool:
    """Whether a field's type admits numbers but not booleans (int, float, lists of them)."""
    if annotation is bool:
        return False
    if annotation in (int, float):
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _numeric_annotation(args[0])
    if origin in (list, tuple, typing.Union, types.UnionType):
        return any(_numeric_annotation(a) for a in args if a is not type(None)) and bool not in args
    return False


class _ParamsMeta(type(pydantic.BaseModel)):  # type: ignore[misc]
    """Direct construction (``SubspaceModel(d=0)``) raises a one-line :class:`ConfigError`.

    Only the class call is wrapped: nested validation inside a config is left to pydantic, and
    :func:`build_config` formats its errors with the full field path (``model.d``)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except pydantic.ValidationError as err:
            raise ConfigError(_format_error(cls, err)) from None


class Params(pydantic.BaseModel, metaclass=_ParamsMeta):
    """Base of every validated parameter object (see the module docstring)."""

    model_config = pydantic.ConfigDict(
        frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False
    )

    @pydantic.model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        """``true`` is not a number: refuse booleans for int / float fields."""
        if isinstance(data, Mapping):
            for name, value in data.items():
                info = cls.model_fields.get(name)
                if info is None or not _numeric_annotation(info.annotation):
                    continue
                values = value if isinstance(value, list | tuple) else (value,)
                if any(isinstance(v, bool) for v in values):
                    raise ValueError(f"{name} = {value!r}: a boolean is not a number")
        return data

    @pydantic.model_validator(mode="before")
    @classmethod
    def _fill_nested_defaults(cls, data: Any) -> Any:
        """A partial table for a nested object is applied on top of *this* class's default
        object for that field (e.g. a config's own label profile), not on top of the nested
        class's defaults; a table naming another ``kind`` replaces the default object."""
        if not isinstance(data, Mapping):
            return data
        merged = dict(data)
        for name, info in cls.model_fields.items():
            value = merged.get(name)
            if isinstance(value, Mapping):
                default = info.get_default(call_default_factory=True)
                if isinstance(default, Params):
                    merged[name] = _deep_merge(default.to_dict(), dict(value))
        return merged

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (tuples become lists, nested objects dicts)."""
        return self.model_dump(mode="json")

    def to_toml(self) -> str:
        """TOML text (``None`` fields are omitted: they take their default)."""
        return tomli_w.dumps(_drop_none(self.to_dict()))

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
        """A validated copy with some fields changed (nested fields as ``model.d`` or ``d``)."""
        return build_config(type(self), {**self.to_dict(), **changes})


def _deep_merge(default: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    """``value`` over ``default``, table by table; a table naming another ``kind`` (another
    strategy) replaces the default one instead of being merged into it."""
    if value.get("kind", default.get("kind")) != default.get("kind"):
        return value
    out = dict(default)
    for key, item in value.items():
        base = default.get(key)
        out[key] = (
            _deep_merge(base, item) if isinstance(item, dict) and isinstance(base, dict) else item
        )
    return out


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    return obj


@dataclass(frozen=True)
class Cost:
    """Estimated peak memory and work of a run, checked before any allocation.

    Parameters
    ----------
    memory_bytes : float
        Peak memory the run needs (its largest arrays, all replicates together).
    flops : float
        Floating-point operations, to the order of magnitude.
    what : str
        The dominant term, for the refusal message (``"30 seeds × 10100 tokens × d=100"``).
    """

    memory_bytes: float
    flops: float
    what: str = ""


class ExperimentConfig(Params):
    """Base of all experiment configs: a :class:`Params` with the root ``seed``.

    ``seed`` is the root of every random stream of the run (see :mod:`attnlab.rng`).
    Subclasses implement :meth:`cost`.
    """

    seed: int = pydantic.Field(
        0, ge=0, le=2**63 - 1, description="root seed of every random stream"
    )

    def cost(self) -> Cost:
        """Estimated peak memory and work of this config (see :class:`Cost`)."""
        raise NotImplementedError(f"{type(self).__name__} does not estimate its cost")


def _format_error(cls: type, err: pydantic.ValidationError) -> str:
    parts = []
    for e in err.errors():
        name = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            owner = cls
            for part in e["loc"][:-1]:
                owner = _params_fields(owner).get(str(part), owner)
            fields = owner.model_fields  # type: ignore[attr-defined]
            parts.append(f"unknown field {name!r} (valid fields: {', '.join(sorted(fields))})")
        elif not name:  # a model-level validator: its message names field and value itself
            parts.append(msg)
        elif re.match(r"[A-Za-z_][\w.]* = ", msg):  # a nested object's model-level validator
            parts.append(f"{name}.{msg}")
        else:
            parts.append(f"{name} = {e.get('input')!r}: {msg}")
    return f"invalid config for {cls.__name__}: " + "; ".join(parts)


def _num(x: Any) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def describe_fields(cls: type[Params], prefix: str = "") -> list[dict[str, Any]]:
    """One dict per field of ``cls``: ``name``, ``type``, ``default``, ``range`` (from
    ``ge``/``gt``/``le``/``lt`` constraints, e.g. ``"[1, inf)"``, or ``""``), ``description``."""
    import annotated_types as at

    rows = []
    nested = _params_fields(cls)
    for name, info in cls.model_fields.items():
        if name in nested:
            rows += describe_fields(nested[name], prefix=f"{prefix}{name}.")
            continue
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
                "name": prefix + name,
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
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a TOML file (not UTF-8 text)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None


def _params_fields(cls: type) -> dict[str, type[Params]]:
    """The fields of ``cls`` that hold a nested :class:`Params` object."""
    out = {}
    for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, Params):
            out[name] = ann
    return out


def _route(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """Put dotted (``model.d``) and unique bare (``d``) keys of nested fields in place."""
    nested = _params_fields(cls)
    out: dict[str, Any] = {}
    sub: dict[str, dict[str, Any]] = {}
    own = set(cls.model_fields)  # type: ignore[attr-defined]
    for key, value in values.items():
        head, dot, rest = key.partition(".")
        if dot and head in nested:
            sub.setdefault(head, {})[rest] = value
            continue
        if key in own or dot:
            out[key] = value
            continue
        owners = [n for n, c in nested.items() if key in _all_field_names(c)]
        if len(owners) == 1:
            sub.setdefault(owners[0], {})[key] = value
        else:  # unknown (reported by validation) or ambiguous (say so)
            if len(owners) > 1:
                raise ConfigError(
                    f"{key} is a field of {', '.join(owners)}: write "
                    + " or ".join(f"{o}.{key}" for o in owners)
                )
            out[key] = value
    for name, fields in sub.items():
        base = out.get(name, {})
        if isinstance(base, Params):
            base = base.to_dict()
        if not isinstance(base, Mapping):
            raise ConfigError(f"{name} = {base!r}: must be a table of {nested[name].__name__}")
        out[name] = {**base, **_route(nested[name], fields)}
    return out


def _all_field_names(cls: type[Params]) -> set[str]:
    names = set(cls.model_fields)
    for name, sub in _params_fields(cls).items():
        names |= {f"{name}.{n}" for n in _all_field_names(sub)} | _all_field_names(sub)
    return names


def build_config(cls: type[C], values: Mapping[str, Any]) -> C:
    """Validate ``values`` into ``cls`` or raise one-line :class:`ConfigError`.

    Keys of nested parameter objects may be dotted (``model.d``) or, when unique, bare
    (``d``); a nested table (``{"model": {"d": 400}}``) works too.
    """
    try:
        return cls.model_validate(_route(cls, dict(values)))
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
