"""benchmarks/: accuracy.py (reading --set, averaging seeds, the README table),
padding.py --tuned, corpus_memory.py and scaling_model.py, and gpu.sh with its targets
(gpu_targets.py)."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO, load_benchmark


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


GPU_SCRIPT = REPO / "benchmarks" / "gpu.sh"


def bench_row(model, backend, recipe, seconds, warmup=5.0, device="GPU (NVIDIA H200)", **more):
    """One row of a bench result frame, as ``helpers.bench_report.read_results`` reads it."""
    return {"case": f"{model}-{backend}-{recipe}", "model": model, "backend": backend,
            "mask": model == "han" or recipe != "padded", "recipe": recipe, "status": "ok",
            "reason": "", "device": device, "seconds_median": seconds, "warmup_seconds": warmup,
            "docs": 10_000, "peak_memory_mb": 1.0, "accuracy": 0.8, "jax_compiles": None,
            **more}  # fmt: skip


def test_the_gpu_targets_pass_and_fail_as_the_numbers_say():
    import pandas as pd

    targets = load_benchmark("gpu_targets")
    frame = pd.DataFrame([
        bench_row("lstm", "jax", "padded", 3.0),
        bench_row("lstm", "jax", "bucketed", 0.4, warmup=12.5, jax_compiles=7),
        bench_row("han", "torch", "padded", 2.0),
        bench_row("han", "torch", "bucketed", 0.8, warmup=25.0, device="CPU (AMD EPYC, 2 cores)"),
    ])  # fmt: skip
    checks = targets.check_targets(frame)
    assert [passed for passed, _ in checks] == [True, True, True, True, False, False, False, False]
    lines = [line for _, line in checks]
    assert lines[1] == (
        "LSTM · jax: bucketed 7.5× faster than padded (0.4 s against 3 s per epoch; target ≥ 3×)"
    )
    assert lines[2] == "LSTM · jax: bucketed 0.4 s per 10,000-review epoch (target < 0.5 s)"
    assert lines[3] == (
        "LSTM · jax: bucketed warm-up epoch 12.5 s, JAX compiled 7× (target < 20 s)"
    )
    assert lines[4] == "HAN · torch: bucketed ran on CPU (AMD EPYC, 2 cores)"
    assert lines[7] == "HAN · torch: bucketed warm-up epoch 25 s (target < 20 s)"
    assert len(targets.check_targets(frame, on_gpu=False)) == 6  # a dry run: no device target
    frame.loc[3, ["status", "reason"]] = ["failed", "out of memory"]
    assert targets.check_targets(frame)[-1] == (False, "HAN · torch: failed: out of memory")


def test_the_gpu_script_is_clean_shell():
    import shutil

    assert subprocess.run(["bash", "-n", str(GPU_SCRIPT)]).returncode == 0
    if shutil.which("shellcheck"):
        done = subprocess.run(["shellcheck", str(GPU_SCRIPT)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout


def test_the_gpu_script_stops_in_one_line_where_no_gpu_is_visible(tmp_path):
    fake = tmp_path / "bin" / "nvidia-smi"  # what nvidia-smi says without a driver
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate'\n"
                    "exit 9\n")  # fmt: skip
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("GPU_CHECK_CPU", None)
    done = subprocess.run(["bash", str(GPU_SCRIPT)], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: no GPU visible") and done.stderr.count("\n") == 1
    assert "--cpu" in done.stderr


@pytest.mark.shared_data
@pytest.mark.slow
def test_the_gpu_script_runs_end_to_end_as_a_dry_run_on_a_cpu(shared_data, tmp_path):
    """``gpu.sh --cpu`` at tiny sizes on one backend (JAX where installed, to count its
    compilations): both models, both recipes, and every target's line."""
    from helpers.backend import LIVE_BACKENDS, is_installed

    backend = "jax" if is_installed("jax") else next(b for b in LIVE_BACKENDS if is_installed(b))
    env = {**os.environ, "BACKENDS": backend, "OUT": str(tmp_path), "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(GPU_SCRIPT), "--cpu", str(shared_data)],
        env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.startswith("dry run on a CPU") and f"{backend}: ok" in out
    for model in ("LSTM", "HAN"):
        name = f"{model} · {backend}: fast"
        assert re.search(rf"^(PASS|FAIL)  {name} [\d.]+× faster than padded", out, re.M)
        assert re.search(rf"^(PASS|FAIL)  {name} [\d.]+ s per 10,000-review epoch", out, re.M)
        compiled = r", JAX compiled \d+×" if backend == "jax" else ""
        assert re.search(rf"^(PASS|FAIL)  {name} warm-up epoch [\d.]+ s{compiled} ", out, re.M)
    assert re.search(r"^dry run on a CPU at tiny sizes: \d+ of 6 failed, not counted$", out, re.M)
    assert (tmp_path / "lstm" / "results.json").is_file()


@pytest.mark.slow
@pytest.mark.shared_data
def test_scaling_times_one_and_two_virtual_devices(small_split, capsys):
    scaling = load_benchmark("scaling")
    tiny = ["units=8", "embedding_dim=16", "num_words=2000", "max_words=60"]
    argv = ["--data", str(small_split), "--backends", "tensorflow", "--devices", "1,2",
            "--epochs", "2", *sum((["--set", change] for change in tiny), [])]  # fmt: skip
    assert scaling.main(argv) == 0
    printed = capsys.readouterr().out
    assert "'status': 'ok'" in printed and "failed" not in printed
    table = printed.split("\n", 2)[2]
    assert "speed_up" in table and "tensorflow" in table


def test_the_scaling_table_divides_by_the_one_device_run():
    scaling = load_benchmark("scaling")
    rows = [{"backend": "jax", "devices": 1, "reviews_per_second": 100.0},
            {"backend": "jax", "devices": 2, "reviews_per_second": 180.0}]  # fmt: skip
    assert scaling.scaling_table(rows)["speed_up"].tolist() == [1.0, 1.8]
    command = scaling.train_command("torch", 2, "s", "o", "lstm", 2, False, [])
    assert "torch.distributed.run" in command and "--cpu-devices" not in command
