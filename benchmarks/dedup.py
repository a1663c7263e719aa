"""Near-duplicate detection: lexqa.dedup (vectorised MinHash LSH + exact verification) against datasketch's
MinHash + MinHashLSH, on the same synthetic chunks with planted near-duplicates.

Each implementation runs in its own process, which reads the corpus from a file and then resets its peak RSS
(Linux ``/proc/self/clear_refs``), so the peak reported is the implementation's own. Run::

    .venv/bin/python benchmarks/dedup.py               # 200,000 chunks (minutes: datasketch is the slow one)
    .venv/bin/python benchmarks/dedup.py --n 20000     # a quick look
    .venv/bin/python benchmarks/dedup.py --quick       # smoke run for CI: 2,000 chunks, figures meaningless

Chunks are 120–260 words drawn from a Zipfian vocabulary of French- and Russian-looking words (the size of
a 256-token chunk). ``--planted`` of them are copies of another chunk with 0 to 8 random word edits
(substitution, insertion, deletion), plus case and punctuation changes; their true Jaccard over word 5-gram
shingles is computed exactly. Recall is the share of planted copies whose true Jaccard is at least the
threshold that end up in their original's cluster; precision is the share of rows flagged as duplicates whose
true Jaccard with the row kept for them is at least the threshold. Targets (issue 4): ≥ 10,000 chunks/s on
2 cores, recall ≥ 0.95, memory < 2 GB.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import re
import sys
import tempfile
import time

import numpy as np
from support.quick import parse_args

NGRAM = 5
WORD = re.compile(r"\w+")


def make_corpus(n: int, planted: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` texts, the last ``planted`` being edited copies of earlier ones, and each copy's original."""
    rng = np.random.default_rng(seed)
    size = 50_000
    stems = [f"{'слов' if i % 3 == 0 else 'mot'}{i:x}" for i in range(size)]
    p = 1.0 / np.arange(1, size + 1) ** 1.05
    p /= p.sum()
    base = n - planted
    lengths = rng.integers(120, 261, base)
    words = rng.choice(size, int(lengths.sum()), p=p)
    docs: list[list[str]] = []
    start = 0
    for length in lengths:
        docs.append([stems[w] for w in words[start : start + length]])
        start += length
    originals = rng.integers(0, base, planted)
    copies = []
    for orig in originals:
        doc = list(docs[orig])
        for _ in range(int(rng.integers(0, 9))):
            pos = int(rng.integers(0, len(doc)))
            op = rng.integers(0, 3)
            if op == 0:
                doc[pos] = stems[int(rng.integers(0, size))]
            elif op == 1:
                doc.insert(pos, stems[int(rng.integers(0, size))])
            elif len(doc) > NGRAM:
                del doc[pos]
        copies.append(doc)
    texts = [" ".join(d) + "." for d in docs]
    texts += [" ".join(d).capitalize() + " ;" for d in copies]
    return texts, originals


def true_jaccard(a: str, b: str) -> float:
    def grams(text: str) -> set[tuple[str, ...]]:
        w = WORD.findall(text.lower())
        return {tuple(w[i : i + NGRAM]) for i in range(max(len(w) - NGRAM + 1, 1))}

    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y)


def run_lexqa(texts: list[str], threshold: float, num_perm: int) -> np.ndarray:
    from lexqa.dedup import near_duplicates

    dups = near_duplicates(texts, threshold=threshold, unit="word", ngram=NGRAM, num_perm=num_perm, threads=2)
    return dups.duplicate_of


