"""helpers.shards: a corpus written to shards in one streaming pass, read batch by batch."""

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import parsing, shards
from helpers.data import DataError, binary_labels
from helpers.text import Vocabulary, WordNumbering
from helpers.train import text_encoder_for, train_model, training_data
from tests.conftest import tiny_config


def snap_records(path, count):
    """The first ``count`` records of a SNAP file, each as its text (ending in a blank line)."""
    records, record = [], []
    with gzip.open(path, "rt", encoding="latin-1") as handle:
        for line in handle:
            record.append(line)
            if not line.strip():
                records.append("".join(record))
                record = []
                if len(records) == count:
                    break
    return records


@pytest.fixture(scope="module")
def sample(shared_data):
    return shared_data / "finefoods_sample.txt.gz"


@pytest.fixture(scope="module")
def flat(sample, tmp_path_factory):
    """The whole real sample in shards of about 3,000 rows, from chunks of 1,000 reviews."""
    out = tmp_path_factory.mktemp("shards") / "flat"
    return shards.write_shards(
        tiny_config("lstm"), sample, out, chunk_size=1000, shard_rows=3000, progress=False
    )


def in_memory(config, path, kind):
    """What training does today with the file: parse, label, fit and encode in memory."""
    reviews, _ = parsing.parse_snap(path, progress=False)
    labelled = binary_labels(reviews, "12v45")
    encoder = text_encoder_for(config, labelled["text"])
    ids, stats = encoder.encode(labelled["text"], kind)
    return encoder, ids, labelled["label"].to_numpy(), stats


def test_word_numbering_ranks_words_as_the_vocabulary_does():
    tokens = [["b", "a", "c", "a"], ["d", "a", "b"], [], ["e"]]
    numbering = WordNumbering()
    provisional = [numbering.encode(t) for t in tokens]
    vocabulary, renumbering = numbering.vocabulary(num_words=5)
    expected = Vocabulary.fit(tokens, num_words=5)
    assert vocabulary.to_dict() == expected.to_dict()
    assert [renumbering[ids].tolist() for ids in provisional] == [
        expected.encode(t) for t in tokens
    ]


def test_streamed_chunks_hold_what_parse_snap_keeps(sample, tmp_path):
    """Duplicates across chunks, an empty text and a malformed record are dropped alike."""
    records = snap_records(sample, 300)
    empty = re.sub(r"review/text: .*\n", "review/text: <br />\n", records[5])
    path = tmp_path / "dups.txt.gz"
    with gzip.open(path, "wt", encoding="latin-1") as handle:
        handle.write("".join([*records, *records[100:160], empty, "review/text only\n\n"]))
    whole, whole_report = parsing.parse_snap(path, progress=False)
    chunks, report = parsing.stream_snap(path, chunk_size=70, progress=False)
    streamed = pd.concat(list(chunks), ignore_index=True)
    pd.testing.assert_frame_equal(streamed, whole)
    assert report.dropped == whole_report.dropped
    assert report.dropped["duplicate text"] == 60 and report.dropped["empty text"] == 1
    assert (report.records, report.kept) == (whole_report.records, len(whole))


@pytest.mark.shared_data
def test_flat_shards_hold_what_the_encoder_gives(flat, sample):
    encoder, ids, labels, stats = in_memory(tiny_config("lstm"), sample, "flat")
    assert len(flat.manifest["shards"]) > 1  # rows come from several files
    assert flat.encoder.to_dict() == encoder.to_dict()  # the vocabulary fitted in one pass
    assert flat.ids.shape == ids.shape and flat.ids.dtype == ids.dtype
    np.testing.assert_array_equal(flat.ids[np.arange(len(ids))], ids)
    np.testing.assert_array_equal(flat.labels, labels)
    np.testing.assert_array_equal(flat.lengths, stats.lengths)
    rows = np.random.default_rng(0).permutation(len(ids))[:500]
    np.testing.assert_array_equal(flat.ids[rows], ids[rows])  # any order, across shards
    np.testing.assert_array_equal(flat.ids.take(rows)[-3:], ids[rows][-3:])
    np.testing.assert_array_equal(flat.ids[-1], ids[-1])
    np.testing.assert_array_equal(flat.ids[10:20], ids[10:20])
    assert flat.manifest["encoding"]["tokens"] == stats.tokens


@pytest.mark.shared_data
def test_hierarchical_shards_hold_what_the_encoder_gives(sample, tmp_path):
    path = tmp_path / "first.txt.gz"
    with gzip.open(path, "wt", encoding="latin-1") as handle:
        handle.write("".join(snap_records(sample, 600)))
    config = tiny_config("han")
    corpus = shards.write_shards(config, path, tmp_path / "han", chunk_size=250, progress=False)
    encoder, ids, labels, stats = in_memory(config, path, "hierarchical")
    assert corpus.manifest["kind"] == "hierarchical" and ids.ndim == 3
    assert corpus.encoder.to_dict() == encoder.to_dict()
    np.testing.assert_array_equal(corpus.ids[np.arange(len(ids))], ids)
    np.testing.assert_array_equal(corpus.labels, labels)
    np.testing.assert_array_equal(corpus.lengths, stats.sentence_counts)


