"""Fixtures: a tiny teacher shared by the session; offline datasets cache per test."""
import pytest

from distill_helpers import TEACHER_SHAPE
from pipelines.tiny import ensure_tiny_teacher


@pytest.fixture(scope="session")
def teacher_dir(tmp_path_factory):
    return str(ensure_tiny_teacher(tmp_path_factory.mktemp("teacher") / "tiny", seed=0, **TEACHER_SHAPE))


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "ds_cache"))

