"""Execute the numbered notebooks in order: the project's main job.

Each notebook is executed with papermill and receives the parameters of the
chosen preset that its parameters cell declares. The executed notebook and an
HTML copy are written to the output folder, also when a notebook fails (then
the series stops there, since later notebooks read what earlier ones wrote).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# The kernel's own start-up warnings (ipykernel: "running over TCP without encryption",
# for a kernel that only listens on this machine's loopback) are noise to a learner; its
# errors still show.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]

# Sizes: "workshop" fits the Fine Foods sample in shared/data (1,481 negative
# reviews) and a 2-core laptop CPU, a few minutes per notebook (at most 10 epochs per
# model, early stopping often ends sooner); "full" is the
# seed's 10,000 / 10,000 split and epoch counts, for a GPU; "smoke" is for tests: an
# easy split (1 vs 5 stars) and 3 epochs, enough to be clearly above chance.
PRESETS: dict[str, dict] = {
    "workshop": {
        "source": "finefoods",
        "labels": "12v45",
        "n_train": 1480,
        "n_test": 1480,
        "epochs": 10,
        # word2vec's unlabelled reviews (notebook 01 keeps a seeded draw): as many on the
        # 568,454-review file as the sample has (6,699), so that word2vec's text and time
        # are the same on both (15,000 made sentences and word2vec a minute there)
        "word2vec_unlabelled": 7_000,
        "bench_docs": 128,  # notebook 05: training reviews per case
        "bench_test_docs": 200,  # and test reviews scored after it
        "bench_repeats": 1,  # timed epochs after the warm-up one
    },
    "full": {
        "source": "finefoods",
        "labels": "12v45",
        "n_train": 10000,
        "n_test": 10000,
        "word2vec_unlabelled": 50_000,  # 100,000 took 12 minutes, over the 10-minute target
        "exact_word2vec": False,  # word2vec on every core: 60,000 reviews, speed first
        "bench_docs": 0,  # notebook 05 times every training review
        "bench_test_docs": 0,  # and scores every test review
        "bench_repeats": 3,
    },
    "smoke": {
        "source": "finefoods",
        "labels": "1v5",
        "n_train": 600,
        "n_test": 200,
        "epochs": 3,
        "bench_docs": 64,
        "bench_repeats": 1,
        "bench_changes": {
            "num_words": 2000,
            "embedding_dim": 16,
            "units": 8,
            "max_words": 60,
            "context_dim": 8,
            "max_sentences": 8,
            "words_per_sentence": 24,
        },  # fmt: skip
    },
}


@dataclass
class SeriesResult:
    out_dir: Path
    executed: list[Path] = field(default_factory=list)
    failed: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed is None


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks (``01_….ipynb`` …) in order, optionally filtered by prefix.

    They are in the clone's ``notebooks/``; where the package is pip-installed, in the
    project folder's ``notebooks/`` (``helpers.data.project_root``).
    """
    from helpers.data import DataError, project_root

    folder = NOTEBOOKS if NOTEBOOKS.is_dir() else project_root() / "notebooks"
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise DataError(f"no numbered notebooks (01_….ipynb) in {folder}: copy them there.")
    if only:
        found = [p for p in found if any(p.name.startswith(prefix) for prefix in only)]
    return found


def run_series(
    preset: str,
    out_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    only: list[str] | None = None,
    overrides: dict | None = None,
) -> SeriesResult:
    """Execute the series with ``preset``'s parameters (plus ``overrides``).

    ``out_dir`` defaults to ``output/PRESET`` in the project folder
    (``helpers.data.project_root``). Checks first that the data can be had (local
    file or download), so that an offline machine without the files stops at once
    with that message.
    """
    import papermill
    from nbconvert import HTMLExporter

    from helpers.backend import check_backend_request
    from helpers.data import locate, project_path

    parameters = {**PRESETS[preset], **(overrides or {})}
    if parameters.get("keras_backend"):
        check_backend_request(parameters["keras_backend"])
    to_run = notebooks(only)
    raw = Path(data_dir).resolve() if data_dir else None
    data_file = locate(parameters["source"], data_dir=raw)
    out = Path(out_dir).resolve() if out_dir else project_path(Path("output") / preset)
    out.mkdir(parents=True, exist_ok=True)
    parameters |= {"data_path": str(data_file.resolve()), "work_dir": str(out)}
    result = SeriesResult(out_dir=out)
    print(f"preset {preset}: data {data_file}; output {out}")
    for notebook in to_run:
        declared = papermill.inspect_notebook(str(notebook))
        given = {k: v for k, v in parameters.items() if k in declared}
        executed = out / notebook.name
        started = time.perf_counter()
        print(f"running {notebook.name} with {given}")
        try:
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters=given,
                cwd=str(notebook.parent),
                progress_bar=os.environ.get("CI") != "true",
                extra_arguments=KERNEL_ARGUMENTS,
            )
        except papermill.PapermillExecutionError as error:
            result.failed = executed
            print(f"FAILED {notebook.name}: {error.ename}: {error.evalue}")
        finally:
            result.seconds[notebook.name] = round(time.perf_counter() - started, 1)
            if executed.exists():
                html, _ = HTMLExporter().from_filename(str(executed))
                executed.with_suffix(".html").write_text(html, encoding="utf-8")
        if result.failed:
            break
        result.executed.append(executed)
        print(f"{notebook.name}: {result.seconds[notebook.name]:.0f} s")
    status = "stopped at " + result.failed.name if result.failed else "done"
    print(f"{status}; executed notebooks and HTML copies are in {out}")
    return result
