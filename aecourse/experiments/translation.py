"""English → French without and with attention: the runs behind the translation chapter's BLEU table.

For each translator (``plain``: the code alone; ``attention``: Bahdanau et al. 2015), learning rate and
seed: train a :class:`~aecourse.models.seq2seq.Seq2Seq` for at most ``epochs`` epochs, keep the weights of
the epoch with the lowest validation loss (the scored checkpoint), and score it on the test split:

- greedy decoding and beam search, each test English sentence translated once and scored by BLEU against
  *all* its French translations (Tatoeba gives 57% of the test pairs an English sentence that other
  pairs share; :func:`aecourse.evaluation.decoding.group_references`); the whole test set, not a part;
- the same greedy translations scored pair by pair against one reference each, the older protocol, to show
  what multi-reference scoring changes;
- beam search's length normalisation α is chosen per run on the validation split's BLEU, from ``alphas``.

Tuning, the same for both translators: every learning rate of ``lrs`` is run with every seed, and
:func:`summarise` picks for each translator the rate with the lowest mean best validation loss; the test
numbers of that rate are reported as mean ± standard error over the seeds. The data split (``split_seed``)
is the same for every run; a run's seed sets the initial weights and the order of the batches.
Two trivial translators (the most frequent training sentence; a copy of the English) are scored once.

One row per run in a stamped results file (:mod:`aecourse.experiments.stamp`), resumable::

    python -m aecourse.experiments.translation --out translation.json --device cuda --shard 0/3

``--shard K/N`` runs every N-th run from the K-th, ordered so that with N = the number of seeds each
shard is one seed; the shards' files are merged with :func:`aecourse.experiments.stamp.merge_results`.

How this differs from the papers, so that no number is read against theirs: Sutskever et al. (2014) and
Bahdanau et al. (2015) trained on WMT'14 English–French (about 12M sentence pairs of news and parliament
text, sentences of up to 50 words and more), with vocabularies of 30 000 to 160 000 words and recurrent
layers of 1 000 units, for days, and scored news-test-2014 with one reference per sentence. We train on
about 31 000 Tatoeba pairs of at most 6 tokens, with 128 units, for minutes, and score lower-cased text
against all of a sentence's Tatoeba translations. BLEU numbers of the two settings do not compare.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass, field

import torch

from aecourse.data.translation import TranslationData, load_translation
from aecourse.evaluation.decoding import (
    baseline_translations,
    bleu,
    group_references,
    translate,
)
from aecourse.experiments.stamp import ResultsFile
from aecourse.models.seq2seq import Seq2Seq, fit_seq2seq
from aecourse.settings import device as best_device
from aecourse.settings import seed_everything

EXPERIMENT = "aecourse.experiments.translation"

# The papers' own numbers and settings, printed beside ours in the chapter (never as comparable).
PAPER = {
    # Sutskever, Vinyals & Le (2014), "Sequence to sequence learning with neural networks", NeurIPS 27:
    # WMT'14 English → French, trained on a 12M-sentence subset (348M French, 304M English words),
    # vocabularies of 160 000 (English) and 80 000 (French) words, 4-layer LSTMs of 1 000 units, source
    # sentences reversed; BLEU on the whole news-test-2014 set (out-of-vocabulary words penalised).
    "sutskever2014": {
        "what": "ensemble of 5 deep LSTMs, beam search",
        "data": "WMT'14 En→Fr, 12M training pairs",
        "bleu": 34.8,
        "smt_bleu": 33.3,  # the phrase-based baseline they compare with, same test set
    },
}

TRANSLATORS = ("plain", "attention")
BASELINES = ("frequent", "copy")
KEY = ("method", "lr", "seed")
BATCH = 1024  # sentences decoded at once (times beam_width rows for beam search)


@dataclass
class Config:
    """The grid and the sizes of every run in it."""

    methods: list[str] = field(default_factory=lambda: list(TRANSLATORS))
    lrs: list[float] = field(default_factory=lambda: [1e-3, 3e-3])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    max_tokens: int = 6  # longest sentence kept, in tokens
    min_count: int = 5  # rarer training tokens become <unk>
    split_seed: int = (
        0  # the train / validation / test split, the same for every run
    )
    train_size: int | None = (
        None  # a random subset of the training pairs (tests); None: all
    )
    embed: int = 64
    hidden: int = 128
    batch_size: int = 64
    epochs: int = (
        15  # at most; the epoch with the best validation loss is scored
    )
    beam_width: int = 5
    alphas: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0])
    max_len: int = 20  # longest translation written, in tokens

    def check(self) -> Config:
        """self, if every name and size is valid; else a ValueError that says which is not."""
        if not self.methods or any(
            m not in TRANSLATORS for m in self.methods
        ):
            raise ValueError(
                f"methods must be a non-empty list drawn from {list(TRANSLATORS)}; got {self.methods}."
            )
        if not self.lrs or any(lr <= 0 for lr in self.lrs):
            raise ValueError(
                f"lrs must be a non-empty list of positive rates, got {self.lrs}."
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(
                f"seeds must be a non-empty list without repeats, got {self.seeds}."
            )
        if not self.alphas or any(a < 0 for a in self.alphas):
            raise ValueError(
                f"alphas must be a non-empty list of numbers >= 0, got {self.alphas}."
            )
        for name in (
            "max_tokens",
            "min_count",
            "embed",
            "hidden",
            "batch_size",
            "epochs",
            "beam_width",
            "max_len",
        ):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be at least 1, got {getattr(self, name)}."
                )
        return self


def runs(config: Config) -> list[dict]:
    """The grid's runs as key dicts, seeds varying fastest (run i has seed number i mod len(seeds)), then
    translators, then learning rates: a grid cut short by its time budget lacks whole learning rates
    rather than one translator's runs."""
    return [
        {"method": method, "lr": lr, "seed": seed}
        for lr in config.lrs
        for method in config.methods
        for seed in config.seeds
    ]


