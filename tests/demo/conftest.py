"""Shared fixtures: the real corpus and the demo's data built once per test session."""
import pytest

from pipelines.demo.corpus import load_corpus
from pipelines.demo.prepare import DataConfig, prepare_data

SMALL = DataConfig(n_mc=48, n_preference=64)


@pytest.fixture(scope="session")
def corpus():
    return load_corpus()


@pytest.fixture(scope="session")
def small_config():
    return SMALL


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    return prepare_data(tmp_path_factory.mktemp("demo-cache"), SMALL)
