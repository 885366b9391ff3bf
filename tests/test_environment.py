"""The project's setup files agree with each other."""

import re
import tomllib

import yaml

from tests.conftest import REPO


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(pin.split("==") for pin in pins)


def environment_pins() -> dict[str, str]:
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    return dict(pin.split("==") for pin in pip)


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for pin in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+]*", pin), pin


def test_environment_yml_has_the_same_pins_as_pyproject():
    assert environment_pins() == pyproject_pins()


def test_every_environment_package_says_why_it_is_there():
    lines = (REPO / "environment.yml").read_text().splitlines()
    pinned = [line for line in lines if "==" in line]
    assert pinned and all(re.search(r"==\S+\s+#\s*\w", line) for line in pinned)


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