def shard_of(items: list, shard: tuple[int, int]) -> list:
    """Every N-th item from the K-th: shard (K, N) with 0 <= K < N. Raises ValueError otherwise."""
    k, n = shard
    if not 0 <= k < n:
        raise ValueError(f"A shard is K/N with 0 <= K < N, got {k}/{n}.")
    return items[k::n]


def load(config: Config, device) -> TranslationData:
    """The pairs of every run: one split, vocabularies from its training pairs, tensors on device."""
    return load_translation(
        "translation",
        max_tokens=config.max_tokens,
        min_count=config.min_count,
        seed=config.split_seed,
        train_size=config.train_size,
        device=device,
    )


def data_facts(data: TranslationData) -> dict:
    """How many test pairs, distinct English sentences, and sentences with several references there are."""
    sources, references = group_references(
        data.test.source, data.test.target
    )
    count = dict(zip(sources, map(len, references)))
    several = [r for r in references if len(r) > 1]
    shared = sum(1 for s in data.test.source if count[s] > 1)
    return {
        "train_pairs": len(data.train),
        "valid_pairs": len(data.valid),
        "test_pairs": len(data.test),
        "test_sentences": len(sources),
        "several_references": len(several),
        "pairs_sharing": shared,
        "most_references": max(map(len, references)),
    }


def scores(model: Seq2Seq, data: TranslationData, config: Config) -> dict:
    """Test BLEU of greedy decoding (all references, and one per pair) and of beam search, α chosen on
    validation BLEU."""
    vocabs = (data.src_vocab, data.tgt_vocab)
    test_sources, test_refs = group_references(
        data.test.source, data.test.target
    )
    greedy = translate(
        model,
        test_sources,
        *vocabs,
        max_len=config.max_len,
        batch_size=BATCH,
    )
    by_source = dict(zip(test_sources, greedy))
    valid_sources, valid_refs = group_references(
        data.valid.source, data.valid.target
    )
    valid_bleu = {
        alpha: bleu(
            translate(
                model,
                valid_sources,
                *vocabs,
                beam_width=config.beam_width,
                max_len=config.max_len,
                alpha=alpha,
                batch_size=BATCH,
            ),
            valid_refs,
        )
        for alpha in config.alphas
    }
    alpha = max(config.alphas, key=lambda a: valid_bleu[a])  # first best
    beam = translate(
        model,
        test_sources,
        *vocabs,
        beam_width=config.beam_width,
        max_len=config.max_len,
        alpha=alpha,
        batch_size=BATCH,
    )
    return {
        "bleu_greedy": bleu(greedy, test_refs),
        "bleu_beam": bleu(beam, test_refs),
        "bleu_greedy_single": bleu(
            [by_source[s] for s in data.test.source], data.test.target
        ),
        "alpha": alpha,
        "valid_bleu_beam": [valid_bleu[a] for a in config.alphas],
    }


def train_one(
    data: TranslationData,
    config: Config,
    method: str,
    lr: float,
    seed: int,
) -> tuple[Seq2Seq, dict]:
    """One translator trained from seed, left with its best-validation weights, and its training row."""
    seed_everything(seed)
    model = Seq2Seq(
        len(data.src_vocab),
        len(data.tgt_vocab),
        config.embed,
        config.hidden,
        attention=method == "attention",
    ).to(data.train.src.device)
    history = fit_seq2seq(
        model,
        data.train,
        data.valid,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=lr,
        keep_best=True,
        progress=False,
    )
    return model, {
        "best_epoch": history.best_epoch,
        "best_valid": min(history.valid),
        "train_loss": history.train,
        "valid_loss": history.valid,
    }


