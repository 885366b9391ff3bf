"""The calibration: a fixed workload, the same on every machine, and what it predicts."""

import pytest

from helpers import calibrate


def test_the_synthetic_reviews_are_the_same_on_every_run_and_look_like_reviews():
    reviews = calibrate.synthetic_reviews(200)
    assert reviews == calibrate.synthetic_reviews(200)
    words = [len(review.split()) for review in reviews]
    sentences = [review.count(".") for review in reviews]
    assert 50 < sum(words) / len(words) < 100  # Fine Foods: 76 words
    assert 4 < sum(sentences) / len(sentences) < 7  # and 5.4 sentences


def test_the_expected_time_scales_with_the_calibration_seconds(monkeypatch):
    monkeypatch.setitem(calibrate.REFERENCE, "steps", {"text": 5.0, "lstm": 5.0})
    monkeypatch.setitem(calibrate.REFERENCE, "series_seconds", 300.0)
    twice_as_slow = calibrate.Calibration(steps={"text": 12.0, "lstm": 8.0})
    assert twice_as_slow.ratio == pytest.approx(2.0)
    assert twice_as_slow.expected_series_seconds == pytest.approx(600.0)
    report = twice_as_slow.report()
    assert "calibration: 20.0 s (text 12.0 s, lstm 8.0 s)" in report
    assert "took 5 min 00 s" in report and "about 10 min 00 s here" in report


@pytest.mark.slow
def test_a_small_calibration_runs_every_step():
    result = calibrate.calibrate(scale=0.05)
    assert list(result.steps) == list(calibrate.REFERENCE["steps"])
    assert all(seconds > 0 for seconds in result.steps.values())
    assert result.expected_series_seconds > 0


def test_the_command_prints_the_expected_series_time(monkeypatch, capsys):
    from helpers import cli

    same_as_reference = calibrate.Calibration(steps=dict(calibrate.REFERENCE["steps"]))
    monkeypatch.setattr(calibrate, "calibrate", lambda: same_as_reference)
    assert cli.main(["calibrate"]) == 0
    minutes, seconds = divmod(round(calibrate.REFERENCE["series_seconds"]), 60)
    assert f"to take about {minutes} min {seconds:02d} s here" in capsys.readouterr().out