def run_datasketch(texts: list[str], threshold: float, num_perm: int) -> np.ndarray:
    from datasketch import LeanMinHash, MinHash, MinHashLSH
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    template = MinHash(num_perm=num_perm)
    sketches = []
    for i, text in enumerate(texts):
        w = WORD.findall(text.lower())
        grams = {" ".join(w[k : k + NGRAM]).encode() for k in range(max(len(w) - NGRAM + 1, 1))}
        m = MinHash(num_perm=num_perm, permutations=template.permutations, scheme=template.scheme)
        m.update_batch(grams)
        lean = LeanMinHash(m)
        lsh.insert(i, lean)
        sketches.append(lean)
    rows, cols = [], []
    for i, m in enumerate(sketches):
        for j in lsh.query(m):
            if j != i:
                rows.append(i)
                cols.append(j)
    n = len(texts)
    graph = coo_array((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    first = np.full(labels.max() + 1, n)
    np.minimum.at(first, labels, np.arange(n))
    return first[labels]


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def child(name: str, corpus: str, threshold: float, num_perm: int, repeats: int, queue: mp.Queue) -> None:
    with open(corpus, encoding="utf-8") as fh:
        texts = [json.loads(line) for line in fh]
    import datasketch  # imports outside the timing

    import lexqa.dedup

    del datasketch, lexqa
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to the current RSS
        fh.write("5")
    rss0 = _status_mb("VmRSS")
    fn = run_lexqa if name == "lexqa" else run_datasketch
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        keep_of = fn(texts, threshold, num_perm)
        times.append(time.perf_counter() - start)
    queue.put((min(times), rss0, _status_mb("VmHWM"), keep_of))


def measure(name: str, corpus: str, args: argparse.Namespace) -> tuple[float, float, float, np.ndarray]:
    """Run one implementation in a fresh process that reads the corpus from ``corpus``; the peak memory
    reported is counted from once the texts are loaded."""
    repeats = args.repeats if name == "lexqa" else 1
    queue: mp.Queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(
        target=child, args=(name, corpus, args.threshold, args.num_perm, repeats, queue)
    )
    proc.start()
    result = queue.get()
    proc.join()
    return result


def score(texts: list[str], originals: np.ndarray, truth: np.ndarray, keep_of: np.ndarray, t: float) -> dict:
    base = len(texts) - len(originals)
    copies = np.arange(base, len(texts))
    found = keep_of[copies] == keep_of[originals]
    near = truth >= t
    flagged = np.flatnonzero(keep_of != np.arange(len(texts)))
    sample = flagged[:: max(1, len(flagged) // 2000)]
    precise = [true_jaccard(texts[i], texts[keep_of[i]]) >= t for i in sample]
    bins = {}
    for lo in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        sel = (truth >= lo) & (truth < lo + (0.05 if lo >= 0.8 else 0.1) + (1e-9 if lo == 0.95 else 0))
        if sel.any():
            bins[f"{lo:.2f}"] = (int(sel.sum()), float(found[sel].mean()))
    return {
        "recall": float(found[near].mean()) if near.any() else float("nan"),
        "precision": float(np.mean(precise)) if precise else float("nan"),
        "flagged": len(flagged),
        "bins": bins,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="chunks in all, planted copies included")
    parser.add_argument("--planted", type=int, default=None, help="planted near-duplicates (default n/50)")
    parser.add_argument("--threshold", type=float, default=0.8, help="Jaccard threshold over word 5-grams")
    parser.add_argument("--num-perm", type=int, default=64, help="MinHash permutations for both")
    parser.add_argument("--repeats", type=int, default=3, help="lexqa runs; the fastest is reported")
    parser.add_argument("--skip-datasketch", action="store_true")
    args = parse_args(parser, "2,000 chunks, one run", n=2000, repeats=1)
    args.planted = args.planted if args.planted is not None else args.n // 50

    texts, originals = make_corpus(args.n, args.planted)
    base = args.n - args.planted
    truth = np.array([true_jaccard(texts[o], texts[base + i]) for i, o in enumerate(originals)])
    print(
        f"{args.n:,} chunks ({np.mean([len(t) for t in texts]):.0f} characters on average), "
        f"{args.planted:,} planted copies ({(truth >= args.threshold).sum():,} at Jaccard >= "
        f"{args.threshold}); num_perm={args.num_perm}; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = {}
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8", delete=False) as fh:
        fh.writelines(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
    for name in ("lexqa", "datasketch"):
        if name == "datasketch" and args.skip_datasketch:
            continue
        elapsed, rss0, rss, keep_of = measure(name, fh.name, args)
        s = score(texts, originals, truth, keep_of, args.threshold)
        results[name] = elapsed
        best = f" (best of {args.repeats})" if name == "lexqa" and args.repeats > 1 else ""
        print(
            f"{name:<11} {elapsed:8.1f} s{best}  {args.n / elapsed:9,.0f} chunks/s  peak RSS {rss:7,.0f} MB "
            f"(+{rss - rss0:,.0f} MB over the loaded texts)  recall {s['recall']:.4f}  "
            f"precision {s['precision']:.4f}  flagged {s['flagged']:,}",
            flush=True,
        )
        bins = ", ".join(f"[{k}: {v[1]:.3f} of {v[0]}]" for k, v in s["bins"].items())
        print(f"            recall by true Jaccard: {bins}")
    os.unlink(fh.name)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes share these CPUs)")
    if len(results) == 2:
        print(f"speed-up lexqa / datasketch: {results['datasketch'] / results['lexqa']:.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
