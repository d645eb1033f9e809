"""The deployment files say what the README promises."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_follows_the_compose_specification() -> None:
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert tool, "check-jsonschema is a dev dependency; run the README's test command"
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_keeps_the_memory_budget_and_a_readiness_check() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "mem_limit: 512m" in text
    assert "/readyz" in text
    assert '"127.0.0.1:8080:8080"' in text  # never published beyond the host's loopback


@pytest.mark.parametrize("name", ["Dockerfile", "README.md", ".ci/run", "Makefile"])
def test_files_exist(name: str) -> None:
    assert (ROOT / name).is_file()


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(
        line.strip()
        for line in ci.splitlines()
        if line.strip() and not line.startswith(("#", "set", "cd"))
    )
    assert f"\n{command}" in readme, f"README does not show the CI command {command!r}"
