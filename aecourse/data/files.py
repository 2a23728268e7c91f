"""Where data sets live: one data folder (``AECOURSE_DATA``), a writable cache, and downloads into it.

Every data set of the course is found the same way (see :mod:`aecourse.data.images` for the images, and
the one-file corpora of :mod:`aecourse.data.translation` and :mod:`aecourse.data.newsgroups`): in the data
folder, else in the cache (``~/.cache/aecourse``), else downloaded into the cache. The data folder itself
is never written to, so it can be a shared, read-only copy.
"""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT_DATA = Path(__file__).resolve().parents[2] / "data"


class DataNotFoundError(FileNotFoundError):
    """A data set is neither on disk nor downloadable; the message says what to do."""


def data_root() -> Path:
    """The folder data sets are read from: ``$AECOURSE_DATA``, else this checkout's ``data/``."""
    value = os.environ.get("AECOURSE_DATA", "").strip()
    if value:
        return Path(value).expanduser()
    return _CHECKOUT_DATA if _CHECKOUT_DATA.is_dir() else Path("data")


def cache_root() -> Path:
    """A writable folder to unpack data into when ``data_root()`` is read-only."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "aecourse"


def find_file(
    relative: Path,
    fetch,
    title: str,
    contents: str,
    download: bool = True,
    errors=(OSError,),
) -> Path:
    """A one-file data set (the text corpora): ``data_root() / relative``, else its copy in the cache, else
    ``fetch(target)`` downloads it to ``target = cache_root() / relative`` (never into the data folder, which
    may be read-only). fetch must leave no file under the target's name when it fails.

    title ("The English–French pairs") and contents (what the file holds and where it comes from) make the
    DataNotFoundError's message, raised when the file is nowhere and ``download`` is False or fetch raises one
    of ``errors`` (URLError is an OSError).
    """
    root = data_root()
    for path in (root / relative, cache_root() / relative):
        if path.is_file():
            return path

    def not_found(reason: str) -> DataNotFoundError:
        where = (
            "set by AECOURSE_DATA"
            if os.environ.get("AECOURSE_DATA")
            else "the default; set AECOURSE_DATA to change it"
        )
        folder = root / relative.parent
        return DataNotFoundError(
            f"{title} {relative.name} is not in {folder} ({where}) and could not be downloaded ({reason}).\n"
            f"Put {relative.name} ({contents}) into {folder}, or point AECOURSE_DATA at a folder that has "
            f"{relative.as_posix()} (for example: export AECOURSE_DATA=../shared/data), or run once with a network "
            "connection to download it."
        )

    if not download:
        raise not_found("downloading is switched off")
    target = cache_root() / relative
    try:
        fetch(target)
    except errors as err:
        first_line = (str(err).splitlines() or ["no message"])[0]
        raise not_found(f"{type(err).__name__}: {first_line}") from err
    return target


def _write_whole(target: Path, write) -> None:
    """Call write(path) on a temporary name beside target, then rename it to target in one step.

    Two notebooks started together both fill the cache; the rename means neither ever reads the other's
    half-written file (torchvision would fail on it with a cryptic error).
    """
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        write(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
