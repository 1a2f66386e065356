"""artifactctl: safe workflows over a DVC-backed artifact repository.

The package root stays import-light so that ``artifactctl --help`` starts fast;
library entry points are resolved lazily on first attribute access.
"""

from __future__ import annotations

__version__ = "0.1.0"

# name -> "module:attribute", imported on first use (PEP 562).
_LAZY = {
    "Settings": "artifactctl.config:Settings",
    "load_settings": "artifactctl.config:load_settings",
    "Mode": "artifactctl.config:Mode",
    "find_repo": "artifactctl.project:find_repo",
    "Project": "artifactctl.project:Project",
    "ArtifactctlError": "artifactctl.errors:ArtifactctlError",
    "CheckFailed": "artifactctl.errors:CheckFailed",
    "IntegrityError": "artifactctl.errors:IntegrityError",
    "UsageError": "artifactctl.errors:UsageError",
    "EnvironmentProblem": "artifactctl.errors:EnvironmentProblem",
    "md5_file": "artifactctl.hashing:md5_file",
    "status": "artifactctl.status:collect_status",
    "context": "artifactctl.runs.context:context",
    "Context": "artifactctl.runs.context:Context",
    "validate_name": "artifactctl.layout:validate_name",
    "load_champion": "artifactctl.registry.queries:load_champion",
    "StaleChampionWarning": "artifactctl.registry.queries:StaleChampionWarning",
    "save_run": "artifactctl.runs.saved:save_run",
    "load_run": "artifactctl.runs.saved:load_run",
    "LoadedRun": "artifactctl.runs.saved:LoadedRun",
}


def __getattr__(name: str) -> object:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'artifactctl' has no attribute {name!r}")
    import importlib

    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
