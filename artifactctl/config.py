"""Settings from ``[tool.artifactctl]`` in pyproject.toml, with ARTIFACTCTL_* overrides.

Every key is declared here with its type and default; an unknown key or a value
of the wrong type is a SettingsError (exit 2) naming the key and where it came
from. Nested tables map to nested dataclasses; environment variables name them
with a double underscore: ``ARTIFACTCTL_RETENTION__KEEP_RECENT=3``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from enum import Enum, StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, get_args, get_origin, get_type_hints

from artifactctl.errors import SettingsError
from artifactctl.safepath import bad_character


class Mode(StrEnum):
    """Where a run writes: ``test`` under artifacts/tests/<name>/, ``production`` the
    canonical tree. A str enum, so that ``Mode.TEST == "test"`` and JSON, environment
    variables and f-strings see the plain value."""

    TEST = "test"
    PRODUCTION = "production"


MODES = tuple(mode.value for mode in Mode)
ENV_PREFIX = "ARTIFACTCTL_"
# ARTIFACTCTL_* variables that are not settings (read where they are used).
NON_SETTING_ENV = frozenset(
    {
        "ARTIFACTCTL_MODE",
        "ARTIFACTCTL_DEBUG",
        # set by `artifactctl run` for the stages of a test run (see layout.context)
        "ARTIFACTCTL_TEST_NAME",
        "ARTIFACTCTL_OVERRIDES",
        "ARTIFACTCTL_FORCE",
        # the named steps of crash-safe operations (artifactctl.journal.step)
        "ARTIFACTCTL_PAUSE_AT",
        "ARTIFACTCTL_PAUSE_SECONDS",
        # `artifactctl serve --token` (artifactctl.cli.serve)
        "ARTIFACTCTL_SERVE_TOKEN",
    }
)


@dataclasses.dataclass(frozen=True)
class Retention:
    keep_recent: int = 5
    max_age_days: float = 30.0


@dataclasses.dataclass(frozen=True)
class Registry:
    """One experiment registry (a model family): where its experiments are declared and
    where their outputs are. The templates are relative to the artifacts root and take
    ``{id}``, ``{phase}`` and any scalar field of the experiment's params.yaml entry."""

    experiments: str = "experiments"  # the params.yaml key whose entries are the experiments
    model_dir: str = "models/{phase}/{id}"
    predictions: str = "experiments/{id}/predictions.csv"
    metrics: str = "experiments/{id}/metrics.json"
    # the columns of the predictions file
    row_id: str = "row_id"
    actual: str = "actual"
    predicted: str = "predicted"
    id_prefix: str = "v2-"
    id_width: int = 3
    # fields of the family the templates may use too, e.g. {source = "web", build = "b7"}
    # (an experiment's own field of the same name wins)
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    # where this family's test runs go, relative to the repository: a template over
    # `fields` only, e.g. "data/{source}/{build}/tests"; "" is the global tests_dir
    tests_dir: str = ""
    # the files `load_champion()` loads from the champion folder (relative to it);
    # "" for no preprocessing file
    model_file: str = "model.joblib"
    preprocessing_file: str = "preprocessing.joblib"


@dataclasses.dataclass(frozen=True)
class Promotion:
    metric: str = "rmse"
    direction: str = "lower"
    resamples: int = 2000
    seed: int = 20240601
    max_p_value: float = 0.05
    min_improvement: float = 0.0
    min_improvement_relative: float = 0.0
    # Absolute thresholds on the candidate's metrics, e.g. {r2 = 0.5}.
    min_metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    max_metrics: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Settings:
    artifacts_root: str = "artifacts"
    # where test-mode runs go, relative to the repository (not to the artifacts root, so
    # that a root of "." never puts them into a source folder such as tests/)
    tests_dir: str = "artifacts/tests"
    default_mode: Mode = Mode.TEST
    preserve: list[str] = dataclasses.field(default_factory=list)
    jobs: int = 0  # 0: one worker per core, at least 4 for I/O
    lock_timeout: float = 10.0
    retention: Retention = dataclasses.field(default_factory=Retention)
    registry: Registry = dataclasses.field(default_factory=Registry)
    # several model families: [tool.artifactctl.registries.NAME], the keys of `registry`
    registries: dict[str, Registry] = dataclasses.field(default_factory=dict)
    promotion: Promotion = dataclasses.field(default_factory=Promotion)


