"""Data sets as tensors: where they are found (``files``), MNIST and Fashion-MNIST (``images``), rotated
MNIST (``rotation``), English–French sentence pairs (``translation``), their English side as one token
stream for a language model (``sentences``) and 20 Newsgroups (``newsgroups``)."""
