"""Prepare training data in the upstream Parameter Golf format.

Two modes:

* official data (default): download the sp1024 FineWeb shards and the SentencePiece tokenizer from
  the challenge's Hugging Face dataset with ``huggingface_hub`` (honours ``HF_ENDPOINT``, ``HF_TOKEN``
  and the hub cache); files are placed under ``OUT/datasets/fineweb10B_sp1024/`` and
  ``OUT/tokenizers/``::

      python training/prepare_data.py --out data --train-shards 1

* ``--from-text PATH...`` / ``--from-stdlib``: train a SentencePiece BPE tokenizer (vocab 1024,
  byte fallback, split digits, no dummy prefix; pad/bos/eos/unk = 0/1/2/3) on local text and write
  ``fineweb_{train,val}_NNNNNN.bin`` shards (256 little-endian int32 header words — magic 20240520,
  version 1, token count — then uint16 tokens; every document starts with BOS). ``--from-stdlib``
  uses the docstrings of the Python standard library, so a tiny English corpus needs no download::

      python training/prepare_data.py --from-stdlib --out /tmp/tiny

Every shard written or downloaded is read back and validated; a bad one fails with its path.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

MAGIC = 20240520
VERSION = 1
HEADER_WORDS = 256
DATASET_DIR = "fineweb10B_sp1024"
TOKENIZER_NAME = "fineweb_1024_bpe"
REPO_ID = os.environ.get("MATCHED_FINEWEB_REPO_ID", "willdepueoai/parameter-golf")
REMOTE_ROOT = os.environ.get("MATCHED_FINEWEB_REMOTE_ROOT", "matched_10B_docs2m_seed1337")
MAX_TRAIN_SHARDS = 25
SHARD_TOKENS = 100_000_000


class ShardError(ValueError):
    """A shard is malformed; the message starts with its path."""


def write_shard(path: Path | str, tokens: Sequence[int] | np.ndarray) -> None:
    """Write one shard atomically (temp file + rename)."""
    arr = np.asarray(tokens)
    if arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise ShardError(f"{path}: token ids must fit in uint16")
    header = np.zeros(HEADER_WORDS, dtype="<i4")
    header[0], header[1], header[2] = MAGIC, VERSION, arr.size
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(header.tobytes())
        f.write(arr.astype("<u2").tobytes())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_shard(path: Path | str) -> np.ndarray:
    """Read one shard; wrong magic, version or length raises ShardError naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        header = np.fromfile(path, dtype="<i4", count=HEADER_WORDS)
    except OSError as exc:
        raise ShardError(f"{path}: cannot read shard ({exc.strerror})") from None
    if header.size != HEADER_WORDS:
        raise ShardError(f"{path}: header truncated ({size} bytes, need {HEADER_WORDS * 4})")
    if int(header[0]) != MAGIC:
        raise ShardError(f"{path}: bad magic {int(header[0])} (expected {MAGIC})")
    if int(header[1]) != VERSION:
        raise ShardError(f"{path}: unsupported version {int(header[1])} (expected {VERSION})")
    count = int(header[2])
    expected = HEADER_WORDS * 4 + 2 * count
    if count < 0 or size != expected:
        raise ShardError(
            f"{path}: length {size} bytes does not match header token count {count} ({expected} bytes)"
        )
    return np.fromfile(path, dtype="<u2", count=count, offset=HEADER_WORDS * 4)


# ----------------------------------------------------------------------------- local text