def baseline_rows(data: TranslationData) -> list[dict]:
    """The two trivial translators' test BLEU (all references, one per pair), with the data's facts."""
    sources, references = group_references(
        data.test.source, data.test.target
    )
    rows = []
    for kind in BASELINES:
        grouped = baseline_translations(sources, data.train.target, kind)
        by_source = dict(zip(sources, grouped))
        rows.append(
            {
                "method": kind,
                "lr": None,
                "seed": None,
                "bleu_greedy": bleu(grouped, references),
                "bleu_greedy_single": bleu(
                    [by_source[s] for s in data.test.source],
                    data.test.target,
                ),
                **data_facts(data),
            }
        )
    return rows


# --- the table --------------------------------------------------------------------------------------


def mean_sem(values: list[float]) -> tuple[float, float]:
    """Mean and standard error s/√n of values (s with n − 1 in the denominator); sem is nan for one value.

    Raises ValueError for no values.
    """
    if not values:
        raise ValueError("mean_sem needs at least one value.")
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return mean, float("nan")
    return mean, math.sqrt(
        sum((v - mean) ** 2 for v in values) / (n - 1) / n
    )


METRICS = (
    "bleu_greedy",
    "bleu_beam",
    "bleu_greedy_single",
    "best_valid",
    "best_epoch",
)


def summarise(rows: list[dict]) -> dict[str, dict]:
    """Per translator: the learning rate chosen on validation and each metric's mean ± s.e. over seeds.

    rows: a results file's rows. Only the learning rates that every translator in the rows ran with the
    same seeds compete (both get the same tuning budget, also in a grid cut short); for each translator,
    the rate with the lowest mean ``best_valid`` over its seeds is chosen (the test numbers play no
    part). Returns {method: {"lr": rate, "n": seeds,
    "lrs": {rate: mean best_valid}, metric: (mean, sem), ..., "beam_gain": (mean, sem) of beam minus
    greedy BLEU per run}}. Baseline rows give {method: {"bleu_greedy": value, "bleu_greedy_single":
    value}}. Raises ValueError for rows without a translator, or without a rate all translators share.
    """
    table: dict[str, dict] = {}
    for row in rows:
        if row["method"] in BASELINES:
            table[row["method"]] = {
                k: row[k] for k in ("bleu_greedy", "bleu_greedy_single")
            }
    methods = [
        m for m in TRANSLATORS if any(r["method"] == m for r in rows)
    ]
    if not methods:
        raise ValueError("No translator's rows to summarise.")
    seeds = {
        (m, r["lr"]): {
            x["seed"]
            for x in rows
            if x["method"] == m and x["lr"] == r["lr"]
        }
        for m in methods
        for r in rows
        if r["method"] in methods
    }
    shared = [
        lr
        for lr in dict.fromkeys(
            r["lr"] for r in rows if r["method"] in methods
        )
        if len({frozenset(seeds[m, lr]) for m in methods}) == 1
        and seeds[methods[0], lr]
    ]
    if not shared:
        raise ValueError(
            "No learning rate was run by every translator with the same seeds: the grid is too incomplete "
            "for a fair comparison; resume it."
        )
    for method in methods:
        by_lr: dict[float, list[dict]] = {}
        for r in rows:
            if r["method"] == method and r["lr"] in shared:
                by_lr.setdefault(r["lr"], []).append(r)
        valid = {
            lr: mean_sem([r["best_valid"] for r in rs])[0]
            for lr, rs in by_lr.items()
        }
        lr = min(valid, key=valid.get)
        chosen = by_lr[lr]
        entry = {"lr": lr, "n": len(chosen), "lrs": valid}
        for metric in METRICS:
            entry[metric] = mean_sem([float(r[metric]) for r in chosen])
        entry["beam_gain"] = mean_sem(
            [r["bleu_beam"] - r["bleu_greedy"] for r in chosen]
        )
        entry["alphas"] = [r["alpha"] for r in chosen]
        table[method] = entry
    return table


