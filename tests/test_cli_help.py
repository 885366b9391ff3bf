"""The command line's --help: `run` first, defaults shown, a few examples."""

import pytest

from helpers.cli import main


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_main_help_lists_run_first_and_gives_examples(capsys):
    text = help_text(capsys)
    commands = text.split("commands:")[1].split("examples:")[0]
    listed = [line.split()[0] for line in commands.splitlines() if line.startswith("    ")]
    assert listed[0] == "run" and {"data", "train", "predict", "bench"} <= set(listed)
    assert "python -m helpers run" in text.split("examples:")[1]


def test_command_help_shows_defaults_but_not_missing_ones(capsys):
    text = " ".join(help_text(capsys, "run").split())
    assert "(default: workshop)" in text
    assert "(default: None)" not in text
    bench = " ".join(help_text(capsys, "bench").split())
    assert "(default: tensorflow,jax,torch)" in bench and "(default: None)" not in bench
