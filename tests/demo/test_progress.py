"""Stage headers: planned work, measured speed, ETA."""
import io

import pytest

from pipelines.demo import progress
from pipelines.demo.progress import StageClock, format_seconds


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now

    def process_time(self):
        return self.now


def test_eta_uses_measured_speed(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(progress, "time", fake)
    out = io.StringIO()
    clock = StageClock({"a": 100.0, "b": 300.0, "c": 100.0}, stream=out)
    assert clock.eta() == pytest.approx(500.0 / progress.PRIOR_SPEED)
    with clock.stage("a", "first"):
        fake.now += 10.0                   # 100 units in 10 s -> 10 units/s
    assert clock.eta() == pytest.approx(40.0)
    clock.skip("c")
    with clock.stage("b", "second"):
        assert clock.eta("b", 0.0) == pytest.approx(30.0)      # 300 units at the measured 10 units/s
        fake.now += 5.0
        assert clock.eta("b", 0.25) == pytest.approx(15.0)     # its own pace: 5 s for a quarter
        assert clock.status("b", 0.25) == "elapsed 15s · ETA 15s"
    assert clock.seconds == {"a": 10.0, "b": 5.0} and clock.eta() == 0.0
    lines = out.getvalue().strip().splitlines()
    assert lines[0].startswith("[1/3] first") and lines[-1] == "[2/2] second · elapsed 10s · ETA 30s"


def test_unknown_stage_and_bad_plan_raise():
    with pytest.raises(ValueError):
        StageClock({})
    clock = StageClock({"a": 1.0}, stream=io.StringIO())
    with pytest.raises(KeyError, match="'b'"):
        with clock.stage("b", "?"):
            pass


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (59.4, "59s"), (60, "1m00s"), (754, "12m34s")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text
