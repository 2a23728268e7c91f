"""Experiment scripts: the long runs behind a chapter's tables, run from the command line.

Each module runs a grid of training runs (``python -m aecourse.experiments.pretraining --help``) and writes
a stamped results file (:mod:`aecourse.experiments.stamp`): one row per run, with the command, config,
devices, seconds and a hash of the code that made it. The committed files in ``results/`` are what the
chapters read and show; a script stopped by its time budget resumes where it stopped.
"""