def load_settings(root: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for the repository at ``root``: defaults < pyproject < environment."""
    environ = os.environ if environ is None else environ
    table = read_table(root / "pyproject.toml")
    settings = _build(Settings, table, "[tool.artifactctl]")
    overrides = _env_overrides(environ)
    if overrides:
        merged = _merge(dataclasses.asdict(settings), overrides)
        settings = _build(Settings, merged, "ARTIFACTCTL_* environment")
    _check(settings)
    # "./artifacts/x" and "artifacts/x" are one rule; only the second would ever match
    preserve = ["/".join(p for p in r.split("/") if p not in ("", ".")) for r in settings.preserve]
    return dataclasses.replace(settings, preserve=preserve)


def read_table(pyproject: Path) -> dict[str, Any]:
    if not pyproject.is_file():
        return {}
    import tomllib

    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{pyproject.name} is not valid TOML: {exc}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise SettingsError(f"{pyproject.name}: 'tool' must be a table")
    table = tool.get("artifactctl", {})
    if not isinstance(table, dict):
        raise SettingsError("[tool.artifactctl] must be a table")
    return table


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise SettingsError(
            f"unknown setting {unknown[0]!r} in {where}; known: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in values.items():
        kind = hints[name]
        key = f"{where}.{name}"
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, Mapping):
                raise SettingsError(f"{key} must be a table, got {_tname(value)}")
            kwargs[name] = _build(kind, value, key)
        elif kind == dict[str, Registry]:
            kwargs[name] = _build_tables(Registry, value, key)
        else:
            kwargs[name] = _coerce(kind, value, key)
    return cls(**kwargs)


def _build_tables(cls: type, values: Any, where: str) -> dict[str, Any]:
    """A table of tables (``[tool.artifactctl.registries.NAME]``), each built as ``cls``."""
    if not isinstance(values, Mapping):
        raise SettingsError(f"{where} must be a table of tables, got {_tname(values)}")
    out = {}
    for name, table in values.items():
        if isinstance(table, cls):
            table = dataclasses.asdict(table)
        if not isinstance(table, Mapping):
            raise SettingsError(f"{where}.{name} must be a table, got {_tname(table)}")
        out[str(name)] = _build(cls, table, f"{where}.{name}")
    return out


# The scalar types settings use, and which values each accepts (a bool is not a number).
_SCALARS: dict[type, Callable[[Any], bool]] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    # finite: NaN compares false with everything (a gate or a timeout would vanish)
    float: lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
    str: lambda v: isinstance(v, str),
}


def _coerce(kind: Any, value: Any, key: str) -> Any:
    origin = get_origin(kind)
    if kind in _SCALARS:
        if _SCALARS[kind](value):
            return kind(value)
    elif isinstance(kind, type) and issubclass(kind, Enum):
        if isinstance(value, str) and value in {member.value for member in kind}:
            return kind(value)
    elif origin is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    elif origin is dict and isinstance(value, Mapping):
        item = get_args(kind)[1]
        return {str(k): _coerce(item, v, f"{key}.{k}") for k, v in value.items()}
    raise SettingsError(f"{key} must be {_kind_name(kind)}, got {_tname(value)} {value!r}")


def _kind_name(kind: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}
    if kind in names:
        return names[kind]
    if isinstance(kind, type) and issubclass(kind, Enum):
        return "one of " + ", ".join(member.value for member in kind)
    if get_origin(kind) is list:
        return "a list of strings"
    return "a table of numbers" if get_args(kind)[1] is float else "a table of strings"


def _tname(value: Any) -> str:
    return type(value).__name__


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict of overrides; string values are parsed by the target's type."""
    out: dict[str, Any] = {}
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or var in NON_SETTING_ENV:
            continue
        path = [p.lower() for p in var[len(ENV_PREFIX) :].split("__")]
        cls: Any = Settings
        for part in path[:-1]:
            kind = get_type_hints(cls).get(part)
            if kind is None or not dataclasses.is_dataclass(kind):
                raise SettingsError(f"unknown setting variable {var}")
            cls = kind
        kind = get_type_hints(cls).get(path[-1])
        if kind is None or dataclasses.is_dataclass(kind) or kind == dict[str, Registry]:
            raise SettingsError(f"unknown setting variable {var}")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _parse_env(kind, raw, var)
    return out


def _parse_env(kind: Any, raw: str, var: str) -> Any:
    text = raw.strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if get_origin(kind) is list:
            return [item.strip() for item in text.split(",") if item.strip()]
        if get_origin(kind) is dict:
            pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
            item = get_args(kind)[1]
            return {k.strip(): item(v.strip() if item is str else v) for k, v in pairs}
    except ValueError:
        raise SettingsError(f"{var}={raw!r} must be {_kind_name(kind)}") from None
    return raw


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check(settings: Settings) -> None:
    root = PurePosixPath(settings.artifacts_root)
    if not settings.artifacts_root or root.is_absolute() or ".." in root.parts:
        raise SettingsError("artifacts_root must be a relative path inside the repository")
    tests = PurePosixPath(settings.tests_dir)
    if tests.is_absolute() or ".." in tests.parts or not [p for p in tests.parts if p != "."]:
        raise SettingsError(
            "tests_dir must be a relative folder inside the repository (not the repository)"
        )
    if settings.promotion.direction not in ("lower", "higher"):
        raise SettingsError("promotion.direction must be 'lower' or 'higher'")
    if not 0 < settings.promotion.max_p_value <= 1:
        raise SettingsError("promotion.max_p_value must be in (0, 1]")
    if settings.promotion.resamples < 100:
        raise SettingsError("promotion.resamples must be at least 100")
    if settings.retention.keep_recent < 0 or settings.retention.max_age_days < 0:
        raise SettingsError("retention values must not be negative")
    if settings.jobs < 0:
        raise SettingsError("jobs must not be negative")
    if settings.lock_timeout < 0:
        raise SettingsError("lock_timeout must not be negative")
    if settings.promotion.seed < 0:
        raise SettingsError("promotion.seed must not be negative")
    _check_registry(settings.registry, "registry")
    for name, registry in settings.registries.items():
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", name):
            raise SettingsError(
                f"registries.{name!r}: a registry name is a plain word (a-z, 0-9, _, -)"
            )
        _check_registry(registry, f"registries.{name}")
        _check_family_tests(settings, registry, f"registries.{name}.tests_dir")
    for pattern in settings.preserve:
        p = PurePosixPath(pattern)
        if not pattern or p.is_absolute() or ".." in p.parts:
            raise SettingsError(f"preserve rule {pattern!r} must be relative to the repository")


MAX_ID_WIDTH = 12


def _check_family_tests(settings: Settings, registry: Registry, where: str) -> None:
    """A family's tests folder is neither inside the global one nor holds it."""
    if not registry.tests_dir:
        return
    from artifactctl.templates import family_tests_dir

    own = PurePosixPath(family_tests_dir(registry.tests_dir, registry.fields, where))
    glob = PurePosixPath("/".join(p for p in PurePosixPath(settings.tests_dir).parts if p != "."))
    if own != glob and (glob in own.parents or own in glob.parents):
        raise SettingsError(
            f"{where} {own.as_posix()!r} must not be inside tests_dir {glob.as_posix()!r} "
            "or hold it"
        )


def _check_file_in_folder(rel: str, where: str, *, required: bool = False) -> None:
    """A file named relative to a model folder: a plain relative POSIX path, no '..'."""
    if not rel and not required:
        return
    parts = rel.split("/")
    bad = (
        not rel
        or rel.startswith("/")
        or "\\" in rel
        or any(part in ("", ".", "..") or part != part.strip() for part in parts)
        or bad_character(rel) is not None
    )
    if bad:
        raise SettingsError(
            f"{where} {rel!r} must be a file path relative to the model folder "
            "(no leading '/', no '.' or '..' parts, no control characters)"
        )


def _check_registry(registry: Registry, where: str) -> None:
    """New IDs are ``id_prefix`` + a number: they name folders, so the prefix must be a
    safe start of one path component (the rules of ``layout.validate_name``); the path
    templates must be relative and name only fields."""
    from artifactctl.templates import check_template

    prefix = registry.id_prefix
    if not 1 <= registry.id_width <= MAX_ID_WIDTH:
        raise SettingsError(f"{where}.id_width must be between 1 and {MAX_ID_WIDTH}")
    if not registry.experiments.strip() or bad_character(registry.experiments) is not None:
        raise SettingsError(f"{where}.experiments must name a params.yaml key")
    for key in ("model_dir", "predictions", "metrics"):
        check_template(getattr(registry, key), f"{where}.{key}")
    if registry.tests_dir:
        from artifactctl.templates import family_tests_dir

        family_tests_dir(registry.tests_dir, registry.fields, f"{where}.tests_dir")
    _check_file_in_folder(registry.model_file, f"{where}.model_file", required=True)
    _check_file_in_folder(registry.preprocessing_file, f"{where}.preprocessing_file")
    columns = (registry.row_id, registry.actual, registry.predicted)
    if not all(c.strip() for c in columns) or len(set(columns)) < 3:
        raise SettingsError(f"{where}: row_id, actual and predicted must be three column names")
    bad = (
        "/" in prefix
        or "\\" in prefix
        or ".." in prefix
        or prefix.startswith(("-", "."))
        or prefix != prefix.lstrip()
        or len(prefix) > 40
        or bad_character(prefix) is not None
    )
    if bad:
        raise SettingsError(
            f"{where}.id_prefix {prefix!r} must be a plain name start: no path separator, "
            "no '..', no leading '-', '.' or space, no control characters, at most 40 characters"
        )
