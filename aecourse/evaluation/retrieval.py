"""Retrieval by codes and the baselines an autoencoder's codes must beat (the applications chapter).

A code is good for retrieval when the items nearest to a query share its label. :func:`precision_at_k`
(and :func:`precision_at_ks`, for several k at once) measures that for real-valued codes (cosine similarity) and for binary codes (Hamming distance, as in
semantic hashing). The baselines give codes of the same size without training a network:

- :func:`pca_sign_codes`: the top ``n_bits`` principal components, thresholded at 0 (the training mean);
- :func:`random_projection_codes`: signs of random Gaussian hyperplanes through the training mean (LSH);
- :func:`lsa_codes`: latent semantic analysis, a truncated SVD of the document-word matrix.

Tensors go in and come out on their own device; the baselines fit with scikit-learn on the CPU.
Distances are computed a chunk of queries at a time, so 10k × 10k comparisons need little memory.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from aecourse._args import binary, integer, to_numpy

METRICS = ("cosine", "hamming")


def _check_codes(name: str, codes: torch.Tensor) -> None:
    if (
        not isinstance(codes, torch.Tensor)
        or codes.dim() != 2
        or len(codes) == 0
    ):
        shape = (
            tuple(codes.shape)
            if isinstance(codes, torch.Tensor)
            else type(codes).__name__
        )
        raise ValueError(
            f"{name} must be a tensor of shape (N, D) with N >= 1, got {shape}."
        )


def _retrieved(distance: torch.Tensor, k: int) -> torch.Tensor:
    """Mask (Q, N) of each row's k smallest entries, ties at the k-th distance going to lower columns.

    Everything closer than the k-th smallest distance is in; of the entries equal to it, the first ones
    (by column) fill the remaining places. No sort: two passes over the row.
    """
    kth = distance.topk(k, dim=1, largest=False).values[:, -1:]
    closer = distance < kth
    tied = distance == kth
    room = k - closer.sum(1, keepdim=True)
    return closer | (tied & (tied.cumsum(1, dtype=torch.int32) <= room))


def precision_at_k(
    query_codes: torch.Tensor,
    query_labels: torch.Tensor,
    base_codes: torch.Tensor,
    base_labels: torch.Tensor,
    k: int,
    metric: str = "cosine",
    *,
    exclude_self: bool = False,
    chunk_size: int = 1024,
) -> float:
    """The fraction of each query's k nearest base items that share its label, averaged over queries.

    query_codes (Q, D), query_labels (Q,); base_codes (N, D), base_labels (N,). metric: "cosine" (largest
    cosine similarity first; an all-zero code has similarity 0 to everything) or "hamming" (codes of 0
    and 1; fewest differing bits first). Ties are broken deterministically by base index: among base items
    at the same distance, the one earlier in base_codes is retrieved first.
    exclude_self: the queries *are* the base (Q = N, same order) and item i may not retrieve itself.
    Everything is moved to query_codes' device; chunk_size queries are compared at a time, so memory is
    O(chunk_size × N). Returns a Python float in [0, 1]. For several k at once, :func:`precision_at_ks`
    computes the distances only once.
    Raises ValueError for bad shapes, lengths, k outside [1, N] (N − 1 with exclude_self), an unknown
    metric, or non-binary codes with metric="hamming".
    """
    return precision_at_ks(
        query_codes,
        query_labels,
        base_codes,
        base_labels,
        (k,),
        metric,
        exclude_self=exclude_self,
        chunk_size=chunk_size,
    )[k]


def precision_at_ks(
    query_codes: torch.Tensor,
    query_labels: torch.Tensor,
    base_codes: torch.Tensor,
    base_labels: torch.Tensor,
    ks,
    metric: str = "cosine",
    *,
    exclude_self: bool = False,
    chunk_size: int = 1024,
) -> dict[int, float]:
    """:func:`precision_at_k` for each k in ``ks`` (a sequence of ints): {k: precision@k}.

    The query-to-base distances, most of the cost, are computed once per chunk and shared by every k.
    """
    _check_codes("query_codes", query_codes)
    _check_codes("base_codes", base_codes)
    if metric not in METRICS:
        raise ValueError(
            f"metric must be one of {METRICS}, got {metric!r}."
        )
    if query_codes.shape[1] != base_codes.shape[1]:
        raise ValueError(
            f"Query and base codes must have the same width D, got {query_codes.shape[1]} and {base_codes.shape[1]}."
        )
    if query_labels.shape != (len(query_codes),) or base_labels.shape != (
        len(base_codes),
    ):
        raise ValueError(
            f"Labels must be (Q,) = ({len(query_codes)},) and (N,) = ({len(base_codes)},), "
            f"got {tuple(query_labels.shape)} and {tuple(base_labels.shape)}."
        )
    if exclude_self and len(query_codes) != len(base_codes):
        raise ValueError(
            f"exclude_self needs the queries to be the base (Q = N), got Q = {len(query_codes)}, N = {len(base_codes)}."
        )
    limit = len(base_codes) - (1 if exclude_self else 0)
    if isinstance(ks, (int, torch.Tensor)) or not hasattr(ks, "__iter__"):
        raise ValueError(
            f"ks must be a sequence of whole numbers such as (1, 10, 100), got {ks!r}; "
            "for one k, use precision_at_k."
        )
    ks = tuple(ks)
    for k in ks:
        integer("k", k, 1, limit)
    if not ks:
        raise ValueError("ks must hold at least one k.")
    if chunk_size < 1:
        raise ValueError(
            f"chunk_size must be positive, got {chunk_size}."
        )
    device = query_codes.device
    base = base_codes.to(device)
    query_labels, base_labels = (
        query_labels.to(device),
        base_labels.to(device),
    )
    if metric == "hamming":
        hint = (
            "metric='hamming' compares binary codes (see binarize_codes)."
        )
        binary("query_codes", query_codes, hint)
        binary("base_codes", base, hint)
        # 0/1 codes: |a − b|² summed = Σa + Σb − 2 a·b. float32 holds these integer counts exactly up to
        # D = 2²⁴ bits, and its matrix product is twice as fast as float64's.
        base = base.to(torch.float32)
        base_ones = base.sum(1)
    else:
        base = F.normalize(base.to(torch.float32), dim=1)
    hits = dict.fromkeys(ks, 0.0)
    for start in range(0, len(query_codes), chunk_size):
        queries = query_codes[start : start + chunk_size]
        if metric == "hamming":
            queries = queries.to(torch.float32)
            distance = (
                queries.sum(1, keepdim=True)
                + base_ones
                - 2 * queries @ base.T
            )
        else:
            distance = -(
                F.normalize(queries.to(torch.float32), dim=1) @ base.T
            )
        if exclude_self:
            rows = torch.arange(len(queries), device=device)
            distance[rows, rows + start] = float("inf")
        same = (
            base_labels[None, :]
            == query_labels[start : start + chunk_size, None]
        )
        for k in ks:
            hits[k] += (_retrieved(distance, k) & same).sum().item()
    return {k: hits[k] / (len(query_codes) * k) for k in ks}


def binarize_codes(
    codes: torch.Tensor, threshold: float = 0.5
) -> torch.Tensor:
    """1 where a code is above threshold, else 0 (e.g. sigmoid codes at 0.5).

    codes: any shape  ->  same shape, float32 (of codes' dtype if that is floating) of 0s and 1s, on codes'
    device. An entry equal to the threshold becomes 0.
    """
    dtype = codes.dtype if codes.is_floating_point() else torch.float32
    return (codes > threshold).to(dtype)


# --- baselines -------------------------------------------------------------------------------------------


def _check_pair(train: torch.Tensor, test: torch.Tensor) -> None:
    _check_codes("train", train)
    _check_codes("test", test)
    if train.shape[1] != test.shape[1]:
        raise ValueError(
            f"train and test must have the same number of features D, got {train.shape[1]} and {test.shape[1]}."
        )


def pca_sign_codes(
    train: torch.Tensor, test: torch.Tensor, n_bits: int, *, seed: int = 0
):
    """Binary codes from the signs of the top principal components (PCA fitted on train only).

    train (N, D), test (M, D)  ->  (train codes (N, n_bits), test codes (M, n_bits)), float32 0/1 on the
    inputs' devices: bit j is 1 where the projection on component j is > 0, i.e. beyond the training
    mean. Components come from ``sklearn.decomposition.PCA(n_bits, random_state=seed)`` (its randomized
    solver, when it picks one, is then repeatable; its sign convention fixes each component's direction).
    Raises ValueError for bad shapes or n_bits outside [1, min(N, D)].
    """
    from sklearn.decomposition import PCA

    _check_pair(train, test)
    # at most min(N, D) principal components
    integer("n_bits", n_bits, 1, min(train.shape))
    pca = PCA(n_components=n_bits, random_state=seed).fit(
        to_numpy(train, np.float32)
    )

    def codes(x):
        bits = pca.transform(to_numpy(x, np.float32)) > 0
        return torch.from_numpy(bits).to(
            device=x.device, dtype=torch.float32
        )

    return codes(train), codes(test)


def random_projection_codes(
    train: torch.Tensor, test: torch.Tensor, n_bits: int, seed: int = 0
):
    """Locality-sensitive hashing: signs of n_bits random Gaussian hyperplanes through the training mean.

    train (N, D), test (M, D)  ->  (train codes (N, n_bits), test codes (M, n_bits)), float32 0/1 on the
    inputs' devices; bit j is 1 where (x − mean(train)) · w_j > 0, w_j ~ N(0, I). The hyperplanes are drawn
    on the CPU from a generator seeded with ``seed``, so a seed gives the same codes on every device.
    Raises ValueError for bad shapes or n_bits < 1.
    """
    _check_pair(train, test)
    # a positive number of hyperplanes
    integer("n_bits", n_bits, 1, 2**20)
    generator = torch.Generator().manual_seed(seed)
    planes = torch.randn(train.shape[1], n_bits, generator=generator)
    mean = train.to(torch.float32).mean(0)

    def codes(x):
        w = planes.to(x.device)
        return ((x.to(torch.float32) - mean.to(x.device)) @ w > 0).to(
            torch.float32
        )

    return codes(train), codes(test)


def lsa_codes(
    train: torch.Tensor,
    test: torch.Tensor,
    n_components: int,
    seed: int = 0,
):
    """Latent semantic analysis: real-valued codes from a truncated SVD fitted on train only.

    train (N, D), test (M, D) document-word matrices (counts, proportions or tf-idf: what you pass is what
    is factorised; no centring)  ->  (train codes (N, n_components), test codes (M, n_components)) float32
    on the inputs' devices, from ``sklearn.decomposition.TruncatedSVD(n_components, random_state=seed)``.
    Compare them with metric="cosine". Raises ValueError for bad shapes or n_components outside [1, D − 1].
    """
    from sklearn.decomposition import TruncatedSVD

    _check_pair(train, test)
    # fewer than the D features
    integer("n_components", n_components, 1, train.shape[1] - 1)
    svd = TruncatedSVD(n_components=n_components, random_state=seed).fit(
        to_numpy(train, np.float32)
    )

    def codes(x):
        projected = svd.transform(to_numpy(x, np.float32))
        return torch.from_numpy(projected).to(
            device=x.device, dtype=torch.float32
        )

    return codes(train), codes(test)
