"""helpers.compat and helpers.files: old config folders, out-of-memory retries, atomic writes."""

import dataclasses
import json

import pytest

from helpers.compat import halve_on_oom, is_out_of_memory, upgrade_config_dict
from helpers.data import DataError
from helpers.files import atomic_write, atomic_write_text

DEFAULTS = {"units": 100, "recipe": "padded", "ema_momentum": 0.0, "l2_on": ["embedding"]}


def test_a_current_config_passes_unchanged():
    values = {"units": 8, "recipe": "fast", "ema_momentum": 0.5, "l2_on": []}
    assert upgrade_config_dict(values, DEFAULTS) == (values, [])


@pytest.mark.parametrize("old, new", [("lengths", "fast"), ("keras", "padded")])
def test_rnn_masking_becomes_recipe(old, new):
    values = {"units": 8, "rnn_masking": old, "ema_momentum": 0.0, "l2_on": []}
    upgraded, notes = upgrade_config_dict(values, DEFAULTS)
    assert upgraded == {"units": 8, "recipe": new, "ema_momentum": 0.0, "l2_on": []}
    assert notes == [f"rnn_masking={old!r} is now recipe={new!r}"]
    assert "rnn_masking" in values  # the caller's dict is not changed


def test_rnn_masking_is_kept_while_the_code_still_has_it():
    defaults = {"units": 100, "rnn_masking": "keras"}
    assert upgrade_config_dict({"units": 8, "rnn_masking": "lengths"}, defaults) == (
        {"units": 8, "rnn_masking": "lengths"},
        [],
    )


def test_a_saved_recipe_wins_over_an_old_rnn_masking():
    values = {"units": 8, "recipe": "fast", "rnn_masking": "keras", "ema_momentum": 0.0}
    upgraded, notes = upgrade_config_dict(values | {"l2_on": []}, DEFAULTS)
    assert upgraded["recipe"] == "fast"
    assert notes == ["dropped rnn_masking='keras': the folder also saves recipe"]


def test_an_unknown_rnn_masking_value_is_refused():
    with pytest.raises(ValueError, match="rnn_masking='cudnn' has no equivalent recipe"):
        upgrade_config_dict({"rnn_masking": "cudnn"}, DEFAULTS)


def test_unknown_fields_are_dropped_and_missing_ones_filled_with_a_note_each():
    values = {"units": 8, "recipe": "fast", "attention_heads": 4}
    upgraded, notes = upgrade_config_dict(values, DEFAULTS)
    assert upgraded == {"units": 8, "recipe": "fast", "ema_momentum": 0.0, "l2_on": ["embedding"]}
    assert list(upgraded) == list(DEFAULTS)
    assert notes == [
        "dropped attention_heads=4: not a field of this version",
        "ema_momentum was not saved: using 0.0",
        "l2_on was not saved: using ['embedding']",
    ]


def test_an_old_saved_config_loads_into_todays_config_class():
    """A config saved before ema_momentum and recipe existed builds today's config."""
    from helpers.configs import LSTM_CONFIGS

    today = LSTM_CONFIGS["tuned"]
    saved = today.to_dict() | {"rnn_masking": "lengths", "retired_option": True}
    del saved["ema_momentum"], saved["recipe"]
    upgraded, notes = upgrade_config_dict(saved, LSTM_CONFIGS["original"].to_dict())
    config = type(today).from_dict(upgraded)
    # "lengths" masking was the fast recipe, which the tuned configs now pick on a CPU.
    assert config == dataclasses.replace(today, recipe="fast")
    assert any("retired_option" in note for note in notes)
    assert any("ema_momentum" in note for note in notes)


class FakeOOM(RuntimeError):
    pass


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        FakeOOM("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1 bytes"),
        RuntimeError("OOM when allocating tensor with shape[64,300,200]"),
        type("OutOfMemoryError", (RuntimeError,), {})("allocation failed"),
    ],
)
def test_out_of_memory_errors_of_every_backend_are_recognised(error):
    assert is_out_of_memory(error)


def test_other_errors_are_not_out_of_memory():
    assert not is_out_of_memory(ValueError("shapes (3,) and (4,) not aligned"))


def test_halve_on_oom_retries_at_half_the_batch_and_says_so():
    tried, said = [], []

    def fit(batch_size):
        tried.append(batch_size)
        if batch_size > 16:
            raise FakeOOM(f"CUDA out of memory at {batch_size}")
        return "history"

    assert halve_on_oom(fit, 64, log=said.append) == ("history", 16)
    assert tried == [64, 32, 16]
    assert said == [
        "out of memory at batch size 64: retrying at 32",
        "out of memory at batch size 32: retrying at 16",
    ]


def test_halve_on_oom_gives_up_below_the_smallest_batch_in_one_line():
    def fit(batch_size):
        raise MemoryError

    with pytest.raises(DataError, match="out of memory even at batch size 5: use a smaller"):
        halve_on_oom(fit, 40, smallest=4, log=lambda message: None)


def test_halve_on_oom_passes_other_errors_through_at_once():
    tried = []

    def fit(batch_size):
        tried.append(batch_size)
        raise ValueError("bad labels")

    with pytest.raises(ValueError, match="bad labels"):
        halve_on_oom(fit, 64)
    assert tried == [64]


def test_atomic_write_replaces_the_file_whole(tmp_path):
    path = tmp_path / "deep" / "metrics.json"
    atomic_write_text(path, json.dumps({"accuracy": 0.5}))
    atomic_write_text(path, json.dumps({"accuracy": 0.9}))
    assert json.loads(path.read_text()) == {"accuracy": 0.9}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize("failure", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_failing_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, failure):
    path = tmp_path / "metrics.json"
    path.write_text("previous")

    def write(temporary):
        temporary.write_text("half of the new cont")
        raise failure

    with pytest.raises(type(failure)):
        atomic_write(path, write)
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
