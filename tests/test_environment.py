"""The project's setup files agree with each other."""

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.conftest import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
BACKEND_EXTRAS = ("tensorflow", "jax", "torch")


def constraint_pins() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    pins = [line for line in lines if line.strip() and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+]*", pin) for pin in pins), pins
    return dict(pin.split("==") for pin in pins)


def environment_pins() -> dict[str, str]:
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    return dict(pin.split("==") for pin in pip)


def requirements() -> list[Requirement]:
    """Every requirement of pyproject.toml, core and extras (not the project's own)."""
    listed = PROJECT["dependencies"] + sum(PROJECT["optional-dependencies"].values(), [])
    return [r for r in map(Requirement, listed) if r.name != PROJECT["name"]]


def test_every_requirement_has_a_tested_version_inside_its_range():
    pins = constraint_pins()
    for requirement in requirements():
        assert requirement.name in pins, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(pins[requirement.name]), (requirement, pins)


def test_environment_yml_has_the_versions_of_constraints_txt():
    assert environment_pins() == constraint_pins()


def test_every_environment_package_says_why_it_is_there():
    lines = (REPO / "environment.yml").read_text().splitlines()
    pinned = [line for line in lines if "==" in line]
    assert pinned and all(re.search(r"==\S+\s+#\s*\w", line) for line in pinned)


def test_one_extra_per_backend_with_a_gpu_variant_and_python_311_to_313():
    extras = PROJECT["optional-dependencies"]
    for backend in BACKEND_EXTRAS:
        assert backend in extras and f"{backend}-gpu" in extras
    assert "and-cuda" in extras["tensorflow-gpu"][0] and "cuda12" in extras["jax-gpu"][0]
    assert "jupyterlab" in extras["notebook"][0]
    core = {Requirement(r).name for r in PROJECT["dependencies"]}
    assert not core & {"tensorflow", "jax", "jaxlib", "torch"}, "a backend is not optional"
    assert PROJECT["name"] != "helpers"  # the package index's `helpers` is another project
    python = SpecifierSet(PROJECT["requires-python"])
    supported = [v for v in ("3.10", "3.11", "3.12", "3.13", "3.14") if v in python]
    assert supported == ["3.11", "3.12", "3.13"]


def test_make_installs_with_the_constraints_and_one_backend_by_default():
    makefile = (REPO / "Makefile").read_text()
    assert "-c constraints.txt" in makefile and "--quiet" not in makefile
    assert "\nBACKEND ?= $(or $(KERAS_BACKEND),tensorflow)\n" in makefile


def test_readme_opens_with_the_two_commands_and_ci_calls_the_test_one():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^(make \w+)", readme.split("\n## ")[0], flags=re.MULTILINE)
    assert commands[:2] == ["make run", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_notebooks_are_committed_without_outputs():
    import nbformat

    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name
