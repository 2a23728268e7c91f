"""aecourse: the helper package of the executable autoencoder course.

- ``settings``: device, seed and run profile; ``training``: batches and the training loop (``fit``).
- ``data``: the data sets as tensors: MNIST and Fashion-MNIST, rotated MNIST, English–French sentence
  pairs, 20 Newsgroups.
- ``ops``: what models are built and trained with: reconstruction losses, convolution and unpooling
  written out by hand, input corruptions, code penalties.
- ``models``: fully connected and convolutional autoencoders, the n-h-n number system, deep nets
  pretrained layer by layer, restricted Boltzmann machines, sequence-to-sequence autoencoders,
  variational autoencoders.
- ``evaluation``: what codes are good for, and how it is measured: PCA baselines, probes, clustering,
  anomaly detection, retrieval, imputation, inpainting, decoding translations.
- ``teaching``: the figures the chapters draw (``plots``) and interactive explorers (``widgets``).
- ``experiments``: grids of training runs that regenerate a chapter's tables from the command line.
- ``checks``: the exercise checkers; ``book``: executing, checking and publishing the chapter notebooks.

Chapters are numbered only in ``_toc.yml``: the package names them by topic.
"""

__version__ = "0.2.0"

# The one place that names the release the book was built with: every chapter's Colab cell installs
# exactly this tag (tests/test_chapters.py checks that they do), never whatever is newest.
REPOSITORY = "https://github.com/aecourse/aecourse"
BOOK_REF = f"v{__version__}"
