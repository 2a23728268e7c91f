"""The instructor's page of the book, generated from its sources: per chapter, what to know first, what a
student will learn, the exercises (what each one tests, how long it takes, whether a checker grades it)
and what the chapter costs to run; then how to hand the chapters out, collect and grade them.

The page (:data:`PAGE`, ``instructor.md`` at the book's root) is never edited by hand: chapters and
exercises come and go, and a hand-typed page would fall behind. What it says is read from

- ``_toc.yml``: the chapters (the files under ``chapters/``) and their order;
- each chapter notebook: its title (first heading), its "**Before you start**" paragraph, its "**You will
  learn**" bullets, and the label and title of each ``{exercise}`` box (found as the grader finds them,
  :data:`aecourse.grade.EXERCISE_LABEL`);
- :func:`aecourse.checks.labels`: which exercises a checker grades (the others are open questions);
- each notebook's stamp (``metadata.aecourse``, :func:`aecourse.book.notebooks.execute`): the time of the
  full-profile run the book shows, and its device;
- :data:`TIMINGS` (``chapters/timings.json``): run times measured by ``--time`` (any profile and device),
  ``{"<topic>": {"<profile> <device>": {"seconds", "threads", "torch", "executed"}}}``;
- :data:`aecourse.REPOSITORY` and :data:`aecourse.BOOK_REF`: the Colab links of the student copies.

What the sources cannot say, the concept each exercise tests and the minutes a student needs for it,
lives in one place, :data:`EXERCISES`, one entry per exercise label; generating the page fails for an
exercise without one. ``tests/test_instructor.py`` fails when the committed page differs from a fresh
generation, and when an entry's exercise is gone.

Command line (from the repository root)::

    python -m aecourse.book.instructor            # (re)write instructor.md
    python -m aecourse.book.instructor --check    # exit 1 if instructor.md is stale
    python -m aecourse.book.instructor --time chapters/structure.ipynb   # run it (quick profile, not
                                                  # saved), record its time in chapters/timings.json,
                                                  # then rewrite the page
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from aecourse import BOOK_REF, REPOSITORY, checks
from aecourse.book.links import STUDENT_FOLDER, colab_url
from aecourse.book.toc import first_heading, pages
from aecourse.grade import DEFAULT_TIMEOUT, EXERCISE_LABEL

PAGE = "instructor.md"  # where the page lives, relative to the book's root (its docname: instructor)
TIMINGS = "chapters/timings.json"  # measured run times, relative to the book's root
COMMAND = "python -m aecourse.book.instructor"
KERNEL_SECONDS = 5  # the grader's cost per submission beyond the chapter's run (README, Grading)
CLASS_SIZE = 40  # the class the page prices a grading run for

# label -> (the concept the exercise tests, the minutes a student needs for it). Estimates for a student
# who has read the chapter up to the exercise, on a laptop CPU in the quick profile; the chapter's own
# run is not counted. An exercise added to a chapter needs an entry here (the page says why not).
EXERCISES: dict[str, tuple[str, int]] = {
    # the hourglass (structure)
    "ex-bernoulli-loss": (
        "the Bernoulli cross-entropy as a reconstruction loss: summed over pixels, averaged over images",
        15,
    ),
    "ex-pca-reconstruction": (
        "PCA as a projection onto an orthonormal basis, the baseline a linear autoencoder matches",
        15,
    ),
    "ex-structure-principal-angles": (
        "principal angles between two subspaces, which compare a decoder's span with PCA's whatever "
        "the bases",
        15,
    ),
    "ex-bottleneck": (
        "why the code's size, not the number of parameters, limits what the decoder can reconstruct",
        15,
    ),
    # the number system
    "ex-binary-code": (
        "reading a learned code as bits by thresholding, and counting the distinct codes",
        10,
    ),
    "ex-number-system-symmetry": (
        "the symmetries of the cube: two codes that differ by a permutation and flips of their units are "
        "the same solution",
        15,
    ),
    "ex-min-code-bits": (
        r"the capacity of a binary code, $\lceil \log_2 n \rceil$ units, computed exactly in integers",
        10,
    ),
    "ex-softmax-decoder": (
        "why competing (softmax) outputs let one code unit name any number of symbols",
        20,
    ),
    "ex-32-5-32": (
        "predicting from capacity and convex position what training will reach, then measuring it over seeds",
        30,
    ),
    # convolution
    "ex-conv-transpose": (
        "transposed convolution as every input pixel stamping its scaled kernel onto a larger output",
        20,
    ),
    "ex-output-size": (
        "the output size of a transposed convolution, and choosing a decoder's strides and padding",
        20,
    ),
    "ex-max-unpool": (
        "max unpooling: each value put back where the switches of max pooling say it came from",
        15,
    ),
    "ex-switch-bits": (
        "how much information the pooling switches hand the decoder beside the code",
        10,
    ),
    # denoising
    "ex-mask": (
        "masking noise: independent corruption that leaves the clean target untouched",
        15,
    ),
    "ex-denoising-loss": (
        "the denoising autoencoder's loss: the output for a corrupted input against the clean target",
        10,
    ),
    "ex-contractive": (
        "the contractive penalty: the Jacobian's squared Frobenius norm of a sigmoid layer in closed form",
        25,
    ),
    "ex-mask-level": (
        "how the corruption level trades copying against learning useful features",
        30,
    ),
    # stacked pretraining
    "ex-stacked-pretraining-gradient-norms": (
        "measuring the vanishing gradient: the norm of each layer's weight gradient, from fresh gradients",
        15,
    ),
    "ex-greedy": (
        "the greedy layer-wise loop: each layer trained as an autoencoder on the codes of the layers below",
        25,
    ),
    "ex-freeze": (
        "training the output layer alone while the hidden layers stay fixed, and trainable",
        20,
    ),
    "ex-where": (
        "designing the smallest experiment that tells an optimisation effect from a generalisation effect",
        30,
    ),
    # sequence to sequence
    "ex-masked-loss": (
        "a sequence loss that ignores the padding, through a mask",
        15,
    ),
    "ex-seq2seq-attention": (
        "attention over a padded batch: a softmax over the real tokens, the padding masked before it, "
        "and the context as the weighted sum",
        15,
    ),
    "ex-greedy-decode": (
        "greedy decoding: one token at a time from the code, until every sentence has written `<eos>`",
        25,
    ),
    "ex-attention-ae": (
        "why attention removes the bottleneck and lets a sequence autoencoder copy",
        25,
    ),
    # the VAE
    "ex-reparameterize": (
        r"the reparameterization trick: a draw through which gradients reach $\mu$ and $\log\sigma^2$",
        15,
    ),
    "ex-gaussian-kl": (
        r"the KL divergence between a diagonal Gaussian and $\mathcal N(0, I)$ in closed form",
        15,
    ),
    "ex-vae-iwae-estimate": (
        "the importance-weighted (IWAE) estimate, computed without underflow (log-sum-exp)",
        15,
    ),
    "ex-vae-active-units": (
        "active code units and posterior collapse, by the variance of the posterior means",
        15,
    ),
    # applications
    "ex-auroc": (
        "the AUROC as the Mann–Whitney count of (anomaly, normal) pairs, a tie counting one half",
        20,
    ),
    "ex-hamming": (
        "Hamming distances between binary codes without a Python loop, the search of semantic hashing",
        15,
    ),
    "ex-multinomial-loss": (
        "the multinomial reconstruction loss of a document autoencoder, with a stable log-softmax",
        15,
    ),
    "ex-hash-bits": (
        "how retrieval precision depends on the number of bits, for the autoencoder, PCA + sign and LSH",
        45,
    ),
    "ex-anomaly-epochs": (
        "why reconstruction error flags anomalies less well as training goes on, and picking a threshold",
        30,
    ),
    # discrete codes (vector quantization)
    "ex-vq-quantize": (
        "the quantizer's forward pass: the nearest codebook vector by squared distance, and its vector",
        15,
    ),
    "ex-vq-straight-through": (
        "the straight-through estimator: the value of the codes, the gradient passed to the encoder",
        10,
    ),
    "ex-vq-perplexity": (
        "the perplexity of code assignments, exp of their entropy, with unused codes counting zero",
        15,
    ),
    # masked autoencoders (patches, random masking, the loss on hidden patches)
    "ex-mae-patchify": (
        "cutting images into patches: split each side into (grid, p), permute, flatten in patchify's order",
        15,
    ),
    "ex-mae-random-masking": (
        "random masking: keep round(L(1 − ratio)) tokens by sorting noise from a generator, and invert the shuffle",
        20,
    ),
    "ex-mae-masked-loss": (
        "the MAE loss: squared error averaged per patch, then over the hidden patches only",
        10,
    ),
    # sparse autoencoders (the TopK activation, unit-norm decoder columns, the loss recovered)
    "ex-sae-topk": (
        "the TopK activation: keep each row's k largest pre-activations, ReLU them, zeros elsewhere",
        15,
    ),
    "ex-sae-decoder-norm": (
        "unit-norm decoder columns: divide each column of W (d, L) by its own Euclidean norm",
        10,
    ),
    "ex-sae-loss-recovered": (
        "the loss recovered: the share of the zero-ablation loss gap that the SAE's reconstruction closes",
        10,
    ),
}


@dataclass
class Chapter:
    """What the page says about one chapter, as read from its notebook."""

    # the docname ("chapters/structure") and the first heading
    doc: str
    title: str
    # the "Before you start" paragraph and the "You will learn" bullets (markdown), their links made
    # to work from the page
    before: str
    learn: str
    # (label, title) of each {exercise} box, in order
    exercises: list[tuple[str, str]]
    # metadata.aecourse: profile, device, seconds, torch, executed ({} if none)
    stamp: dict

    @property
    def topic(self) -> str:
        return posixpath.basename(self.doc)


def toc_chapters(root: Path) -> list[str]:
    """The chapters' docnames in the order of ``_toc.yml``: its entries under ``chapters/``, parts included
    (``["chapters/structure", "chapters/number_system", ...]``). Raises ValueError if there is none."""
    docs = [doc for doc in pages(root) if doc.startswith("chapters/")]
    if not docs:
        raise ValueError(
            f"{root / '_toc.yml'} lists no chapter (no entry `- file: chapters/<topic>`)."
        )
    return docs


# {doc}`text <target>` or {doc}`target`; and a markdown link [text](target)
DOC_ROLE = re.compile(r"\{doc\}`([^`<]*<)?([^`<>]+)(>?)`")
MD_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def relink(text: str, source_doc: str, page_doc: str) -> str:
    """The markdown ``text``, taken from ``source_doc``'s page, with its relative ``{doc}`` targets and link
    targets rewritten to work from ``page_doc``'s page (docnames, e.g. ``"chapters/vae"`` and
    ``"instructor"``): ``{doc}`the VAE chapter <vae>``` from a chapter becomes ``<chapters/vae>`` on a page
    at the root. Absolute targets (``/…``), URLs and anchors are left alone; ``{ref}`` labels are global."""
    here = posixpath.dirname(source_doc)
    there = posixpath.dirname(page_doc) or "."

    def move(target: str) -> str:
        if target.startswith(("/", "#")) or re.match(
            r"^[a-z][\w+.-]*:", target
        ):
            return target
        return posixpath.relpath(
            posixpath.normpath(posixpath.join(here, target)), there
        )

    text = DOC_ROLE.sub(
        lambda m: f"{{doc}}`{m[1] or ''}{move(m[2])}{m[3]}`", text
    )
    return MD_LINK.sub(lambda m: m[1] + move(m[2]) + m[3], text)


def _paragraph(markdown: list[str], opening: str) -> list[str] | None:
    """The first line that starts with ``opening`` and the lines after it up to the next blank line (blank
    lines right after the opening line are skipped), from the first markdown cell that has one; None if
    none has."""
    for source in markdown:
        lines = source.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(opening):
                start = next(
                    (
                        j
                        for j in range(i + 1, len(lines))
                        if lines[j].strip()
                    ),
                    len(lines),
                )
                end = next(
                    (
                        j
                        for j in range(start, len(lines))
                        if not lines[j].strip()
                    ),
                    len(lines),
                )
                return [line, *lines[start:end]]
    return None


def read_chapter(
    path: Path, doc: str, page_doc: str = "instructor"
) -> Chapter:
    """Read a chapter notebook (``path``, docname ``doc``) for the page at ``page_doc``.

    Raises ValueError naming the notebook when it has no heading, no "**Before you start**" paragraph, no
    "**You will learn**" bullets or no ``{exercise}`` box with a ``:label:``.
    """
    nb = nbformat.read(path, as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    where = f"{doc}.ipynb"
    heading = first_heading("\n".join(markdown))
    if heading is None:
        raise ValueError(
            f"{where} has no title: no markdown cell has a line '# <title>'."
        )
    before = _paragraph(markdown, "**Before you start**")
    if before is None:
        raise ValueError(
            f"{where} has no '**Before you start**' paragraph: the instructor's page lists it as the "
            "chapter's prerequisites (see the shape of a chapter in CONTRIBUTING.md)."
        )
    before = (
        "\n".join(before)
        .removeprefix("**Before you start**")
        .lstrip(":")
        .strip()
    )
    bullets = (_paragraph(markdown, "**You will learn**") or [])[1:]
    if not bullets or not bullets[0].startswith("- "):
        raise ValueError(
            f"{where} has no '**You will learn**' line followed by '- ' bullets: the instructor's page "
            "lists them as what a student will do."
        )
    exercises = [
        (m[1], m[0].splitlines()[0].split("{exercise}", 1)[1].strip())
        for source in markdown
        for m in EXERCISE_LABEL.finditer(source)
    ]
    if not exercises:
        raise ValueError(
            f"{where} has no exercise: no '```{{exercise}} <title>' box with a ':label: ex-…' line."
        )
    return Chapter(
        doc=doc,
        title=heading,
        before=relink(before, doc, page_doc),
        learn=relink("\n".join(bullets), doc, page_doc),
        exercises=exercises,
        stamp=dict(nb.metadata.get("aecourse", {})),
    )


def duration(seconds: float) -> str:
    """A run time as the page writes it: "85 s" below 100 s, else "14 min" (to the minute)."""
    seconds = round(seconds)
    return (
        f"{seconds} s" if seconds < 100 else f"{round(seconds / 60)} min"
    )


def device_name(device: str) -> str:
    """The device of a stamp as the page names it: "the CPU" for ``"cpu"``, else "a GPU (cuda)"."""
    return "the CPU" if device == "cpu" else f"a GPU ({device})"


def read_timings(root: Path) -> dict[str, dict[str, dict]]:
    """The measured run times of :data:`TIMINGS` (``{}`` if the file is missing). Raises ValueError if an
    entry is not ``{"<profile> <device>": {"seconds": ..., ...}}``."""
    path = root / TIMINGS
    if not path.is_file():
        return {}
    timings = json.loads(path.read_text(encoding="utf-8"))
    for topic, measured in timings.items():
        for key, run in measured.items():
            if len(key.split()) != 2 or not isinstance(
                run.get("seconds"), (int, float)
            ):
                raise ValueError(
                    f"{TIMINGS}: {topic}/{key} should be '<profile> <device>': "
                    f'{{"seconds": <number>, ...}}, got {run!r}.'
                )
    return timings


def runs(chapter: Chapter, timings: dict) -> dict[tuple[str, str], dict]:
    """(profile, device) -> the run's record, from the timings file and the notebook's stamp (the stamp
    wins: it is the run whose outputs the book shows)."""
    found = {
        tuple(key.split()): run
        for key, run in timings.get(chapter.topic, {}).items()
    }
    stamp = chapter.stamp
    if "seconds" in stamp and "profile" in stamp and "device" in stamp:
        found[stamp["profile"], stamp["device"]] = {
            k: stamp[k]
            for k in ("seconds", "torch", "executed")
            if k in stamp
        }
    return found


def _cpu(found: dict, profile: str) -> str:
    run = found.get((profile, "cpu"))
    if run is None:
        return "not measured"
    threads = run.get("threads")
    if threads is None:
        return duration(run["seconds"])
    return f"{duration(run['seconds'])}, {threads} thread{'' if threads == 1 else 's'}"


def _gpu(found: dict) -> str:
    shown = [
        f"{profile} {duration(run['seconds'])} ({device})"
        for (profile, device), run in sorted(found.items())
        if device != "cpu"
    ]
    return ", ".join(shown) or "not measured"


def _exercise_items(chapter: Chapter, checkers: dict) -> list[str]:
    """One bullet per exercise: title, label, minutes, who grades it, the concept it tests."""
    items = []
    for label, title in chapter.exercises:
        concept, minutes = EXERCISES[label]
        graded = (
            f"graded by `checks.{checkers[label].__name__}`"
            if label in checkers
            else "an open question, not graded"
        )
        items.append(
            f"- **{title}** (`{label}`, {minutes} min, {graded}): tests {concept}."
        )
    return items


def _minutes(chapter: Chapter) -> int:
    return sum(EXERCISES[label][1] for label, _ in chapter.exercises)


def render(root: Path, page_doc: str = PAGE.removesuffix(".md")) -> str:
    """The instructor's page (MyST markdown) of the book at ``root``, from its sources (module docstring).

    Deterministic: the same sources give the same text. Raises ValueError for a chapter the page cannot
    describe (see :func:`read_chapter`) or an exercise without an entry in :data:`EXERCISES`.
    """
    checkers = checks.labels()
    timings = read_timings(root)
    chapters = [
        read_chapter(root / f"{doc}.ipynb", doc, page_doc)
        for doc in toc_chapters(root)
    ]
    for c in chapters:
        for label, _ in c.exercises:
            if label not in EXERCISES:
                raise ValueError(
                    f"{c.doc}.ipynb: the exercise {label!r} has no entry in EXERCISES "
                    f"(aecourse/book/instructor.py): add the concept it tests and its minutes, then "
                    f"run {COMMAND}."
                )
    found = {c.doc: runs(c, timings) for c in chapters}
    # {doc} links from the page to a chapter, relative to where the page is
    link = {
        c.doc: posixpath.relpath(
            c.doc, posixpath.dirname(page_doc) or "."
        )
        for c in chapters
    }
    out = [
        f"% Generated by `{COMMAND}` from the chapters, _toc.yml, aecourse.checks and {TIMINGS}:",
        "% do not edit; edit the sources (exercise concepts and minutes: EXERCISES in",
        "% aecourse/book/instructor.py) and run the command again.",
        "",
        "# For instructors",
        "",
        "What each chapter asks of a student and what it costs you: its prerequisites, what a student "
        "will learn, its exercises with the concept each one tests and an estimate of the minutes it "
        "takes, and the chapter's run times; then how to hand the chapters out, collect the work and "
        "grade it, also in a classroom without a network. This page is generated from the chapters "
        "themselves, so it lists every exercise they hold.",
        "",
        "## The chapters at a glance",
        "",
        "Minutes are the sum of the exercises' estimates (for a student who has read the chapter, on a "
        "laptop CPU; the chapter's own run not counted). Run times are of the whole notebook, top to "
        "bottom: the full profile's from the stamp of the run whose outputs the book shows (it records "
        "the device, not the machine's cores), the others "
        f"as measured by `{COMMAND} --time` (with the threads torch ran on); *not measured* where no one has "
        "measured them yet.",
        "",
        "| chapter | exercises | minutes | quick profile, CPU | full profile, CPU | GPU |",
        "|---|---|---:|---|---|---|",
    ]
    for c in chapters:
        checked = sum(label in checkers for label, _ in c.exercises)
        out.append(
            f"| {{doc}}`{link[c.doc]}` | {len(c.exercises)} ({checked} graded) | {_minutes(c)} "
            f"| {_cpu(found[c.doc], 'quick')} | {_cpu(found[c.doc], 'full')} | {_gpu(found[c.doc])} |"
        )
    for c in chapters:
        stamp = c.stamp
        made = (
            f"The book's outputs come from a {stamp['profile']}-profile run on "
            f"{device_name(stamp['device'])} ({duration(stamp['seconds'])}, torch {stamp.get('torch', '?')}, "
            f"{stamp.get('executed', 'date not recorded')})."
            if "seconds" in stamp
            else "The notebook carries no stamp: it was never executed with "
            "`python -m aecourse.book execute`."
        )
        out += [
            "",
            f"## {c.title}",
            "",
            f"{{doc}}`The chapter <{link[c.doc]}>`; its student copy "
            f"`{STUDENT_FOLDER}/{c.topic}.ipynb` [on Colab]({colab_url(c.topic)}). {made}",
            "",
            f"**Before you start**: {c.before}",
            "",
            "**A student will learn**",
            "",
            c.learn,
            "",
            f"**Exercises** ({_minutes(c)} minutes in all)",
            "",
            *_exercise_items(c, checkers),
        ]
    out += ["", *_handing_out(chapters, found, checkers)]
    return "\n".join(out) + "\n"


def _handing_out(
    chapters: list[Chapter], found: dict, checkers: dict
) -> list[str]:
    """The closing section: hand out, collect, grade, offline classrooms, untrusted code."""
    open_questions = sum(
        label not in checkers
        for c in chapters
        for label, _ in c.exercises
    )
    graded = sum(
        label in checkers for c in chapters for label, _ in c.exercises
    )
    # the grader gives each of its two jobs one thread on two cores: one-thread times price a class
    priced = [
        f"{{doc}}`{c.doc}`: about {duration(CLASS_SIZE * (run['seconds'] + KERNEL_SECONDS) / 2)}"
        for c in chapters
        if (run := found[c.doc].get(("quick", "cpu")))
        and run.get("threads") == 1
    ]
    cost = (
        f"From the one-thread quick-profile CPU times above, a class of {CLASS_SIZE} graded with two "
        "jobs on two cores: " + "; ".join(priced) + "."
        if priced
        else "No chapter's quick-profile CPU time on one thread is measured yet (the table above), so "
        f"this page cannot price a class per chapter: `OMP_NUM_THREADS=1 {COMMAND} --time "
        "chapters/<topic>.ipynb` measures one."
    )
    return [
        "## Handing out, collecting and grading",
        "",
        "### Handing out",
        "",
        "Students work on **student copies**: the chapter with each solution cell (tagged `solution`) "
        "replaced by a stub and every output cleared. They are made from the chapters, never edited by "
        "hand:",
        "",
        "```bash",
        f"python -m aecourse.book student chapters/*.ipynb --out {STUDENT_FOLDER}/",
        "```",
        "",
        f"which writes `{STUDENT_FOLDER}/<topic>.ipynb`. The published book itself shows every solution, "
        "one click away: give students the copies, not the book, for work you grade.",
        "",
        f"- **On Colab**: each chapter's section above links its student copy in the release this book "
        f"was built with (`{BOOK_REF}` of `{REPOSITORY}`); the copy's first cell installs that same "
        "release of `aecourse`, and the data sets are downloaded on first use. A student keeps a copy "
        "with *File → Save a copy in Drive* and hands it in with *File → Download → Download .ipynb*. "
        "The links have the form "
        "`https://colab.research.google.com/github/<owner>/<repo>/blob/<ref>/student/<topic>.ipynb`.",
        f"- **On your own fork**: set `REPOSITORY` in `aecourse/__init__.py` to the fork (the book's "
        "launch buttons and student-copy links are built from it; `_config.yml` names no repository), "
        "commit the student copies, tag the "
        f"release (`BOOK_REF`, now `{BOOK_REF}`: `git tag {BOOK_REF} && git push origin {BOOK_REF}`), "
        f"and run `{COMMAND}`: the links on this page then open the fork's copies.",
        "- **On your machines**: a checkout of the release "
        f"(`git clone {REPOSITORY} && git checkout {BOOK_REF}`), `pip install -r requirements.txt`, and "
        f"`jupyter lab {STUDENT_FOLDER}/`.",
        "",
        "### Collecting",
        "",
        "Collect one folder of `.ipynb` files per chapter, each file named after its student "
        "(`submissions/denoising/ada.ipynb`): the grader takes the student's name from the file name, "
        "and refuses two submissions with the same one.",
        "",
        "### Grading",
        "",
        "```bash",
        "python -m aecourse.grade submissions/denoising/ --out grades.csv",
        "```",
        "",
        "runs each notebook in a fresh kernel, in the quick profile on the CPU, two at a time "
        f"(`--jobs`) and at most {DEFAULT_TIMEOUT} s each (`--timeout`), and writes `grades.csv` (one row per student "
        "and exercise: passed, and the checker's message or why it never ran) and "
        "`grades_summary.csv` (one row per student: passed, total, status, seconds). The chapter is "
        "found from the exercises the notebooks show; name it with `--reference chapters/<topic>.ipynb` "
        "if they do not. A broken submission gets its rows and never stops the batch; "
        "`python -m aecourse.grade --help` says the rest.",
        "",
        f"{graded} of the book's {graded + open_questions} exercises have a checker and are graded "
        f"(*graded by* in the lists above); the other {open_questions} are open questions, which the "
        "grader leaves to you (each has a worked solution in the chapter).",
        "",
        "Time: each submission costs the chapter's quick-profile run plus about "
        f"{KERNEL_SECONDS} s for its kernel (measured: ten two-exercise submissions, `--jobs 2`, took "
        "34 s on a busy 2-core machine). The grader gives each job its share of the cores' threads "
        "(`OMP_NUM_THREADS`), so two jobs on two cores run one thread each, and a class costs about "
        f"students × (one-thread quick-profile time + {KERNEL_SECONDS} s) / 2; more cores with a larger "
        "`--jobs` divide it further. "
        f"{cost} Time one submission first (`--jobs 1`, the summary's `seconds`) and set `--timeout` "
        "to a few times that.",
        "",
        "### Offline classrooms",
        "",
        "The built book (`jupyter-book build .`, then `_build/html`) needs no network: its maths and "
        "widgets are served from the site itself (`python -m http.server --directory _build/html`). "
        "The chapters need their data sets in one folder that `AECOURSE_DATA` names (default: the "
        "checkout's `data/`): MNIST and Fashion-MNIST as torchvision's four `.gz` files each "
        "(`MNIST/raw/`, `FashionMNIST/raw/`), `translation/eng-fra.txt` and "
        "`20newsgroups/20news-bydate.tar.gz`. The folder may be shared and read-only: files are "
        "unpacked into `~/.cache/aecourse`. When a file is missing and cannot be downloaded, the "
        "chapter stops with an error that names it and where to put it. Which file each chapter "
        f"reads: [data/README.md]({REPOSITORY}/blob/{BOOK_REF}/data/README.md). Install the Python "
        "packages (`requirements.txt`) while the machines still have a network.",
        "",
        "### Submissions are untrusted code",
        "",
        "The grader runs whatever a student wrote, with your rights. Run it in a container or a "
        "throwaway account that holds nothing else (no credentials), with the data folder read-only. "
        "The verdicts are written from inside the student's own kernel, so a student who reads the "
        "package can forge them: the gradebook is feedback for honest work, not proof for high stakes.",
        "",
    ]


def record_time(path: Path, root: Path, profile: str = "quick") -> dict:
    """Run the chapter notebook at ``path`` in ``profile`` without saving it
    (:func:`aecourse.book.notebooks.execute`) and record its time in :data:`TIMINGS` under
    ``"<profile> <device>"``, with the number of threads torch runs on (the kernel inherits this
    process's environment, so ``OMP_NUM_THREADS`` sets both). Returns the record."""
    import torch

    from aecourse.book.notebooks import execute

    stamp = execute(path, profile=profile, save=False)
    record = {
        "seconds": stamp["seconds"],
        "threads": torch.get_num_threads(),
        "torch": stamp["torch"],
        "executed": stamp["executed"],
    }
    timings = read_timings(root)
    timings.setdefault(Path(path).stem, {})[
        f"{profile} {stamp['device']}"
    ] = record
    (root / TIMINGS).write_text(
        json.dumps(timings, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Write the book's instructor page (instructor.md) from its sources; run from the "
        "repository root.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the committed page differs from a fresh one",
    )
    parser.add_argument(
        "--time",
        nargs="+",
        metavar="NOTEBOOK",
        default=[],
        help=f"first run these chapters (not saved) and record their times in {TIMINGS}",
    )
    parser.add_argument(
        "--profile",
        default="quick",
        choices=("quick", "full"),
        help="the profile --time runs (default quick)",
    )
    args = parser.parse_args(argv)
    if args.check and args.time:
        parser.error(
            "--check writes nothing: it cannot be combined with --time"
        )
    root = Path.cwd()
    for path in args.time:
        record = record_time(Path(path), root, args.profile)
        print(
            f"{path}: {duration(record['seconds'])} ({args.profile} profile)"
        )
    page = render(root)
    target = root / PAGE
    if args.check:
        fresh = (
            target.is_file()
            and target.read_text(encoding="utf-8") == page
        )
        print(
            f"{PAGE}: "
            + ("ok" if fresh else f"stale or missing: run `{COMMAND}`")
        )
        return 0 if fresh else 1
    target.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
