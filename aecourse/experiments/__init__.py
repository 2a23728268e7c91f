"""Experiment scripts that regenerate a chapter's tables from the command line.

Each module runs a grid of training runs, writes one CSV row per run and offers a ``summarise`` that the
chapter's notebook calls on those rows: ``python -m aecourse.experiments.pretraining --out results.csv``
(the pretraining chapter). A notebook runs a small grid itself; the full grid is for a GPU or a long CPU run.
"""
