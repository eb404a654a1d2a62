"""The set-up commands: README opens with them, they parse, CI calls the test command."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_opens_with_the_two_commands():
    text = (REPO / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["bash scripts/reproduce", "bash scripts/test"]
    assert text.index("```bash") < text.index("\n## ")  # before any section


def test_scripts_are_valid_bash():
    for script in ("scripts/reproduce", "scripts/test", "scripts/_venv.sh", ".ci/run"):
        res = subprocess.run(["bash", "-n", str(REPO / script)], capture_output=True, text=True)
        assert res.returncode == 0, (script, res.stderr)


def test_ci_runs_the_test_command_and_fails_on_no_tests():
    assert "bash scripts/test" in (REPO / ".ci" / "run").read_text()
    test_script = (REPO / "scripts" / "test").read_text()
    assert "rc -eq 5" in test_script  # pytest's "no tests collected" is not a success
    for gate in ('ruff" check', 'ruff" format --check', "-m pytest"):
        assert gate in test_script
