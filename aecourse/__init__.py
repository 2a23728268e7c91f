"""aecourse: the helper package of the executable autoencoder course.

Each module serves the chapters with one concern: ``settings`` (device, seed, profile), ``data`` (MNIST and
Fashion-MNIST as tensors), ``models`` (Encoder, Decoder, Autoencoder), ``losses`` (reconstruction_loss,
multinomial_loss), ``training`` (fit), ``plots``, ``pca`` (chapter 1), ``number_system`` (chapter 2),
``convolution``, ``conv_models`` and ``widgets`` (chapter 3), ``corruptions``, ``regularizers`` and ``probes``
(chapter 4), ``pretraining``, ``rotation`` and ``experiments.pretraining`` (chapter 5), ``translation``,
``seq2seq`` and ``decoding`` (chapter 6), ``vae`` (chapter 7), ``anomaly``, ``imputation``, ``inpainting``,
``newsgroups``, ``retrieval`` and ``clustering`` (chapter 8), ``checks`` (exercise checkers) and ``notebooks``
(executing and checking the chapters).
"""

__version__ = "0.1.0"

# The one place that names the release the book was built with: every chapter's Colab cell installs
# exactly this tag (tests/test_chapters.py checks that they do), never whatever is newest.
REPOSITORY = "https://github.com/aecourse/aecourse"
BOOK_REF = f"v{__version__}"
