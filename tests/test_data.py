"""helpers.data: every source's parser, the bad inputs, labels, sampling, output."""

import gzip
import html
import http.server
import io
import json
import re
import tarfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from tqdm.auto import tqdm

from helpers import data, parsing
from helpers.data import DataError


def snap_record(score="5.0", text="Great coffee.", summary="Yum", product="B001", title=None):
    lines = [f"product/productId: {product}"]
    if title is not None:  # the Internet Archive layout has title and price too
        lines += [f"product/title: {title}", "product/price: unknown"]
    lines += [
        "review/userId: A1",
        "review/profileName: someone",
        "review/helpfulness: 1/1",
        f"review/score: {score}",
        "review/time: 1303862400",
        f"review/summary: {summary}",
        f"review/text: {text}",
    ]
    return "\n".join(lines) + "\n\n"


def write_gz(path: Path, text: str, encoding="latin-1") -> Path:
    with gzip.open(path, "wt", encoding=encoding) as handle:
        handle.write(text)
    return path


@pytest.fixture
def snap_file(tmp_path):
    records = [
        snap_record("5.0", "Best tea I ever had.<br /><br />Would buy again &amp; again."),
        snap_record("1.0", "Stale and <b>awful</b>."),
        snap_record("2.0", "Café quality, not good."),  # latin-1 character
        snap_record("5.0", "Best tea I ever had.<br /><br />Would buy again &amp; again."),
        snap_record("4.0", "   "),
        snap_record("five", "Score is not a number."),
        snap_record("4.0", "Fine."),
    ]
    cut_off = "product/productId: B009\nreview/userId: A9\nreview/score: 4.0\n"
    return write_gz(tmp_path / "finefoods.txt.gz", "".join(records) + cut_off)


def test_snap_parser_cleans_and_reports_what_it_dropped(snap_file):
    reviews, report = parsing.parse_snap(snap_file)
    assert list(reviews.columns) == parsing.COLUMNS
    assert reviews["text"].tolist() == [
        "Best tea I ever had.\nWould buy again & again.",
        "Stale and awful .",
        "Café quality, not good.",
        "Fine.",
    ]
    assert reviews["rating"].tolist() == [5.0, 1.0, 2.0, 4.0]
    assert report.records == 8 and report.kept == 4
    assert report.dropped == {
        "duplicate text": 1,
        "empty text": 1,
        "non-numeric score": 1,
        "malformed record": 1,
    }
    assert "'five'" in report.examples["non-numeric score"]
    assert "malformed record" in str(report) and "line 64" in str(report)


def test_gourmet_layout_with_title_and_price(tmp_path):
    write_gz(
        tmp_path / "Gourmet_Foods.txt.gz",
        snap_record("1.0", "Too salty.", title="Nuts") + snap_record("5.0", "Lovely.", title="Tea"),
    )
    reviews, report = data.load_reviews("gourmet", data_dir=tmp_path)
    assert reviews["text"].tolist() == ["Too salty.", "Lovely."]
    assert report.kept == 2 and not report.dropped


def kaggle_csv(rows):
    frame = pd.DataFrame(
        rows, columns=["Id", "ProductId", "UserId", "ProfileName", "HelpfulnessNumerator",
                       "HelpfulnessDenominator", "Score", "Time", "Summary", "Text"],
    )  # fmt: skip
    return frame.to_csv(index=False)


def test_kaggle_csv_gzipped(tmp_path):
    text = kaggle_csv(
        [
            [1, "B1", "U1", "a", 1, 1, 5, 1, "Good", 'Very "good", really.<br />Yes.'],
            [2, "B1", "U2", "b", 0, 0, 1, 1, "Bad", "Bad."],
            [3, "B2", "U3", "c", 0, 0, "", 1, "?", "No score here."],
        ]
    )
    path = write_gz(tmp_path / "Reviews.csv.gz", text, encoding="utf-8")
    reviews, report = data.load_reviews("kaggle", data_dir=tmp_path)
    assert reviews["id"].tolist() == ["1", "2"]
    assert reviews["text"].tolist() == ['Very "good", really.\nYes.', "Bad."]
    assert reviews["summary"].tolist() == ["Good", "Bad"]
    assert report.dropped == {"missing score": 1}
    assert report.path == str(path)


