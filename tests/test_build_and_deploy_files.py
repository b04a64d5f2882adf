"""The build installs what the lock says, and the deployment files agree with each other."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml
from packaging.requirements import Requirement

from .test_served_by_gunicorn import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", re.MULTILINE)


def _pins(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / name).read_text()
    return {m[1].lower().replace("_", "-"): m[2] for m in PIN.finditer(text)}


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def test_the_locks_pin_every_dependency_within_its_range_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _pins("lock.txt"), _pins("lock-dev.txt")
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        version = runtime[_normal(requirement.name)]
        assert requirement.specifier.contains(version), (spec, version)
    for spec in project["optional-dependencies"]["dev"]:
        requirement = Requirement(spec)
        assert requirement.specifier.contains(dev[_normal(requirement.name)]), spec
    # The test tools' lock is the runtime lock plus tools: the same versions run both.
    assert {name: dev[name] for name in runtime} == runtime
    for name in ("lock.txt", "lock-dev.txt"):
        text = (ROOT / "requirements" / name).read_text()
        blocks = [b for b in re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text) if "==" in b]
        assert all("--hash=sha256:" in block for block in blocks), name


def test_make_and_docker_install_from_the_lock_with_hashes():
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements/lock-dev.txt" in makefile
    assert "--no-deps -e ." in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements/lock.txt" in dockerfile
    assert "pip install --no-deps ." in dockerfile


def test_a_failed_collectstatic_fails_the_image_build():
    dockerfile = (ROOT / "Dockerfile").read_text()
    [line] = [line for line in dockerfile.splitlines() if line.startswith("RUN python manage.py")]
    assert "collectstatic" in line and "||" not in line


def test_compose_runs_the_procfile_commands_and_collects_static_before_web():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    for name in ("web", "worker", "beat"):
        assert " ".join(compose[name]["command"]) == procfile[name], name
    release = " ".join(compose["migrate"]["command"])
    assert "migrate --no-input && " in release and "collectstatic --no-input" in release
    assert compose["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    static = "static:/app/var/static"
    assert static in compose["migrate"]["volumes"] and static in compose["web"]["volumes"]


def test_building_the_project_raises_no_packaging_warning(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "project.license" not in result.stderr
    assert "deprecated" not in result.stderr.lower()
