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


@pytest.mark.shared_data
@pytest.mark.slow
def test_corpus_memory_measures_both_paths_in_fresh_processes(shared_data, tmp_path):
    """benchmarks/corpus_memory.py on the real sample: the sharded and the in-memory path
    read the same reviews and batches; each row has its seconds and its own peak."""
    corpus_memory = load_benchmark("corpus_memory")
    sample = shared_data / "finefoods_sample.txt.gz"
    rows = corpus_memory.run([sample], tmp_path, in_memory=1)
    sharded, in_memory = rows
    assert (sharded["path"], in_memory["path"]) == ("sharded", "in-memory")
    for key in ("records", "reviews", "batches", "words read"):
        assert sharded[key] == in_memory[key] > 0
    for row in rows:
        assert row["encode s"] > 0 and row["peak MB"] >= row["encode MB"] >= row["imports MB"] > 0
    assert not (tmp_path / sample.name).exists()  # the shards are removed once measured
    table = corpus_memory.markdown_table(rows)
    assert "| sharded | 9,659 |" in table and "processor:" in table
    assert "one sharded size only" in corpus_memory.verdict(rows)


def test_the_scaling_model_counts_ring_traffic_and_finds_where_it_stops_paying():
    scaling = load_benchmark("scaling_model")
    ethernet = next(link for link in scaling.LINKS if "GbE" in link.name)
    assert scaling.allreduce_s(1_000_000, 1, ethernet) == 0
    # 2 (N - 1) / N of 4 MB at 3.125 GB/s, plus 2 (N - 1) messages of 30 µs
    assert scaling.allreduce_s(1_000_000, 4, ethernet) == pytest.approx(6e6 / 3.125e9 + 180e-6)
    step = 0.009
    best = scaling.largest_paying(1_000_000, step, ethernet)
    assert scaling.share(1_000_000, step, best, ethernet) <= scaling.LIMIT
    assert scaling.share(1_000_000, step, best + 1, ethernet) > scaling.LIMIT
    from helpers.models import named_config

    # 64 reviews x 300 words x 2 directions x 4 gates x 100 x (100 + 100) x 2 x 3
    assert scaling.step_flops(named_config("lstm", "tuned")) == 64 * 300 * 2 * 4 * 100 * 200 * 6
