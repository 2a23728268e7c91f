"""Book tooling: execute and stamp the chapter notebooks, check they are fresh (``notebooks``; command
line ``python -m aecourse.book``); write student copies (``student``); make saved progress bars' text
read their final state (``progress``); generate the instructor's page from the chapters (``instructor``;
command line ``python -m aecourse.book.instructor``); print the whole book to one PDF (``pdf``; command
line ``python -m aecourse.book pdf``) with the headless Chromium that the site's browser test also uses
(``browser``); the captions and alt text of the chapters' figures (``figures``)."""
