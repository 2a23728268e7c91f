"""``python -m aecourse.book execute|bench|check|student|progress|pdf ...``: see
:mod:`aecourse.book.notebooks` (and :mod:`aecourse.book.pdf`)."""

import sys

from aecourse.book.notebooks import main

sys.exit(main())
