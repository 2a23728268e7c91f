"""What codes are good for, and how it is measured: PCA baselines (``pca``), linear probes and few-label
classifiers (``probes``), clustering (``clustering``), anomaly detection (``anomaly``), retrieval and
semantic hashing (``retrieval``), imputation (``imputation``), inpainting (``inpainting``), decoding
translations with BLEU (``decoding``), the Fréchet distance of generated images (``frechet``), the PCA
and dictionary-learning baselines of sparse autoencoders (``dictionary``) and reading what a feature
responds to (``features``)."""
