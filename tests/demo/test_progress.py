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


def test_eta_uses_the_speed_of_the_work_done(monkeypatch):
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
        # a quarter (75 units) done in 5 s: 175 units in 15 s; 225 left at 11.67 units/s
        assert clock.eta("b", 0.25) == pytest.approx(225 * 15 / 175)
        assert clock.status("b", 0.25) == f"elapsed 15s · ETA {format_seconds(225 * 15 / 175)}"
    assert clock.seconds == {"a": 10.0, "b": 5.0} and clock.eta() == 0.0
    lines = out.getvalue().strip().splitlines()
    assert lines[0].startswith("[1/3] first") and lines[-1] == "[2/2] second · elapsed 10s · ETA 30s"


def test_eta_never_grows_while_waiting_for_work(monkeypatch):
    """The loaded run's bug: with the finished share stuck between two job completions, the ETA grew with
    the elapsed time (spent / fraction − spent). Now it counts down, and only new work done moves it."""
    fake = FakeTime()
    monkeypatch.setattr(progress, "time", fake)
    clock = StageClock({"models": 1000.0, "figures": 100.0}, stream=io.StringIO())
    with clock.stage("models", "jobs"):
        fake.now += 50.0
        first = clock.eta("models", 0.2)                      # 200 units in 50 s: 4 units/s
        assert first == pytest.approx((800 + 100) / 4)
        etas = []
        for _ in range(40):                                   # 400 s with no job finishing
            fake.now += 10.0
            etas.append(clock.eta("models", 0.2))
        assert all(later <= earlier for earlier, later in zip([first, *etas], etas))
        assert etas[0] == pytest.approx(first - 10.0)
        assert etas[-1] == pytest.approx(100 / 4)             # the running stage's share used up; figures left
        assert clock.eta("models", 0.1) == etas[-1]           # a smaller fraction is no news
        after = clock.eta("models", 0.6)                      # 600 units in 450 s: 1.33 units/s
        assert after == pytest.approx((400 + 100) * 450 / 600)
        with pytest.raises(KeyError, match="figures"):
            clock.progress("figures", 0.5)


def test_a_stage_planned_late_takes_its_place(monkeypatch):
    """The demo plans no teacher stage when the shipped teacher will do, and plans it again after the data
    stage if the data turn out to differ: the headers count it and the ETA includes its work."""
    fake = FakeTime()
    monkeypatch.setattr(progress, "time", fake)
    out = io.StringIO()
    clock = StageClock({"data": 0.0, "models": 1e5}, stream=out)
    with clock.stage("data", "data"):
        fake.now += 1.0
    clock.plan("teacher", 3e5, after="data")
    clock.plan("teacher", 5.0, after="models")               # already planned: no change
    clock.skip("absent")                                     # a stage not planned stays out
    assert list(clock.work.items()) == [("data", 0.0), ("teacher", 3e5), ("models", 1e5)]
    assert clock.eta() == pytest.approx(4e5 / progress.PRIOR_SPEED)
    with clock.stage("teacher", "teacher"):
        pass
    assert [line for line in out.getvalue().splitlines() if line] == [
        f"[1/2] data · elapsed 0s · ETA {format_seconds(1e5 / progress.PRIOR_SPEED)}",
        f"[2/3] teacher · elapsed 1s · ETA {format_seconds(4e5 / progress.PRIOR_SPEED)}"]


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
