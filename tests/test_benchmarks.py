"""benchmarks/accuracy.py: reading --set, averaging seeds, the README table."""

import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def accuracy():
    return load_benchmark("accuracy")


def test_set_reads_json_values_and_refuses_a_missing_value(accuracy):
    changes = accuracy.parse_changes(["max_sentences=30", "padding=post", "dropout=0.5"])
    assert changes == {"max_sentences": 30, "padding": "post", "dropout": 0.5}
    with pytest.raises(SystemExit, match="FIELD=VALUE"):
        accuracy.parse_changes(["max_sentences"])


def test_seeds_give_their_mean_with_its_spread_in_the_table(accuracy):
    runs = [
        {"n": 100, "accuracy": 0.80, "roc_auc": 0.90, "epochs": 6, "best_epoch": 3,
         "seconds_per_epoch": 2.0, "seed": 42},
        {"n": 100, "accuracy": 0.84, "roc_auc": 0.92, "epochs": 8, "best_epoch": 5,
         "seconds_per_epoch": 3.0, "seed": 43},
    ]  # fmt: skip
    mean = accuracy.mean_of_runs(runs)
    assert (mean["accuracy"], mean["roc_auc"], mean["epochs"]) == (0.82, 0.91, 7.0)
    assert mean["accuracy_sd"] == pytest.approx(0.0283, abs=1e-4)  # sample sd of 0.80, 0.84
    table = accuracy.markdown_table({"finefoods": {"LSTM, mean of 2 seeds": mean}})
    assert (
        "| finefoods | LSTM, mean of 2 seeds | 82.0% ± 2.8% | 0.910 | 7.0 (best 4.0) | 2.5 |"
        in table
    )


@pytest.mark.shared_data
@pytest.mark.slow
def test_the_tuned_comparison_trains_both_recipes(shared_data, tmp_path):
    """``padding.py --tuned``: the tuned LSTM trained padded and with a named recipe on
    the Fine Foods split, one epoch each; the table names the recipe that ran."""
    padding = load_benchmark("padding")
    table = padding.tuned_pairs(shared_data, tmp_path, ["lstm"], epochs=1, recipe="bucketed")
    column = table["LSTM"]
    assert column["recipe"] == "bucketed"
    for name in ("padded", "fast"):
        assert 0.5 < column[f"{name} accuracy"] <= 1 and column[f"{name} s/epoch"] > 0
    assert column["speed-up"] > 0
