"""The notebooks as a learner opens them: `make lab`, and plain nbconvert from notebooks/."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str, deadline: float):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return json.load(answer)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_make_lab_serves_the_notebooks_on_localhost(tmp_path):
    if not (REPO / ".venv" / "bin" / "jupyter-lab").exists():
        pytest.skip("JupyterLab is not in .venv (make test installs it)")
    port, token = free_port(), "test-token"
    lab_args = f"LAB_ARGS=--no-browser --allow-root --port={port} --IdentityProvider.token={token}"
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "lab", lab_args],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    command = [line for line in dry_run.splitlines() if "jupyter lab" in line][-1]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    with open(tmp_path / "lab.log", "wb") as log:
        server = subprocess.Popen(
            ["bash", "-c", command], cwd=REPO, env=env, stdout=log, stderr=log,
            start_new_session=True,
        )  # fmt: skip
    try:
        listing = get_json(
            f"http://127.0.0.1:{port}/api/contents?token={token}", time.monotonic() + 120
        )
        names = {item["name"] for item in listing["content"]}
        assert {path.name for path in NOTEBOOKS} <= names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}") as page:
            assert page.status == 200 and b"JupyterLab" in page.read()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode is not None


@pytest.fixture(scope="module")
def fresh_clone(shared_data, tmp_path_factory) -> Path:
    """The project as a newcomer has it: the notebooks and helpers, the sample in data/raw."""
    root = tmp_path_factory.mktemp("clone")
    for folder in ("helpers", "notebooks"):
        shutil.copytree(REPO / folder, root / folder)
    (root / "data" / "raw").mkdir(parents=True)
    shutil.copy(shared_data / "finefoods_sample.txt.gz", root / "data" / "raw")
    return root


def chosen(notebook: Path) -> bool:
    wanted = os.environ.get("NBCONVERT_NOTEBOOKS", "")
    return wanted == "all" or any(notebook.name.startswith(p) for p in wanted.split())


@pytest.mark.notebook
@pytest.mark.shared_data
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_with_plain_nbconvert_from_the_notebooks_folder(notebook, fresh_clone):
    """In order, each with its default parameters (the workshop sizes: about 25 minutes
    for all six on 2 CPU cores), so it runs only when NBCONVERT_NOTEBOOKS names it
    ("01 02", or "all"); a later notebook needs the earlier ones' output."""
    if not chosen(notebook):
        pytest.skip("set NBCONVERT_NOTEBOOKS=all (or prefixes, e.g. 01) to execute it")
    env = {
        **os.environ,
        "PYTHONPATH": str(fresh_clone),  # the kernel imports this copy's helpers
        "JUPYTER_RUNTIME_DIR": str(fresh_clone / ".runtime"),
    }
    for variable in ("REVIEWS_HOME", "REVIEWS_DATA_DIR"):
        env.pop(variable, None)
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         notebook.name, "--output-dir", str(fresh_clone / "executed")],
        cwd=fresh_clone / "notebooks", env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    executed = json.loads((fresh_clone / "executed" / notebook.name).read_text())
    outputs = [o for cell in executed["cells"] for o in cell.get("outputs", [])]
    shown = "".join("".join(o.get("text", "")) for o in outputs)
    # The notebooks that run Keras say which backend and device at the top; 01 and 02
    # (the data, word2vec) start without Keras.
    assert ("device:" in shown) == (notebook.name[:2] not in ("01", "02"))
    for noise in ("cuInit", "absl::InitializeLog", "Skipping variable loading", "retracing",
                  "DT_BOOL"):  # fmt: skip
        assert noise not in shown, noise
    assert not (fresh_clone / "notebooks" / "data").exists()  # nothing downloaded beside it
    assert (fresh_clone / "output" / "workshop").is_dir()


def test_the_series_kernel_keeps_its_tcp_notice_to_itself(tmp_path, capfd):
    import nbformat
    import papermill

    from helpers.series import KERNEL_ARGUMENTS

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, tmp_path / "one.ipynb")
    papermill.execute_notebook(
        str(tmp_path / "one.ipynb"), str(tmp_path / "done.ipynb"),
        progress_bar=False, extra_arguments=KERNEL_ARGUMENTS,
    )  # fmt: skip
    assert "without encryption" not in capfd.readouterr().err
    assert nbformat.read(tmp_path / "done.ipynb", 4).cells[0].outputs[0]["text"] == "hi\n"