def format_table(table: dict[str, dict]) -> str:
    """The summary as text: BLEU on the grouped test set, mean ± s.e. over seeds."""
    lines = [
        f"{'translator':12} {'lr':>7} {'n':>2} {'greedy':>13} {'beam':>13} "
        f"{'1 reference':>13} {'best epoch':>11}"
    ]
    for method in TRANSLATORS:
        if method not in table:
            continue
        e = table[method]
        cell = [
            f"{e[m][0]:6.2f} ± {e[m][1]:4.2f}"
            for m in ("bleu_greedy", "bleu_beam", "bleu_greedy_single")
        ]
        lines.append(
            f"{method:12} {e['lr']:7.0e} {e['n']:2d} {cell[0]:>13} {cell[1]:>13} "
            f"{cell[2]:>13} {e['best_epoch'][0]:11.1f}"
        )
    for method in BASELINES:
        if method in table:
            e = table[method]
            lines.append(
                f"{method:12} {'':7} {'':2} {e['bleu_greedy']:13.2f} {'':13} "
                f"{e['bleu_greedy_single']:13.2f}"
            )
    return "\n".join(lines)


# --- the script -------------------------------------------------------------------------------------


def parse_args(argv=None) -> tuple[Config, argparse.Namespace]:
    defaults = Config()
    p = argparse.ArgumentParser(
        prog=f"python -m {EXPERIMENT}",
        description="Train and score the translators of the translation chapter; "
        "one row per run in a stamped, resumable results file.",
    )
    p.add_argument("--out", required=True, help="the results file (JSON)")
    p.add_argument(
        "--device",
        default=None,
        help="cuda, cpu, ... (default: the best here)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=defaults.seeds)
    p.add_argument(
        "--methods",
        nargs="+",
        default=defaults.methods,
        choices=TRANSLATORS,
    )
    p.add_argument("--lrs", type=float, nargs="+", default=defaults.lrs)
    p.add_argument(
        "--alphas", type=float, nargs="+", default=defaults.alphas
    )
    for name in (
        "max_tokens",
        "min_count",
        "split_seed",
        "embed",
        "hidden",
        "batch_size",
        "epochs",
        "beam_width",
        "max_len",
    ):
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=getattr(defaults, name),
        )
    p.add_argument("--train-size", type=int, default=None)
    p.add_argument(
        "--hours",
        type=float,
        default=None,
        help="stop between runs after this much wall time; the same command resumes",
    )
    p.add_argument(
        "--fresh", action="store_true", help="start the file afresh"
    )
    p.add_argument(
        "--shard",
        default="0/1",
        help="K/N: run every N-th run from the K-th (N processes share a machine)",
    )
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    config = Config(
        methods=args.methods,
        lrs=args.lrs,
        seeds=args.seeds,
        alphas=args.alphas,
        train_size=args.train_size,
        **{
            name: getattr(args, name)
            for name in (
                "max_tokens",
                "min_count",
                "split_seed",
                "embed",
                "hidden",
                "batch_size",
                "epochs",
                "beam_width",
                "max_len",
            )
        },
    )
    return config, args


def main(argv=None) -> list[dict]:
    """Run (this shard of) the grid into ``--out``; returns the file's rows."""
    config, args = parse_args(argv)
    try:
        config.check()
        k, n = (int(part) for part in args.shard.split("/"))
        todo = shard_of(runs(config), (k, n))
    except ValueError as err:
        sys.exit(f"error: {err}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else best_device()
    start = time.time()
    data = load(config, device)
    results = ResultsFile(
        args.out,
        experiment=EXPERIMENT,
        config=asdict(config),
        key=KEY,
        device=device,
        command=[
            "python",
            "-m",
            EXPERIMENT,
            *(argv if argv is not None else sys.argv[1:]),
        ],
        fresh=args.fresh,
    )
    print(f"{data}; {len(todo)} runs in shard {k}/{n}", flush=True)
    if k == 0:  # the trivial translators, once
        for row in baseline_rows(data):
            if not results.done(**{c: row[c] for c in KEY}):
                results.add(row, seconds=0.0)
    stopped = False
    for run in todo:
        if results.done(**run):
            continue
        if (
            args.hours is not None
            and time.time() - start > args.hours * 3600
        ):
            stopped = True
            print(
                "time budget spent: run the same command again to resume"
            )
            break
        began = time.time()
        model, row = train_one(data, config, **run)
        row.update(scores(model, data, config))
        seconds = time.time() - began
        results.add({**run, **row, "seconds": seconds}, seconds=seconds)
        print(
            f"{run}: best epoch {row['best_epoch']}, greedy BLEU {row['bleu_greedy']:.2f}, "
            f"beam {row['bleu_beam']:.2f} (α = {row['alpha']}), {seconds:.0f} s",
            flush=True,
        )
    # a shard's file is complete when its part is: merge_results calls the whole complete when all are
    results.write(complete=not stopped)
    print(format_table(summarise(results.rows)))
    return results.rows


if __name__ == "__main__":
    main()
