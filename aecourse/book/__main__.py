"""``python -m aecourse.book execute|bench|check|student|progress ...``: see :mod:`aecourse.book.notebooks`."""

import sys

from aecourse.book.notebooks import main

sys.exit(main())
