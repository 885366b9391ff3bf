"""The backend benchmark: cases, data recipe, failure handling, and a tiny real run
across every installed backend (one process per case) checked through its result files."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import bench, bench_report, bench_worker
from helpers.backend import LIVE_BACKENDS, BackendError, is_installed

INSTALLED = [name for name in LIVE_BACKENDS if is_installed(name)]
TINY = {"num_words": 2000, "embedding_dim": 16, "units": 8, "max_words": 60}


def test_cases_cover_models_masks_and_backends_and_refuse_retired_ones():
    cases = bench.cases_for("tensorflow,jax", "lstm,han", "off,on")
    assert len(cases) == 8 and len({case.name for case in cases}) == 8
    assert cases[0] == bench.Case("tensorflow", "lstm", False)
    assert cases[0].label == "LSTM · tensorflow · mask off"
    with pytest.raises(BackendError, match="cannot run any more"):
        bench.cases_for("tensorflow,theano")
    with pytest.raises(bench.DataError):
        bench.cases_for(models="cnn")
    with pytest.raises(bench.DataError):
        bench.parse_masks("maybe")


def test_fast_cases_keep_the_seeds_model_but_not_its_padding():
    cases = bench.cases_for("jax", "lstm,han", "off", "padded,fast")
    assert [case.name for case in cases] == [
        "lstm-jax-nomask",
        "lstm-jax-mask-fast",
        "han-jax-nomask",
        "han-jax-mask-fast",
    ]
    fast = bench.case_config(cases[1])
    seed = bench.case_config(bench.Case("jax", "lstm", False))
    assert (fast.mask, fast.padding, fast.recipe, fast.batch_order) == (
        True, "post", "fast", "by_length"
    )  # fmt: skip
    assert (fast.learning_rate, fast.optimizer, fast.units) == (
        seed.learning_rate, seed.optimizer, seed.units
    )  # fmt: skip
    assert cases[1].label == "LSTM · jax · fast"
    with pytest.raises(bench.DataError):
        bench.cases_for(recipes="turbo")


def test_the_device_recipe_cases_name_what_they_ask_for():
    cases = bench.cases_for("torch", "han", "on", "padded,bucketed,auto")
    assert [case.name for case in cases] == [
        "han-torch-mask", "han-torch-mask-bucketed", "han-torch-mask-auto"
    ]  # fmt: skip
    assert [bench.case_config(case).recipe for case in cases] == ["padded", "bucketed", "auto"]
    assert cases[1].label == "HAN · torch · bucketed"


def test_every_layer_names_the_same_recipes():
    from helpers import cli, configs

    assert bench.RECIPES == configs.RECIPES
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    recipe = next(action for action in train._actions if action.dest == "recipe")
    assert tuple(recipe.choices) == configs.RECIPES


def test_case_configs_are_the_seeds_with_masking_switched():
    config = lambda model, mask: bench.case_config(bench.Case("jax", model, mask))  # noqa: E731
    assert (config("lstm", False).mask, config("lstm", False).padding) == (False, "pre")
    assert config("lstm", True).mask and config("lstm", True).padding == "post"
    assert config("lstm", True).recipe == "padded"
    assert config("han", True) == bench.case_config(bench.Case("jax", "han", True), {"x": 1})
    assert not config("han", False).mask and config("han", False).batch_size == 50
    small = bench.case_config(bench.Case("jax", "han", True), TINY | {"context_dim": 4}, 8)
    assert (small.units, small.context_dim, small.batch_size) == (8, 4, 8)


@pytest.mark.parametrize("model", ["lstm", "han"])
@pytest.mark.parametrize("mask", [False, True])
def test_every_case_config_builds_and_predicts(model, mask):
    from helpers.models import MODELS

    sizes = TINY | {"context_dim": 4, "max_sentences": 3, "words_per_sentence": 5}
    config = bench.case_config(bench.Case("tensorflow", model, mask), sizes)
    shape = (4, 60) if model == "lstm" else (4, 3, 5)
    ids = np.random.default_rng(0).integers(2, 100, shape).astype("int32")
    ids[..., -2:] = 0  # some padding
    probabilities = MODELS[model].build(config).predict(ids, verbose=0)
    assert probabilities.shape == (4, 2) and np.isfinite(probabilities).all()


def test_training_documents_are_balanced_and_cycle_a_small_class():
    pool = pd.DataFrame({"text": [f"t{i}" for i in range(13)], "label": [0] * 3 + [1] * 10})
    docs = bench.training_documents(pool, 12, seed=1)
    assert len(docs) == 12 and docs["label"].sum() == 6
    assert docs.loc[docs["label"] == 0, "text"].nunique() == 3  # each negative twice
    assert docs.loc[docs["label"] == 1, "text"].nunique() == 6
    assert docs.equals(bench.training_documents(pool, 12, seed=1))
    assert len(bench.training_documents(pool, None)) == 13
    with pytest.raises(bench.DataError):
        bench.training_documents(pool, 7)


@pytest.mark.shared_data
def test_data_recipe_on_the_fine_foods_sample(shared_data):
    data = bench.data_from_source(data_dir=shared_data, docs=10_000, test_docs=1_000)
    assert len(data.train) == 10_000 and data.train["label"].sum() == 5_000
    assert data.test["label"].value_counts().to_dict() == {0: 500, 1: 500}
    assert not set(data.train["text"]) & set(data.test["text"])
    assert data.recipe["pool"] == 8_866 - 1_000
    negatives = data.train.loc[data.train["label"] == 0, "text"].nunique()
    assert negatives == 1_481 - 500


@pytest.mark.shared_data
def test_a_split_gives_its_test_reviews_half_per_class_up_to_test_docs(small_split):
    from helpers.data import read_split

    _, test, _ = read_split(small_split)
    few = bench.data_from_split(small_split, docs=64, test_docs=20)
    assert len(few.train) == 64 and few.test["label"].value_counts().to_dict() == {0: 10, 1: 10}
    assert set(few.test["text"]) <= set(test["text"])
    assert len(bench.data_from_split(small_split).test) == len(test)  # default: all of it


def test_out_of_memory_is_retried_at_half_the_batch_size(monkeypatch, tmp_path):
    tried = []

    def fake_spawn(spec, folder, env, timeout):
        tried.append(spec["config"]["batch_size"])
        if spec["config"]["batch_size"] > 12:
            return {"status": "failed", "reason": "out of memory (OOM)", "oom": True}
        return {"status": "ok", "seconds_median": 1.0}

    monkeypatch.setattr(bench_worker, "_spawn", fake_spawn)
    result = bench_worker.run_one({"config": {"batch_size": 50}}, tmp_path)
    assert tried == [50, 25, 12]
    assert result["status"] == "ok" and result["batch_size"] == 12
    assert result["note"] == (
        "out of memory at batch size 50, retried with 25; "
        "out of memory at batch size 25, retried with 12"
    )


def test_a_case_that_runs_too_long_is_stopped_and_reported(tmp_path):
    spec = {"backend": "jax", "config": {"batch_size": 50}}
    result = bench_worker.run_one(spec, tmp_path / "case", timeout=0.01)
    assert result == {"status": "failed", "reason": "timed out after 0.01 s", "batch_size": 50}


def test_the_run_shows_a_bar_with_the_time_left_and_one_line_per_case(
    monkeypatch, tmp_path, capsys
):
    cases = bench.cases_for(INSTALLED[0], "lstm,han", "off", "padded")
    reviews = pd.DataFrame({"text": ["good tea", "bad tea"], "label": [1, 0]})
    data = bench.BenchData(reviews, reviews, {"source": "test"})
    ran = {"status": "ok", "seconds_median": 1.25, "seconds_min": 1.0, "seconds_max": 1.5,
           "warmup_seconds": 9.0, "jax_compiles": 7, "docs_per_second": 1.6, "accuracy": 0.5,
           "roc_auc": 0.5, "recipe": "padded"}  # fmt: skip
    monkeypatch.setattr(bench, "BAR_DELAY", 0)
    monkeypatch.setattr(bench, "prepare_arrays", lambda config, data, out: out / "arrays.npz")
    monkeypatch.setattr(bench, "run_one", lambda spec, folder, env, timeout: dict(ran))
    bench.run_benchmark(cases, data, tmp_path, repeats=1)
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{case.label}: 1.25 s per epoch (1–1.5), warm-up 9 s, 7 programs compiled, "
        "2 docs/s, accuracy 0.500, AUC 0.500, recipe padded"
        for case in cases
    ]
    bar = captured.err.split("\r")[-1]
    assert "benchmark: 100%" in bar and "2/2" in bar and "<00:00" in bar  # elapsed<left
    bench.run_benchmark(cases, data, tmp_path, repeats=1, progress=False)
    assert capsys.readouterr() == ("", "")


@pytest.fixture(scope="module")
def tiny_benchmark(shared_data, tmp_path_factory):
    """Every installed backend × LSTM × mask off/on on 128 reviews, through the CLI.

    The case "lstm-torch-mask" (or the last case) runs in a child whose backend library
    is shadowed by one that fails to import: it must be reported, the others must run.
    """
    from helpers.cli import main

    out = tmp_path_factory.mktemp("bench")
    shadow = out / "shadow"
    broken = INSTALLED[-1]
    (shadow / broken).mkdir(parents=True)
    (shadow / broken / "__init__.py").write_text(f"raise ImportError('No module named {broken}')")
    real_spawn = bench_worker._spawn

    def spawn(spec, folder, env, timeout):
        if folder.name == f"lstm-{broken}-mask":
            env = {"PYTHONPATH": str(shadow)}
        return real_spawn(spec, folder, env, timeout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bench_worker, "_spawn", spawn)
        sets = [arg for field, value in TINY.items() for arg in ("--set", f"{field}={value}")]
        status = main(
            ["bench", "--backends", ",".join(INSTALLED), "--models", "lstm", "--masks", "off,on",
             "--recipes", "padded,auto",
             "--data-dir", str(shared_data), "--docs", "128", "--test-docs", "100",
             "--repeats", "1", "--batch-size", "32", "--out", str(out), *sets]
        )  # fmt: skip
    return out, status, broken


@pytest.mark.shared_data
@pytest.mark.slow
def test_tiny_benchmark_writes_one_complete_row_per_case(tiny_benchmark):
    import keras

    out, status, broken = tiny_benchmark
    assert status == 1  # one case failed
    saved = json.loads((out / "results.json").read_text())
    frame = pd.read_csv(out / "results.csv")
    assert len(frame) == len(saved["cases"]) == 3 * len(INSTALLED)
    assert saved["settings"]["docs"] == 128 and saved["settings"]["repeats"] == 1
    ok = frame[frame["status"] == "ok"]
    assert sorted(ok["case"]) == sorted(
        f"lstm-{b}-{m}" for b in INSTALLED for m in ("nomask", "mask", "mask-auto")
        if (b, m) != (broken, "mask")
    )  # fmt: skip
    # "auto" became the recipe for this CPU in each case's own process, and says so.
    assert set(ok.loc[ok["case"].str.endswith("-auto"), "recipe"]) == {"fast"}
    for column in ("seconds_median", "seconds_min", "seconds_max", "warmup_seconds",
                   "docs_per_second", "peak_memory_mb", "wall_seconds"):  # fmt: skip
        assert (ok[column].map(math.isfinite) & (ok[column] > 0)).all(), column
    assert (ok["seconds_min"] <= ok["seconds_median"]).all()
    assert (ok["seconds_median"] <= ok["seconds_max"]).all()
    assert ok["accuracy"].between(0, 1).all() and ok["roc_auc"].between(0, 1).all()
    assert (ok["docs"] == 128).all() and (ok["test_docs"] == 100).all()
    assert (ok["batch_size"] == 32).all() and (ok["epochs"] == 2).all()
    assert ok["device"].str.match(r"(CPU|GPU) \(").all()
    assert (ok["keras"] == keras.__version__).all()
    assert ok["backend_version"].str.match(r"\d").all()
    jax = ok["backend"] == "jax"  # every shape a program of its own, counted
    assert (ok.loc[jax, "jax_compiles"] >= 1).all() and ok.loc[~jax, "jax_compiles"].isna().all()
    assert set(ok.loc[ok["mask"], "padding"]) == {"post"}
    assert set(ok.loc[~ok["mask"], "padding"]) == {"pre"}
    for case in saved["cases"]:
        if case["status"] == "ok":
            assert len(case["epoch_seconds"]) == 2
    failed = frame[frame["status"] != "ok"]
    assert list(failed["case"]) == [f"lstm-{broken}-mask"]
    assert failed["reason"].iloc[0] == f"not installed: No module named {broken}"
    assert (out / "cases" / f"lstm-{broken}-mask" / "log.txt").is_file()
    assert len(list((out / "arrays").glob("lstm-*.npz"))) == 2  # pre- and post-padded


@pytest.mark.shared_data
@pytest.mark.slow
def test_results_read_back_as_a_table_a_ratio_table_and_a_chart(tiny_benchmark):
    import matplotlib

    matplotlib.use("Agg")
    out, _, broken = tiny_benchmark
    frame = bench_report.read_results(out)
    table = bench_report.summary_table(frame)
    assert len(table) == len(frame)
    assert table["status"].str.startswith("failed: not installed").sum() == 1
    ratios = bench_report.speed_ratios(frame)
    assert (ratios["× fastest"].min(axis=1) == 1.0).all()
    ax = bench_report.plot_benchmark(frame)
    assert len(ax.patches) == len(frame) - 1  # one bar per case that ran
    assert any(text.get_text() == " failed" for text in ax.texts)
    assert Path(out / "results.csv").stat().st_size > 0


@pytest.mark.shared_data
@pytest.mark.slow
def test_the_benchmark_runs_where_tensorflow_is_not_installed(shared_data, tmp_path):
    """A JAX- or PyTorch-only machine (as on many GPU boxes): the parent process, which
    imports Keras to encode the data, must not ask for Keras' default backend."""
    others = [name for name in INSTALLED if name != "tensorflow"]
    if not others:
        pytest.skip("needs JAX or PyTorch installed")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text('import sys\nsys.modules["tensorflow"] = None\n')
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    sets = [arg for field, value in TINY.items() for arg in ("--set", f"{field}={value}")]
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "bench", "--backends", others[0], "--models", "lstm",
         "--masks", "off", "--recipes", "padded", "--data-dir", str(shared_data),
         "--docs", "64", "--test-docs", "40",
         "--repeats", "1", "--warmup", "0", "--out", str(tmp_path / "out"), *sets],
        env=env | {"PYTHONPATH": str(site)}, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    row = pd.read_csv(tmp_path / "out" / "results.csv").iloc[0]
    assert (row["backend"], row["status"]) == (others[0], "ok")
