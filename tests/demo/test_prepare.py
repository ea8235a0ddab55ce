"""The data stage's cache: reused when nothing changed, rebuilt when a setting or --fresh says so."""
import dataclasses

from pipelines.demo.prepare import prepare_data


def test_manifest_records_sizes(demo_data):
    m = demo_data.manifest
    assert m["documents"] == {"train": 1130, "heldout": 59}
    assert m["bytes"]["train"] + m["bytes"]["heldout"] >= 2 * 1024 ** 2
    assert m["tokens"]["train"] > 20 * m["tokens"]["heldout"] > 0
    assert len(m["heldout_documents"]) == 59


def test_cache_is_reused_and_keyed_on_settings(demo_data, small_config):
    cache = demo_data.root.parent
    stamp = (demo_data.root / "manifest.json").stat().st_mtime_ns
    again = prepare_data(cache, small_config)
    assert again.root == demo_data.root and (again.root / "manifest.json").stat().st_mtime_ns == stamp
    other = prepare_data(cache, dataclasses.replace(small_config, n_preference=32))
    assert other.root != demo_data.root and other.manifest["n_preference"] == 32
    assert other.tokenizer.joinpath("tokenizer.json").read_bytes() == \
        demo_data.tokenizer.joinpath("tokenizer.json").read_bytes()


def test_fresh_rebuilds_identically(demo_data, small_config):
    before = {p.name: p.read_bytes() for p in demo_data.root.rglob("*.jsonl")}
    rebuilt = prepare_data(demo_data.root.parent, small_config, fresh=True)
    assert {p.name: p.read_bytes() for p in rebuilt.root.rglob("*.jsonl")} == before
