"""Retrieval by codes and the baselines an autoencoder's codes must beat (the applications chapter).

A code is good for retrieval when the items nearest to a query share its label. :func:`precision_at_k`
(and :func:`precision_at_ks`, for several k at once) measures that for real-valued codes (cosine similarity) and for binary codes (Hamming distance, as in
semantic hashing). The baselines give codes of the same size without training a network:

- :func:`pca_sign_codes`: the top ``n_bits`` principal components, thresholded at 0 (the training mean);
- :func:`random_projection_codes`: signs of random Gaussian hyperplanes through the training mean (LSH);
- :func:`lsa_codes`: latent semantic analysis, a truncated SVD of the document-word matrix.

Semantic hashing proper (Salakhutdinov & Hinton 2009) has two more parts: a network whose code units get
Gaussian noise *before* their sigmoid while training (:func:`hashing_autoencoder`, :class:`NoisySigmoid`), and
a search that never compares the query with the whole database: the codes, packed into integers
(:func:`pack_bits`), are the keys of a hash table (:class:`HashTable`), and a query reads the buckets of
every code within a small Hamming distance of its own (its Hamming ball, :func:`hamming_ball_masks`).
:func:`linear_scan` is the exhaustive search it is timed against.

Tensors go in and come out on their own device; the baselines fit with scikit-learn on the CPU.
Distances are computed a chunk of queries at a time, so 10k × 10k comparisons need little memory.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import binary, integer, to_numpy
from aecourse.models.autoencoder import Autoencoder

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


# --- semantic hashing: noisy sigmoid codes, packed bits, a hash table -------------------------------------


class NoisySigmoid(nn.Module):
    """sigmoid(a + ε) with ε ~ N(0, std²) while training, sigmoid(a) in evaluation (``model.eval()``).

    The code layer of semantic hashing: the noise is added to the code units' *inputs*, before the
    sigmoid. A unit whose input sits near 0 gives a value near 0.5 that the noise flips at random, useless
    to the decoder; only an input far beyond ±std gives a value the noise cannot move, so training pushes
    the inputs far out and the outputs to 0 or 1, where rounding loses little.
    a: any shape -> same shape, in (0, 1). Raises ValueError if std < 0.
    """

    def __init__(self, std: float):
        super().__init__()
        if not std >= 0:
            raise ValueError(
                f"std is a standard deviation and must be >= 0, got {std!r}."
            )
        self.std = float(std)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if self.training and self.std > 0:
            a = a + self.std * torch.randn_like(a)
        return torch.sigmoid(a)

    def extra_repr(self) -> str:
        return f"std={self.std}"


def hashing_autoencoder(
    sizes, noise_std: float = 4.0, normalize_code: bool = True
) -> Autoencoder:
    """An autoencoder whose code is ``sizes[-1]`` sigmoid units with noise before the sigmoid.

    sizes: the encoder's [input, hidden..., bits], e.g. [784, 500, 250, 32]; ReLU hidden layers, a sigmoid
    output (data in [0, 1]). The code layer is Linear → (BatchNorm1d if normalize_code) → NoisySigmoid(noise_std):
    the batch normalisation keeps every code unit's inputs spread over each batch, so no unit can sit at
    the same value for every input. Encode, then :func:`binarize_codes`, for the bits.
    Input (N, *shape) with prod(shape) == sizes[0] -> (N, *shape); encode -> (N, bits).
    """
    model = Autoencoder(
        sizes, code_activation="sigmoid", normalize_code=normalize_code
    )
    layers = model.encoder.layers
    assert isinstance(layers[-1], nn.Sigmoid)
    layers[-1] = NoisySigmoid(noise_std)
    return model


def pack_bits(bits) -> np.ndarray:
    """Pack each row of 0/1 codes into one integer, bit j of the row as bit j of the number.

    bits: (N, B) tensor or array of 0 and 1, B <= 64  ->  (N,) numpy uint64. Raises ValueError for
    non-binary codes, a shape other than (N, B) or B > 64.
    """
    if isinstance(bits, torch.Tensor):
        binary("bits", bits)
    array = to_numpy(bits)
    if array.ndim != 2 or array.shape[1] < 1 or array.shape[1] > 64:
        raise ValueError(
            f"bits must be an (N, B) array with 1 <= B <= 64, got shape {array.shape}."
        )
    if not np.isin(array, (0, 1)).all():
        raise ValueError("bits must hold only 0 and 1.")
    weights = np.left_shift(
        np.uint64(1), np.arange(array.shape[1], dtype=np.uint64)
    )
    return (array.astype(np.uint64) * weights).sum(1, dtype=np.uint64)


def hamming_ball_masks(n_bits: int, radius: int) -> np.ndarray:
    """Every B-bit number with at most ``radius`` ones, fewest ones first: code XOR mask walks a Hamming ball.

    n_bits: B in [1, 64]; radius in [0, B]  ->  (Σ_{r ≤ radius} C(B, r),) numpy uint64, starting with 0.
    """
    from itertools import combinations

    integer("n_bits", n_bits, 1, 64)
    integer("radius", radius, 0, n_bits)
    masks = [
        sum(1 << j for j in flipped)
        for r in range(radius + 1)
        for flipped in combinations(range(n_bits), r)
    ]
    return np.array(masks, dtype=np.uint64)


class HashTable:
    """A Python dict from a packed code to the indices of the database items that have it.

    codes: (N,) packed codes (:func:`pack_bits`) of the database, n_bits: their length B.
    :meth:`lookup` returns the items within a Hamming radius of a query code by reading one bucket per
    code in the ball: C(B, 0) + ... + C(B, r) dict look-ups, however large the database is.
    """

    def __init__(self, codes: np.ndarray, n_bits: int):
        codes = np.asarray(codes, dtype=np.uint64)
        if codes.ndim != 1:
            raise ValueError(
                f"codes must be (N,) packed codes, got shape {codes.shape}."
            )
        self.n_bits = integer("n_bits", n_bits, 1, 64)
        order = np.argsort(codes, kind="stable")
        keys, starts = np.unique(codes[order], return_index=True)
        ends = np.append(starts[1:], len(codes))
        self.table = {
            int(k): order[a:b] for k, a, b in zip(keys, starts, ends)
        }
        self._masks: dict[int, list[int]] = {}

    def __len__(self) -> int:
        """The number of non-empty buckets."""
        return len(self.table)

    def lookup(self, code: int, radius: int) -> np.ndarray:
        """Indices (sorted) of the database items whose code differs from ``code`` in at most radius bits."""
        if radius not in self._masks:
            self._masks[radius] = [
                int(m) for m in hamming_ball_masks(self.n_bits, radius)
            ]
        get, code = self.table.get, int(code)
        found = [
            bucket
            for m in self._masks[radius]
            if (bucket := get(code ^ m)) is not None
        ]
        if not found:
            return np.empty(0, dtype=np.int64)
        return np.sort(np.concatenate(found))


def linear_scan(query: int, codes: np.ndarray, k: int) -> np.ndarray:
    """The exhaustive search: the k database items nearest to one query code in Hamming distance.

    query: a packed code; codes: (N,) packed codes  ->  (k,) indices, nearest first, ties going to the
    lower index (the order of :func:`precision_at_k`). One XOR and one bit count per database item.
    """
    codes = np.asarray(codes, dtype=np.uint64)
    integer("k", k, 1, len(codes))
    distance = np.bitwise_count(codes ^ np.uint64(query)).astype(np.int64)
    # distance first, index second, in one integer key: no ties left
    key = distance * len(codes) + np.arange(len(codes))
    nearest = np.argpartition(key, k - 1)[:k]
    return nearest[np.argsort(key[nearest])]


def search_benchmark(
    base_bits,
    base_labels,
    query_bits,
    query_labels,
    radii=(0, 1, 2),
    k: int = 10,
) -> dict[str, dict[str, float]]:
    """Search a database of binary codes with a hash table (Hamming balls) and with a linear scan.

    base_bits (N, B), query_bits (Q, B): 0/1 codes (B <= 64); base_labels (N,), query_labels (Q,).
    Returns {search: scores}, with the searches "radius r" for r in radii (every item within Hamming
    distance r, read from a :class:`HashTable`) and "scan, k nearest" (:func:`linear_scan`). Scores:
    ``precision`` (share of the retrieved items with the query's label, averaged over the queries that
    retrieved any), ``answered`` (share of queries that retrieved at least one item), ``retrieved`` (mean
    number of items per query) and ``ms_per_query`` (wall time of all queries by time.perf_counter,
    divided by Q, in milliseconds; the table is built beforehand, outside the timing).
    """
    import time

    base, queries = pack_bits(base_bits), pack_bits(query_bits)
    base_labels, query_labels = (
        to_numpy(base_labels),
        to_numpy(query_labels),
    )
    if (
        base_labels.shape != base.shape
        or query_labels.shape != queries.shape
    ):
        raise ValueError(
            "base_labels and query_labels must be (N,) and (Q,), one label per code."
        )
    n_bits = np.asarray(to_numpy(base_bits)).shape[1]
    table = HashTable(base, n_bits)
    searches = {
        f"radius {r}": (lambda q, r=r: table.lookup(q, r)) for r in radii
    }
    searches[f"scan, {k} nearest"] = lambda q: linear_scan(q, base, k)
    scores = {}
    for name, search in searches.items():
        start = time.perf_counter()
        found = [search(q) for q in queries.tolist()]
        seconds = time.perf_counter() - start
        sizes = np.array([len(f) for f in found])
        hits = [
            (base_labels[f] == y).mean()
            for f, y in zip(found, query_labels)
            if len(f)
        ]
        scores[name] = {
            "precision": float(np.mean(hits)) if hits else None,
            "answered": float((sizes > 0).mean()),
            "retrieved": float(sizes.mean()),
            "ms_per_query": 1000 * seconds / len(queries),
        }
    return scores