def stdlib_docstrings(max_chars: int) -> list[str]:
    """Docstrings of the standard library's modules, classes and functions (sorted, deterministic)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    docs: list[str] = []
    total = 0
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if any(p in ("test", "tests", "idlelib", "site-packages", "lib2to3") for p in rel):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= 40:
                    docs.append(doc)
                    total += len(doc)
                    if total >= max_chars:
                        return docs
    return docs


def text_documents(paths: Iterable[Path]) -> list[str]:
    """Documents from text files: blank-line separated paragraphs (directories: their *.txt, *.md)."""
    docs: list[str] = []
    for p in paths:
        files = sorted([*p.rglob("*.txt"), *p.rglob("*.md")]) if p.is_dir() else [p]
        for f in files:
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise SystemExit(f"error: {f}: cannot read text ({exc})") from None
            docs += [d.strip() for d in text.split("\n\n") if d.strip()]
    return docs


def train_tokenizer(docs: list[str], out_dir: Path, vocab_size: int = 1024) -> Path:
    import sentencepiece as spm

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(d.replace("\n", " ") for d in docs), encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(Path(tmp) / TOKENIZER_NAME),
            model_type="bpe",
            vocab_size=vocab_size,
            character_coverage=0.999,
            byte_fallback=True,
            split_digits=True,
            add_dummy_prefix=False,
            normalization_rule_name="nmt_nfkc",
            pad_id=0,
            bos_id=1,
            eos_id=2,
            unk_id=3,
            hard_vocab_limit=True,
            input_sentence_size=200_000,
            shuffle_input_sentence=False,
            num_threads=2,
            minloglevel=2,
        )
        for ext in (".model", ".vocab"):
            shutil.copyfile(Path(tmp) / (TOKENIZER_NAME + ext), out_dir / (TOKENIZER_NAME + ext))
    return out_dir / (TOKENIZER_NAME + ".model")


def from_text(
    docs: list[str], out: Path, val_fraction: float, shard_tokens: int, seed: int = 1337
) -> dict[str, object]:
    import sentencepiece as spm

    if len(docs) < 4:
        raise SystemExit("error: need at least 4 documents of text")
    docs = list(docs)
    random.Random(seed).shuffle(docs)  # like FineWeb: no long runs of one source
    model = train_tokenizer(docs, out / "tokenizers")
    sp = spm.SentencePieceProcessor(model_file=str(model))
    n_val = max(1, int(len(docs) * val_fraction))
    splits = {"val": docs[-n_val:], "train": docs[:-n_val]}
    data = out / "datasets" / DATASET_DIR
    counts: dict[str, int] = {}
    for split, split_docs in splits.items():
        ids: list[int] = []
        for piece_ids in sp.encode(split_docs):
            ids.append(sp.bos_id())
            ids.extend(piece_ids)
        counts[split] = len(ids)
        for k, start in enumerate(range(0, len(ids), shard_tokens)):
            path = data / f"fineweb_{split}_{k:06d}.bin"
            write_shard(path, ids[start : start + shard_tokens])
            read_shard(path)
    return {"tokenizer": str(model), "data_path": str(data), "tokens": counts, "documents": len(docs)}


# ----------------------------------------------------------------------------- Hugging Face


def download(out: Path, train_shards: int, revision: str | None = None) -> dict[str, object]:
    from huggingface_hub import hf_hub_download

    if not 0 <= train_shards <= MAX_TRAIN_SHARDS:
        raise SystemExit(f"error: --train-shards must be between 0 and {MAX_TRAIN_SHARDS}")
    wanted = [f"datasets/{DATASET_DIR}/fineweb_val_000000.bin"]
    wanted += [f"datasets/{DATASET_DIR}/fineweb_train_{i:06d}.bin" for i in range(1, train_shards + 1)]
    wanted += [f"tokenizers/{TOKENIZER_NAME}.model", f"tokenizers/{TOKENIZER_NAME}.vocab"]
    cached: dict[str, str] = {}
    for rel in wanted:  # fetch (or reuse from the hub cache) and validate everything first ...
        cached[rel] = hf_hub_download(
            repo_id=REPO_ID, filename=f"{REMOTE_ROOT}/{rel}", repo_type="dataset", revision=revision
        )
        if rel.endswith(".bin"):
            read_shard(cached[rel])
    placed = []
    for rel, src in cached.items():  # ... then place the files, each atomically
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        placed.append(str(dest))
    return {"files": placed, "data_path": str(out / "datasets" / DATASET_DIR)}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data"), help="output root (default ./data)")
    ap.add_argument("--train-shards", type=int, default=1, help="training shards to download (1..25)")
    ap.add_argument("--revision", default=None, help="dataset revision (default: main)")
    ap.add_argument("--from-text", nargs="+", type=Path, metavar="PATH", help="build from local text files")
    ap.add_argument("--from-stdlib", action="store_true", help="build from Python stdlib docstrings")
    ap.add_argument("--max-chars", type=int, default=3_000_000, help="corpus cap for --from-stdlib")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--shard-tokens", type=int, default=SHARD_TOKENS)
    ap.add_argument("--seed", type=int, default=1337, help="document shuffle seed")
    a = ap.parse_args(argv)
    try:
        if a.from_text or a.from_stdlib:
            docs = text_documents(a.from_text) if a.from_text else []
            if a.from_stdlib:
                docs += stdlib_docstrings(a.max_chars)
            info = from_text(docs, a.out, a.val_fraction, a.shard_tokens, a.seed)
        else:
            info = download(a.out, a.train_shards, a.revision)
    except ShardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