@pytest.mark.shared_data
@pytest.mark.parametrize("recipe", ["padded", "fast", "bucketed"])
def test_batches_from_shards_equal_batches_from_the_array(flat, recipe):
    config = tiny_config("lstm", recipe=recipe)
    array = flat.ids[np.arange(len(flat))]
    from_disk = flat.training_data(config, seed=3)
    from_memory = training_data(config, array, flat.labels, flat.lengths, seed=3)
    disk, memory = from_disk.batches, from_memory.batches
    assert type(disk) is type(memory) and len(disk) == len(memory)
    for i in range(len(disk)):
        (disk_ids, disk_labels), (ids, labels) = disk[i], memory[i]
        np.testing.assert_array_equal(disk_ids, ids)
        np.testing.assert_array_equal(disk_labels, labels)
    disk_held, memory_held = from_disk.batches.ids, from_memory.batches.ids
    assert isinstance(disk_held, shards.ShardedIds) and len(disk_held) == len(memory_held)


@pytest.mark.shared_data
def test_the_reader_holds_only_the_rows_asked_for(flat, tmp_path):
    """Reading every row, batch by batch, leaves no shard mapped into this process (a map
    would keep what it read resident); each batch is a new array of just its rows."""
    import psutil

    folder = copy_of(flat, tmp_path)
    corpus = shards.open_shards(folder)
    for rows in np.array_split(np.random.default_rng(1).permutation(len(corpus)), 100):
        batch = corpus.ids[rows]
        assert type(batch) is np.ndarray and batch.flags.owndata and len(batch) == len(rows)
    mapped = {Path(m.path) for m in psutil.Process().memory_maps()}
    assert not mapped & {folder / s["file"] for s in corpus.manifest["shards"]}
    with pytest.raises(TypeError, match="into memory"):
        np.asarray(corpus.ids)
    with pytest.raises(IndexError):
        corpus.ids[len(corpus)]
    last = folder / corpus.manifest["shards"][-1]["file"]
    last.write_bytes(last.read_bytes()[:-100])  # cut short after it was opened
    with pytest.raises(DataError, match="cut short"):
        corpus.ids[[len(corpus) - 1]]


@pytest.mark.shared_data
@pytest.mark.slow
def test_a_model_trains_from_shards_for_an_epoch(flat, tmp_path):
    from helpers.models import compile_model, model_kind

    config = tiny_config("lstm", num_words=flat.encoder.num_words)
    model = compile_model(model_kind(config).build(config), config)
    data = flat.training_data(config)
    assert isinstance(data.batches.ids, shards.ShardedIds)
    run = train_model(model, config, data, tmp_path, epochs=1, verbose=0)
    assert len(run.history) == 1 and 0 < run.history["val_accuracy"].iloc[0] <= 1
    assert np.isfinite(run.history["loss"].iloc[0])


def copy_of(corpus, tmp_path):
    import shutil

    return shutil.copytree(corpus.folder, tmp_path / "copy")


@pytest.mark.shared_data
def test_missing_or_damaged_shards_fail_in_one_line(flat, tmp_path):
    with pytest.raises(DataError, match="no such folder of shards"):
        shards.open_shards(tmp_path / "nowhere")
    folder = copy_of(flat, tmp_path)
    shard = folder / flat.manifest["shards"][1]["file"]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="shard damaged|shard holds"):
        shards.open_shards(folder)
    shard.unlink()
    with pytest.raises(DataError, match="shard missing"):
        shards.open_shards(folder)
    shard.write_bytes(data)
    (folder / shards.LABELS).unlink()
    with pytest.raises(DataError, match="labels.npy is missing"):
        shards.open_shards(folder)
    manifest = json.loads((folder / shards.MANIFEST).read_text())
    manifest["shards"][0]["stop"] += 1
    (folder / shards.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="do not tile"):
        shards.open_shards(folder)
    (folder / shards.MANIFEST).write_text("{not json")
    with pytest.raises(DataError, match="manifest.json is damaged"):
        shards.open_shards(folder)


@pytest.mark.shared_data
def test_an_interrupted_write_leaves_no_folder_that_looks_whole(
    flat, sample, tmp_path, monkeypatch
):
    folder = copy_of(flat, tmp_path)
    written = Counter()  # shards written
    real = shards._renumbered

    def fail_on_the_second(*args):
        written["shards"] += 1
        if written["shards"] == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(shards, "_renumbered", fail_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        shards.write_shards(tiny_config("lstm"), sample, folder, chunk_size=1000, shard_rows=3000,
                            progress=False)  # fmt: skip
    assert not list(folder.glob(".*partial*"))
    with pytest.raises(DataError, match="interrupted"):
        shards.open_shards(folder)


@pytest.mark.shared_data
def test_the_shards_command_writes_a_folder_training_can_open(shared_data, tmp_path, capsys):
    from helpers import cli

    out = tmp_path / "shards"
    args = ["shards", "--data-dir", str(shared_data), "--model", "lstm", "--out", str(out)]
    assert cli.main(args) == 0
    assert "labelled" in capsys.readouterr().out
    corpus = shards.open_shards(out)
    assert corpus.manifest["kind"] == "flat" and corpus.manifest["parse"]["records"] == 9659
    assert cli.main(["shards", "--source", "imdb", "--out", str(out)]) == 2
    assert "SNAP review files" in capsys.readouterr().err