def imdb_tar(path: Path, members: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            raw = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return path


def test_imdb_tar_reads_labels_and_ratings_and_skips_unsup(tmp_path):
    imdb_tar(
        tmp_path / "aclImdb_v1.tar.gz",
        {
            "aclImdb/README": "readme",
            "aclImdb/train/pos/0_9.txt": "A wonderful film.<br /><br />Loved it.",
            "aclImdb/train/neg/1_2.txt": "Dreadful.",
            "aclImdb/test/pos/7_10.txt": "Masterpiece.",
            "aclImdb/train/unsup/5_0.txt": "No label.",
        },
    )
    reviews, report = data.load_reviews("imdb", data_dir=tmp_path)
    assert report.records == 3
    assert reviews["id"].tolist() == ["train/pos/0", "train/neg/1", "test/pos/7"]
    assert reviews["given_label"].tolist() == [1, 0, 1]
    assert reviews["rating"].tolist() == [9.0, 2.0, 10.0]
    labelled = data.binary_labels(reviews, "given")
    assert labelled["label"].tolist() == [1, 0, 1]


def test_imdb_csv_and_generic_csv(tmp_path):
    (tmp_path / "imdb.csv").write_text(
        "id,label,rating,text\na,pos,8,Fun.\nb,neg,1,Dull.\n", encoding="utf-8"
    )
    reviews, _ = data.load_reviews("imdb", data_dir=tmp_path)
    assert reviews["given_label"].tolist() == [1, 0]
    other = tmp_path / "mine.csv"
    other.write_text("body,stars\nNice.,5\nMeh.,2\n", encoding="utf-8")
    reviews, _ = data.load_reviews("csv", path=other, text_column="body", rating_column="stars")
    assert reviews["rating"].tolist() == [5.0, 2.0]


# --- bad input: one clear line each, nothing half-written ------------------------


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    with pytest.raises(DataError) as error:
        data.load_reviews("finefoods", path=tmp_path / "nope.txt.gz")
    assert "no such file" in one_line(error)


def test_published_snap_file_with_too_few_records_is_refused(tmp_path):
    write_gz(tmp_path / "finefoods.txt.gz", snap_record() + snap_record(text="Other."))
    with pytest.raises(DataError) as error:
        data.load_reviews("finefoods", data_dir=tmp_path)
    assert "2 records, but the published finefoods.txt.gz has 568,454" in one_line(error)
    (tmp_path / "finefoods.txt.gz").rename(tmp_path / "subset.txt.gz")
    reviews, _ = data.load_reviews("finefoods", path=tmp_path / "subset.txt.gz")
    assert len(reviews) == 2


def test_kaggle_without_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as error:
        data.load_reviews("kaggle", data_dir=tmp_path)
    assert "Kaggle" in one_line(error) and "--path" in str(error.value)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_gzip(tmp_path, damage):
    good = write_gz(tmp_path / "good.txt.gz", snap_record() * 2000).read_bytes()
    bad = good[: len(good) // 2] if damage == "truncated" else good[:20] + b"\x00" * 500
    path = tmp_path / "finefoods.txt.gz"
    path.write_bytes(bad)
    with pytest.raises(DataError) as error:
        parsing.parse_snap(path)
    assert "truncated or corrupt" in one_line(error)


def test_truncated_tar(tmp_path):
    members = {f"aclImdb/train/pos/{i}_9.txt": "Good film. " * 200 for i in range(50)}
    full = imdb_tar(tmp_path / "full.tar.gz", members).read_bytes()
    path = tmp_path / "aclImdb_v1.tar.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError) as error:
        parsing.parse_imdb_tar(path)
    assert "truncated or corrupt" in one_line(error)


def test_mostly_non_numeric_scores_is_the_wrong_file(tmp_path):
    records = snap_record("five", "A.") + snap_record("?", "B.") + snap_record("4.0", "C.")
    path = write_gz(tmp_path / "f.txt.gz", records)
    with pytest.raises(DataError) as error:
        parsing.parse_snap(path)
    assert "non-numeric score" in one_line(error)


def test_wrong_encoding_csv(tmp_path):
    path = tmp_path / "Reviews.csv"
    path.write_bytes(
        kaggle_csv([[1, "B", "U", "p", 0, 0, 5, 1, "s", "Crème brûlée."]]).encode("latin-1")
    )
    with pytest.raises(DataError) as error:
        data.load_reviews("kaggle", path=path)
    assert "--encoding latin-1" in one_line(error)
    reviews, _ = data.load_reviews("kaggle", path=path, encoding="latin-1")
    assert reviews["text"].tolist() == ["Crème brûlée."]


def test_wrong_encoding_snap(tmp_path):
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text(snap_record(), encoding="utf-16")
    with pytest.raises(DataError) as error:
        parsing.parse_snap(utf16)
    assert "does not look like a SNAP" in one_line(error)
    utf8 = write_gz(tmp_path / "utf8.txt.gz", snap_record(text="Café au lait, très bon."), "utf-8")
    with pytest.raises(DataError) as error:
        parsing.parse_snap(utf8)
    assert "--encoding utf-8" in one_line(error)
    reviews, _ = parsing.parse_snap(utf8, encoding="utf-8")
    assert reviews["text"].tolist() == ["Café au lait, très bon."]


def test_csv_without_the_named_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("review,stars\nGood.,5\n")
    with pytest.raises(DataError) as error:
        data.load_reviews("csv", path=path, text_column="text", rating_column="stars")
    assert "no column 'text'" in one_line(error) and "review, stars" in str(error.value)


def test_only_empty_reviews(tmp_path):
    path = write_gz(tmp_path / "f.txt.gz", snap_record(text="<br />") + snap_record(text=""))
    with pytest.raises(DataError) as error:
        parsing.parse_snap(path)
    assert "no usable reviews" in one_line(error)


def test_no_network_and_no_local_file_stops_at_once(tmp_path, monkeypatch):
    # Port 9 on loopback refuses connections at once: the same as being offline.
    offline = data.Source(
        name="finefoods", description="", format="snap",
        url="http://127.0.0.1:9/finefoods.txt.gz", file_names=("finefoods.txt.gz",),
    )  # fmt: skip
    monkeypatch.setitem(data.SOURCES, "finefoods", offline)
    started = time.perf_counter()
    with pytest.raises(DataError) as error:
        data.locate("finefoods", data_dir=tmp_path / "raw", cache_dir=tmp_path / "cache")
    assert time.perf_counter() - started < 30
    message = one_line(error)
    assert "no finefoods.txt.gz in" in message and "could not download" in message
    assert "REVIEWS_DATA_DIR" in message


class _Serve(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self):  # noqa: N802 (the standard library's name)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


def test_download_is_verified_and_a_bad_one_is_not_kept(tmp_path, monkeypatch):
    good = write_gz(tmp_path / "src.txt.gz", snap_record()).read_bytes()
    _Serve.payload = good[:-10]  # a truncated transfer
    server = http.server.HTTPServer(("127.0.0.1", 0), _Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/Gourmet_Foods.txt.gz"
        import hashlib

        expected = "sha256:" + hashlib.sha256(good).hexdigest()
        spec = data.Source(name="gourmet", description="", format="snap", url=url,
                           known_hash=expected, file_names=())  # fmt: skip
        monkeypatch.setitem(data.SOURCES, "gourmet", spec)
        cache = tmp_path / "cache"
        with pytest.raises(DataError) as error:
            data.locate("gourmet", data_dir=tmp_path / "raw", cache_dir=cache)
        assert "failed its checksum" in one_line(error)
        assert not (cache / "Gourmet_Foods.txt.gz").exists()
        _Serve.payload = good
        fetched = data.locate("gourmet", data_dir=tmp_path / "raw", cache_dir=cache)
        assert fetched.read_bytes() == good
    finally:
        server.shutdown()


# --- where the project's folders are -----------------------------------------------

REPO = Path(data.__file__).resolve().parents[1]


@pytest.mark.parametrize("start", ["", "notebooks", "helpers"])
def test_default_folders_are_in_the_clone_whichever_folder_the_process_starts_in(
    start, monkeypatch
):
    monkeypatch.delenv("REVIEWS_HOME", raising=False)
    monkeypatch.delenv("REVIEWS_DATA_DIR", raising=False)
    monkeypatch.chdir(REPO / start)
    assert data.project_root() == REPO
    assert data.data_dir_from_env() == REPO / "data" / "raw"
    monkeypatch.setenv("REVIEWS_DATA_DIR", "../shared/data")
    assert data.data_dir_from_env() == REPO / "../shared/data"
    monkeypatch.setenv("REVIEWS_DATA_DIR", "/srv/reviews")
    assert data.data_dir_from_env() == Path("/srv/reviews")


def test_reviews_home_names_the_project_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("REVIEWS_HOME", str(tmp_path))
    monkeypatch.delenv("REVIEWS_DATA_DIR", raising=False)
    assert data.data_dir_from_env() == tmp_path / "data" / "raw"
    assert data.project_path("output/workshop") == tmp_path / "output" / "workshop"


def test_pip_installed_the_root_is_the_nearest_folder_with_data(tmp_path, monkeypatch):
    installed = tmp_path / "site-packages" / "helpers" / "data.py"  # no notebooks/ beside it
    monkeypatch.setattr(data, "__file__", str(installed))
    monkeypatch.delenv("REVIEWS_HOME", raising=False)
    work = tmp_path / "course" / "notebooks"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert data.project_root() == work
    (tmp_path / "course" / "data").mkdir()
    assert data.project_root() == tmp_path / "course"


def test_a_local_file_in_the_default_folder_is_found_from_notebooks(tmp_path, monkeypatch):
    monkeypatch.setenv("REVIEWS_HOME", str(tmp_path))
    monkeypatch.delenv("REVIEWS_DATA_DIR", raising=False)
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    write_gz(raw / "finefoods_sample.txt.gz", snap_record())
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert data.locate("finefoods", download=False) == raw / "finefoods_sample.txt.gz"


# --- labels and the balanced sample ----------------------------------------------


def rated(counts: dict[int, int]) -> pd.DataFrame:
    rows = [
        (f"{stars}-{i}", f"review {i} with {stars} stars", "", float(stars), None)
        for stars, n in counts.items()
        for i in range(n)
    ]
    frame = pd.DataFrame(rows, columns=parsing.COLUMNS)
    return frame.astype({"given_label": "Int8"})


def test_label_schemes():
    reviews = rated({1: 3, 2: 2, 3: 4, 4: 1, 5: 6})
    assert data.binary_labels(reviews, "12v45")["label"].value_counts().to_dict() == {0: 5, 1: 7}
    assert data.binary_labels(reviews, "1v5")["label"].value_counts().to_dict() == {1: 6, 0: 3}
    with pytest.raises(DataError, match="no binary labels"):
        data.binary_labels(reviews, "given")
    ten_star = reviews.assign(rating=reviews["rating"] * 2)
    with pytest.raises(DataError, match="not 5 stars"):
        data.binary_labels(ten_star, "12v45")


def test_balanced_sample_is_balanced_disjoint_and_reproducible():
    labelled = data.binary_labels(rated({1: 40, 2: 20, 4: 30, 5: 90}), "12v45")
    train, test = data.balanced_sample(labelled, 40, 20, seed=7)
    assert train["label"].value_counts().to_dict() == {0: 20, 1: 20}
    assert test["label"].value_counts().to_dict() == {0: 10, 1: 10}
    assert not set(train["text"]) & set(test["text"])
    again, _ = data.balanced_sample(labelled.sample(frac=1, random_state=3), 40, 20, seed=7)
    assert again["text"].tolist() == train["text"].tolist()  # order of input does not matter
    other, _ = data.balanced_sample(labelled, 40, 20, seed=8)
    assert other["text"].tolist() != train["text"].tolist()


def test_balanced_sample_all_and_too_many():
    labelled = data.binary_labels(rated({1: 11, 5: 30}), "12v45")
    train, test = data.balanced_sample(labelled, "all", "all", seed=1)
    assert (len(train), len(test)) == (10, 12)
    train, test = data.balanced_sample(labelled, 4, "all", seed=1)
    assert (len(train), len(test)) == (4, 18)
    with pytest.raises(DataError) as error:
        data.balanced_sample(labelled, 20, 10, seed=1)
    message = one_line(error)
    assert "11 negative and 30 positive" in message and "--n-train all" in message
    with pytest.raises(DataError, match="even"):
        data.balanced_sample(labelled, 5, 4, seed=1)


def test_write_split_is_atomic(tmp_path, monkeypatch):
    labelled = data.binary_labels(rated({1: 10, 5: 10}), "12v45")
    train, test = data.balanced_sample(labelled, 8, 8, seed=1)
    out = tmp_path / "split"
    data.write_split(out, train, test, {"seed": 1})
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(self, path, **kwargs):
        Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError):
        data.write_split(out, train.head(2), test, {"seed": 2})
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["split"]  # no temporary folder left
    train_back, test_back, manifest = data.read_split(out)
    assert manifest == {"seed": 1} and train_back["text"].tolist() == train["text"].tolist()


# clean_text as it was first written, four substitutions in a row: the definition that
# the faster clean_text must keep to, on any text.
def reference_clean_text(raw):
    text = re.sub(r"<\s*br\s*/?\s*>", "\n", raw, flags=re.IGNORECASE)
    text = re.sub(r"</?[a-zA-Z][^<>]{0,200}>", " ", text)
    text = re.sub(r"[ \t\r\f\v\u00a0]+", " ", html.unescape(text))
    return re.sub(r"\s*\n\s*", "\n", text).strip()


AWKWARD_TEXTS = [
    "", " ", "a", " a  b\t\tc \u00a0d\u00a0 e\x0bf ", "\n", " \n \n\t\n x \n\n y\n",
    "a<br>b<BR />c< br/ >d", "x <b>bold</b> &amp; &lt;br&gt; &#10; y", "\u2028a \u2003 b\x1c\nc",
    "line\r\nline\r\n\r\n", "tab\t\n\tend", "<br><br> <br />", "\u00a0\n\u00a0",
]  # fmt: skip


def test_clean_text_keeps_to_its_definition():
    for text in AWKWARD_TEXTS:
        assert parsing.clean_text(text) == reference_clean_text(text), repr(text)


# --- the real files --------------------------------------------------------------


@pytest.mark.shared_data
def test_real_finefoods_txt_and_csv_agree(shared_data):
    snap, snap_report = data.load_reviews("finefoods", path=shared_data / "finefoods_sample.txt.gz")
    kaggle, _ = data.load_reviews("kaggle", path=shared_data / "finefoods_reviews_sample.csv.gz")
    assert len(snap) == len(kaggle) == 9659
    assert snap_report.records == 9659 and not snap_report.dropped
    a = snap.sort_values("text").reset_index(drop=True)
    b = kaggle.sort_values("text").reset_index(drop=True)
    assert a["text"].equals(b["text"]) and a["rating"].equals(b["rating"])
    assert a["rating"].value_counts().to_dict() == {5: 6041, 4: 1344, 1: 919, 3: 793, 2: 562}
    assert not snap["text"].str.contains("<br", regex=False).any()


@pytest.mark.shared_data
def test_clean_text_keeps_to_its_definition_on_real_reviews(shared_data):
    raw = pd.read_csv(shared_data / "finefoods_reviews_sample.csv.gz")
    texts = raw["Text"].tolist() + raw["Summary"].fillna("").tolist()
    assert sum("<br" in text for text in texts) > 1000  # the real file's HTML is exercised
    assert [parsing.clean_text(t) for t in texts] == [reference_clean_text(t) for t in texts]


@pytest.mark.shared_data
def test_real_imdb(shared_data):
    reviews, report = data.load_reviews("imdb", path=shared_data / "imdb_train.csv.gz")
    assert report.records == 25000
    assert report.dropped == {"duplicate text": 98}  # IMDB's train half repeats 98 texts
    assert len(reviews) == 24902
    assert reviews["given_label"].value_counts().to_dict() == {1: 12471, 0: 12431}
    train, test = data.balanced_sample(data.binary_labels(reviews, "given"), 10000, 10000, 42)
    assert len(train) == len(test) == 10000


@pytest.mark.shared_data
def test_cli_data_command(shared_data, tmp_path, capsys):
    from helpers.cli import main

    out = tmp_path / "split"
    args = ["data", "--source", "finefoods", "--data-dir", str(shared_data), "--n-train", "all",
            "--n-test", "all", "--seed", "42", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "9,659 records" in printed and "train 1,480" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["train"] == {"negative": 740, "positive": 740}
    assert manifest["test"] == {"negative": 741, "positive": 741}
    assert manifest["labelled"] == {"negative": 1481, "positive": 7385}
    assert manifest["input_sha256"].startswith("427e199c")
    unlabelled = data.read_unlabelled(out)
    assert len(unlabelled) == manifest["unlabelled"] == 9659 - 1480 - 1482
    train, test, _ = data.read_split(out)
    assert not set(unlabelled) & (set(train["text"]) | set(test["text"]))
    too_many = args[:5] + ["--n-train", "2000", "--n-test", "2000", "--out", str(tmp_path / "x")]
    assert main(too_many) == 2
    assert "1,481 negative" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_unlabelled_texts_are_capped_by_a_seeded_draw_that_ignores_file_order():
    reviews = pd.DataFrame({"text": [f"review {n}" for n in range(200)]})
    train, test = reviews.iloc[:10], reviews.iloc[10:20]
    assert len(data.unlabelled_texts(reviews, train, test)) == 180
    capped = data.unlabelled_texts(reviews, train, test, limit=50, seed=3)
    assert len(capped) == 50 and not set(capped["text"]) & set(reviews["text"][:20])
    assert capped["text"].map(lambda t: int(t.split()[1])).is_monotonic_increasing  # file order
    shuffled = reviews.sample(frac=1, random_state=0)
    again = data.unlabelled_texts(shuffled, train, test, limit=50, seed=3)
    assert set(again["text"]) == set(capped["text"])
    other = data.unlabelled_texts(reviews, train, test, limit=50, seed=4)
    assert set(other["text"]) != set(capped["text"])
    assert len(data.unlabelled_texts(reviews, train, test, limit=0)) == 0
    assert len(data.unlabelled_texts(reviews, train, test, limit=1000)) == 180


@pytest.mark.parametrize("name", ["reviews.txt.gz", "reviews.txt"])
def test_the_parser_shows_a_bar_over_the_file_s_bytes_on_long_steps(tmp_path, monkeypatch, name):
    body = "".join(snap_record(text=f"Tea number {n}.") for n in range(50))
    path = tmp_path / name
    if name.endswith(".gz"):
        write_gz(path, body)
    else:
        path.write_text(body, encoding="latin-1")
    quiet, _ = parsing.parse_snap(path, progress=False)
    bars = []

    def recording(*args, **kwargs):
        bar = tqdm(*args, **kwargs)
        if not kwargs["disable"]:  # not the first line's format check
            bars.append(bar)
        return bar

    monkeypatch.setattr(parsing, "tqdm", recording)
    shown, report = parsing.parse_snap(path)
    pd.testing.assert_frame_equal(shown, quiet)
    assert report.kept == 50
    assert [bar.desc for bar in bars] == [f"reading {name}", "cleaning"]
    assert bars[0].n == bars[0].total == path.stat().st_size and bars[1].n == 50
    assert bars[0].delay == bars[1].delay == parsing.BAR_DELAY
