"""e2a_project/gunicorn.conf.py read as gunicorn reads it: settings from the environment."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[1] / "e2a_project" / "gunicorn.conf.py"


def _load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> dict:
    # The file sets PROMETHEUS_MULTIPROC_DIR when unset: keep it off this process.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("GUNICORN_CONTROL_SOCKET", "off")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_web_workers_collect_garbage_less_often_than_pythons_default(monkeypatch, tmp_path):
    monkeypatch.delenv("WEB_GC_THRESHOLDS", raising=False)
    assert _load(monkeypatch, tmp_path)["GC_THRESHOLDS"] == (50_000, 20, 100)
    assert _load(monkeypatch, tmp_path, WEB_GC_THRESHOLDS="")["GC_THRESHOLDS"] == (50_000, 20, 100)
    conf = _load(monkeypatch, tmp_path, WEB_GC_THRESHOLDS="700,10,10")
    assert conf["GC_THRESHOLDS"] == (700, 10, 10)


@pytest.mark.parametrize("raw", ["abc", "1,2,3,4", "-5", "700;10", ","])
def test_a_bad_gc_threshold_stops_gunicorn_at_start_naming_the_setting(monkeypatch, tmp_path, raw):
    with pytest.raises(SystemExit, match="WEB_GC_THRESHOLDS must be"):
        _load(monkeypatch, tmp_path, WEB_GC_THRESHOLDS=raw)
