"""The wheel carries the plugin shim, and ``install`` from a plain install points at it.

These build wheels with hatchling (the dev extra has it, so no build isolation
and no network) and run the package from an unpacked wheel in a child process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

REPO = Path(__file__).resolve().parents[2]
SHIM_SRC = REPO / "plugin-shim" / "src"


def build_wheel(project: Path, out: Path) -> Path:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out), str(project)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = out.glob("opencode_orchestrator-*.whl")
    return wheel


def shim_files(wheel: Path) -> set[str]:
    prefix = "opencode_orchestrator/shim/"
    with zipfile.ZipFile(wheel) as archive:
        return {n.removeprefix(prefix) for n in archive.namelist() if n.startswith(prefix)}


def test_the_wheel_of_this_checkout_holds_the_shim_sources(tmp_path: Path) -> None:
    wheel = build_wheel(REPO, tmp_path)
    sources = {
        p.relative_to(SHIM_SRC).as_posix()
        for p in SHIM_SRC.rglob("*.ts")
        if not {"node_modules", "__tests__", "test", "tests"} & set(p.parts)
        and not p.name.endswith((".test.ts", ".spec.ts"))
    }
    assert "index.ts" in shim_files(wheel)
    assert shim_files(wheel) == sources


def test_the_wheel_takes_only_the_shim_s_typescript_and_no_tests(tmp_path: Path) -> None:
    # A copy of the project with a shim tree that has everything a shim may grow.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(
        REPO / "src" / "opencode_orchestrator",
        project / "src" / "opencode_orchestrator",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shim = project / "plugin-shim" / "src"
    for name in [
        "index.ts",
        "rpc.ts",
        "nested/scope.ts",
        "types.d.ts",
        "index.test.ts",
        "rpc.spec.ts",
        "__tests__/a.ts",
        "test/helpers.ts",
        "tests/b.ts",
        "node_modules/dep/index.ts",
        "README.md",
        "build.js",
    ]:
        (shim / name).parent.mkdir(parents=True, exist_ok=True)
        (shim / name).write_text("// " + name + "\n")
    wheel = build_wheel(project, tmp_path / "dist")
    assert shim_files(wheel) == {"index.ts", "rpc.ts", "nested/scope.ts", "types.d.ts"}
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "opencode_orchestrator/__init__.py" in names
    assert not [n for n in names if n.startswith(("src/", "plugin-shim/"))]


def test_install_from_a_plain_install_points_opencode_at_the_packaged_shim(
    tmp_path: Path,
) -> None:
    wheel = build_wheel(REPO, tmp_path / "dist")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)  # what pip install puts in site-packages
    project = tmp_path / "project"
    project.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(site),  # before the editable checkout on sys.path
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "opencode_orchestrator", "install", "--project", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads((project / "opencode.json").read_text())
    packaged = site / "opencode_orchestrator" / "shim" / "index.ts"
    assert config["plugin"] == [
        [str(packaged), {"command": [sys.executable, "-m", "opencode_orchestrator", "serve"]}]
    ]
    assert packaged.read_bytes() == (SHIM_SRC / "index.ts").read_bytes()
