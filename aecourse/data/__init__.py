"""Data sets as tensors: where they are found (``files``), MNIST and Fashion-MNIST (``images``), rotated
MNIST (``rotation``), English–French sentence pairs (``translation``) and 20 Newsgroups (``newsgroups``)."""
