"""The CLI contract: --version/--help, exit codes, one-line errors, lazy imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import BIN, artifactctl, init_repo, invoke

import artifactctl as pkg

HEAVY = ("dvc", "pandas", "numpy", "joblib", "sklearn")


def imported_modules(*argv: str, cwd: Path | None = None) -> set[str]:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['artifactctl', *{list(argv)!r}]\n"
        "try:\n"
        "    runpy.run_module('artifactctl', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd
    )
    return set(proc.stderr.split())


@pytest.mark.parametrize("argv", [("--help",), ("--version",), ("status", "--help")])
def test_help_and_version_do_not_import_heavy_libraries(argv: tuple[str, ...]) -> None:
    loaded = imported_modules(*argv)
    assert "typer" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_status_imports_neither_dvc_nor_pydantic(tmp_path: Path) -> None:
    """A plain status reads DVC's files itself; Typer must not pull pydantic in per option."""
    repo = init_repo(tmp_path / "repo")
    loaded = imported_modules("status", "--json", cwd=repo)
    assert "artifactctl.status" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in (*HEAVY, "pydantic"))
    assert heavy == []


def test_version_prints_the_package_version() -> None:
    proc = subprocess.run([BIN / "artifactctl", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"artifactctl {pkg.__version__}"


def test_python_dash_m_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "artifactctl", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert "status" in proc.stdout and "init" in proc.stdout


def test_unknown_command_is_usage_error() -> None:
    proc = subprocess.run([BIN / "artifactctl", "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2


def test_outside_a_repository_is_an_environment_error(tmp_path: Path) -> None:
    proc = artifactctl(tmp_path, "status")
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error:") and "not inside a DVC repository" in lines[0]
    assert lines[1].startswith("hint:")
    assert "Traceback" not in proc.stderr


def test_dvc_repository_outside_git_is_an_environment_error(tmp_path: Path) -> None:
    (tmp_path / ".dvc").mkdir()
    proc = artifactctl(tmp_path, "status")
    assert proc.returncode == 3
    assert "not inside a git repository" in proc.stderr


def test_malformed_dvc_yaml_is_bad_input(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "dvc.yaml").write_text("stages:\n  train:\n    cmd: [unclosed\n")
    proc = artifactctl(repo, "status")
    assert proc.returncode == 2
    assert "dvc.yaml is not valid YAML (line" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_malformed_params_yaml_is_bad_input(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "dvc.yaml").write_text(
        "stages:\n  t:\n    foreach: ${experiments}\n    do:\n      cmd: echo\n"
    )
    (repo / "params.yaml").write_text("experiments: {a: 1\n")
    proc = artifactctl(repo, "status")
    assert proc.returncode == 2
    assert "params.yaml is not valid YAML" in proc.stderr


def test_bad_settings_are_bad_input(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "pyproject.toml").write_text('[tool.artifactctl]\ndefault_mode = "prod"\n')
    proc = artifactctl(repo, "status")
    assert proc.returncode == 2
    assert "default_mode must be one of" in proc.stderr


def test_bad_environment_setting_is_bad_input(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    env = {**__import__("os").environ, "ARTIFACTCTL_JOBS": "lots"}
    proc = artifactctl(repo, "status", env=env)
    assert proc.returncode == 2
    assert "ARTIFACTCTL_JOBS='lots' must be an integer" in proc.stderr


def test_missing_remote_for_cloud_status_is_environment_error(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    proc = artifactctl(repo, "status", "--cloud", "--remote", "nowhere")
    assert proc.returncode == 3
    assert "unknown remote 'nowhere'" in proc.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = artifactctl(tmp_path, "--debug", "status")
    assert proc.returncode == 3
    assert "Traceback" in proc.stderr


def test_empty_repository_status_is_ok_and_json_is_parseable(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    result = invoke(repo, "status", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["schema"] == "artifactctl.status/1"
    assert doc["artifacts"] == [] and doc["ok"] is True


def test_every_command_and_option_has_help_text() -> None:
    import typer.main

    from artifactctl.cli import load_app

    app = load_app()

    group = typer.main.get_command(app)
    missing = []

    def walk(cmd, path):  # type: ignore[no-untyped-def]
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])
        if not getattr(cmd, "commands", None):
            if not (cmd.help or "").strip():
                missing.append(" ".join(path))
            for param in cmd.params:
                if param.param_type_name == "option" and not (param.help or "").strip():
                    missing.append(f"{' '.join(path)} {param.opts[0]}")

    walk(group, ["artifactctl"])
    assert missing == []


def _commands() -> dict[str, list[str]]:
    """Every command path ("pull", "remote add") and its long options."""
    import typer.main

    from artifactctl.cli import load_app

    found: dict[str, list[str]] = {}

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
            return
        opts = [
            o
            for param in getattr(cmd, "params", [])
            if param.param_type_name == "option"
            for o in param.opts
            if o.startswith("--") and o not in ("--help",)
        ]
        found[" ".join(path)] = opts

    walk(typer.main.get_command(load_app()), [])
    return found


ROOT = Path(__file__).resolve().parent.parent


def test_every_command_and_option_appears_in_the_command_reference() -> None:
    reference = (ROOT / "docs" / "commands.md").read_text()
    absent = [name for name in _commands() if f"artifactctl {name}" not in reference]
    assert absent == []
    missing = [
        f"{name} {opt}"
        for name, opts in _commands().items()
        for opt in opts
        if opt not in reference
    ]
    assert missing == []


def test_every_command_the_readme_shows_exists() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    shown = set(re.findall(r"(?:^|`)artifactctl ([a-z][a-z-]+)", readme, re.M))
    top = {name.split()[0] for name in _commands()}
    assert shown, "the README shows no command"
    assert sorted(shown - top) == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script_for_each_shell(shell: str) -> None:
    proc = subprocess.run(
        [BIN / "artifactctl", "completion", shell], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert f"_ARTIFACTCTL_COMPLETE=complete_{shell}" in proc.stdout


def test_completion_for_an_unknown_shell_is_one_line_and_a_hint() -> None:
    proc = subprocess.run(
        [BIN / "artifactctl", "completion", "tcsh"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines()[0] == "error: no completion for shell 'tcsh'"
    assert proc.stderr.splitlines()[1].startswith("hint: ")


def test_completion_answers_the_shell() -> None:
    import os

    env = {
        **os.environ,
        "_ARTIFACTCTL_COMPLETE": "complete_bash",
        "COMP_WORDS": "artifactctl status --j",
        "COMP_CWORD": "2",
    }
    proc = subprocess.run([BIN / "artifactctl"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0
    assert proc.stdout.split() == ["--jobs", "--json"]


def test_every_python_api_name_the_readme_shows_imports_from_the_package_lazily() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Pipeline code and the Python API", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"(?<![\w.])artifactctl\.([A-Za-z_]\w*)", section))
    names |= set(re.findall(r"`([A-Z][A-Za-z]+(?:Error|Failed|Problem))`", section))
    assert {"context", "save_run", "load_run", "load_champion", "IntegrityError"} <= names
    code = (
        "import sys\n"
        "import artifactctl\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r})\n"
        "assert heavy == [], heavy\n"
        f"from artifactctl import {', '.join(sorted(names))}\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_command_table_names_what_each_module_registers() -> None:
    """``COMMAND_MODULES`` is what lets a command line load one module: it must match."""
    import typer.main

    from artifactctl.cli import COMMAND_MODULES, load_app

    registered: dict[str, set[str]] = {}
    group = typer.main.get_command(load_app())
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        callback = command.callback or next(iter(command.commands.values())).callback
        module = callback.__module__.removeprefix("artifactctl.cli.")
        registered.setdefault(module, set()).add(name)
    assert registered == {module: set(names) for module, names in COMMAND_MODULES.items()}


@pytest.mark.parametrize(
    "argv, loaded",
    [
        (["verify", "--help"], {"verify"}),
        (["--debug", "preserve", "list", "--help"], {"preserve"}),
        (["promote", "--help"], {"registry"}),
        (["--help"], None),  # every module
        (["verfy"], None),  # a misspelt command: every module, for click's suggestion
    ],
)
def test_a_command_line_loads_only_its_command_module(
    argv: list[str], loaded: set[str] | None
) -> None:
    from artifactctl.cli import COMMAND_MODULES

    code = (
        "import sys; from artifactctl.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m[16:] for m in sys.modules if m.startswith('artifactctl.cli.')"
        " and m[16:] not in ('app', 'output')), file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60
    )
    modules = set(ast.literal_eval(proc.stderr.strip().splitlines()[-1]))
    assert modules == (loaded if loaded is not None else set(COMMAND_MODULES))
