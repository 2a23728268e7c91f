"""aecourse.evaluation.retrieval: precision@k by hand and against scikit-learn, and the PCA, LSH and LSA baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

from aecourse.evaluation.retrieval import (
    HashTable,
    NoisySigmoid,
    binarize_codes,
    hamming_ball_masks,
    hashing_autoencoder,
    linear_scan,
    lsa_codes,
    pack_bits,
    pca_sign_codes,
    precision_at_k,
    precision_at_ks,
    random_projection_codes,
    search_benchmark,
)

# --- precision@k by hand ----------------------------------------------------------------------------

BASE = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
BASE_LABELS = torch.tensor([0, 1, 0, 1])
QUERIES = torch.tensor([[2.0, 0.1], [0.0, 3.0]])
QUERY_LABELS = torch.tensor([0, 1])


@pytest.mark.parametrize(
    "k, expected",
    [
        # query 0 ranks b0 (0.999), b2 (0.74), b1 (0.05), b3: labels 0, 0, 1, 1.
        # query 1 ranks b1 (1), b2 (0.71), then b0 and b3 tie at 0: b0 (label 0) first, being earlier.
        (1, (1 + 1) / 2),
        (2, (1 + 1 / 2) / 2),
        # b3 instead of b0 for query 1 would give (2/3 + 2/3) / 2
        (3, (2 / 3 + 1 / 3) / 2),
        (4, (2 / 4 + 2 / 4) / 2),
    ],
)
def test_cosine_precision_by_hand(k, expected):
    assert precision_at_k(
        QUERIES, QUERY_LABELS, BASE, BASE_LABELS, k
    ) == pytest.approx(expected)
    assert precision_at_k(
        QUERIES, QUERY_LABELS, BASE, BASE_LABELS, k, chunk_size=1
    ) == pytest.approx(expected)


BITS = torch.tensor([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0]])
BIT_LABELS = torch.tensor([0, 1, 1, 0])


@pytest.mark.parametrize("metric", ["cosine", "hamming"])
def test_several_k_at_once_agree_with_one_k_at_a_time(metric):
    g = torch.Generator().manual_seed(3)
    base = (
        torch.rand(60, 8, generator=g) > 0.5
    ).float()  # binary, so with many ties at each distance
    queries = (torch.rand(13, 8, generator=g) > 0.5).float()
    base_labels, query_labels = (
        torch.randint(0, 3, (60,), generator=g),
        torch.randint(0, 3, (13,), generator=g),
    )
    together = precision_at_ks(
        queries,
        query_labels,
        base,
        base_labels,
        (1, 5, 17, 60),
        metric,
        chunk_size=4,
    )
    assert list(together) == [1, 5, 17, 60]
    for k, value in together.items():
        assert value == precision_at_k(
            queries, query_labels, base, base_labels, k, metric
        )
    assert together[60] == pytest.approx(
        (base_labels[None] == query_labels[:, None])
        .double()
        .mean()
        .item()
    )


@pytest.mark.parametrize(
    "ks, message",
    [
        (10, "ks must be a sequence"),
        ((), "at least one k"),
        ((1, 5), "k must be an integer from 1 to 4, got 5"),
    ],
)
def test_several_k_refuse_a_single_number_an_empty_list_and_a_k_too_large(
    ks, message
):
    with pytest.raises(ValueError, match=message):
        precision_at_ks(QUERIES, QUERY_LABELS, BASE, BASE_LABELS, ks)


@pytest.mark.parametrize(
    "k, expected",
    [
        # [1, 1, 0] is 2, 1, 1, 1 bits from the base: b1, b2, b3 tie, and are taken in that order.
        (1, 1.0),
        (2, 1.0),
        (3, 2 / 3),
        (4, 2 / 4),
    ],
)
def test_hamming_precision_by_hand(k, expected):
    assert precision_at_k(
        torch.tensor([[1, 1, 0]]),
        torch.tensor([1]),
        BITS,
        BIT_LABELS,
        k,
        "hamming",
    ) == pytest.approx(expected)


def test_hamming_ties_go_to_the_earlier_base_item():
    # Reversing the base reverses the tie order: now b3 (label 0) comes first among b3, b2, b1.
    flipped, flipped_labels = BITS.flip(0), BIT_LABELS.flip(0)
    assert (
        precision_at_k(
            torch.tensor([[1, 1, 0]]),
            torch.tensor([1]),
            flipped,
            flipped_labels,
            1,
            "hamming",
        )
        == 0.0
    )
    assert (
        precision_at_k(
            torch.tensor([[1, 1, 0]]),
            torch.tensor([1]),
            flipped,
            flipped_labels,
            2,
            "hamming",
        )
        == 0.5
    )


def test_exclude_self_leaves_each_item_out_of_its_own_neighbours():
    # Each code's nearest other code: 0 -> 2 (1 bit; 3 also 1 bit but 2 is earlier), 1 -> 2 (2 bits,
    # tied with 3: 2 earlier), 2 -> 0, 3 -> 0. Same label: 0-2 no, 1-2 yes, 2-0 no, 3-0 yes.
    assert (
        precision_at_k(
            BITS,
            BIT_LABELS,
            BITS,
            BIT_LABELS,
            1,
            "hamming",
            exclude_self=True,
        )
        == 0.5
    )
    # each finds itself
    assert (
        precision_at_k(BITS, BIT_LABELS, BITS, BIT_LABELS, 1, "hamming")
        == 1.0
    )


# --- against scikit-learn ---------------------------------------------------------------------------


def test_cosine_precision_matches_sklearn_nearest_neighbours():
    rng = np.random.default_rng(0)
    base, queries = rng.normal(size=(300, 8)), rng.normal(size=(70, 8))
    base_labels, query_labels = (
        rng.integers(0, 4, 300),
        rng.integers(0, 4, 70),
    )
    for k in (1, 5, 17):
        index = (
            NearestNeighbors(
                n_neighbors=k, metric="cosine", algorithm="brute"
            )
            .fit(base)
            .kneighbors(queries)[1]
        )
        expected = (base_labels[index] == query_labels[:, None]).mean()
        got = precision_at_k(
            torch.tensor(queries, dtype=torch.float32),
            torch.tensor(query_labels),
            torch.tensor(base, dtype=torch.float32),
            torch.tensor(base_labels),
            k,
            chunk_size=16,
        )
        assert got == pytest.approx(expected, abs=1e-12)
    # Leaving each item out of its own list is asking sklearn for k + 1 neighbours and dropping the first.
    index = (
        NearestNeighbors(
            n_neighbors=6, metric="cosine", algorithm="brute"
        )
        .fit(base)
        .kneighbors(base)[1]
    )
    assert (index[:, 0] == np.arange(300)).all()
    expected = (base_labels[index[:, 1:]] == base_labels[:, None]).mean()
    got = precision_at_k(
        torch.tensor(base),
        torch.tensor(base_labels),
        torch.tensor(base),
        torch.tensor(base_labels),
        5,
        exclude_self=True,
        chunk_size=64,
    )
    assert got == pytest.approx(expected, abs=1e-12)


def test_hamming_precision_matches_sklearn_distances_with_index_tie_breaking():
    rng = np.random.default_rng(1)
    # 6 bits: ties everywhere
    base, queries = (
        rng.integers(0, 2, (400, 6)),
        rng.integers(0, 2, (90, 6)),
    )
    base_labels, query_labels = (
        rng.integers(0, 3, 400),
        rng.integers(0, 3, 90),
    )
    # fraction of bits -> bits
    distance = pairwise_distances(queries, base, metric="hamming") * 6
    for k in (1, 10, 50):
        # by distance, then index
        index = np.array(
            [np.lexsort((np.arange(400), row))[:k] for row in distance]
        )
        expected = (base_labels[index] == query_labels[:, None]).mean()
        got = precision_at_k(
            torch.tensor(queries),
            torch.tensor(query_labels),
            torch.tensor(base, dtype=torch.float32),
            torch.tensor(base_labels),
            k,
            "hamming",
            chunk_size=7,
        )
        assert got == pytest.approx(expected, abs=1e-12)


def test_binarize_codes():
    codes = torch.tensor(
        [[0.1, 0.5, 0.51], [0.9, 0.0, 1.0]], dtype=torch.float64
    )
    assert binarize_codes(codes).tolist() == [[0, 0, 1], [1, 0, 1]]
    assert binarize_codes(codes).dtype == torch.float64
    assert binarize_codes(
        torch.tensor([-2, 0, 3]), threshold=0
    ).tolist() == [0, 0, 1]
    assert (
        binarize_codes(torch.tensor([-2, 0, 3]), threshold=0).dtype
        == torch.float32
    )


# --- baselines -------------------------------------------------------------------------------------------


def correlated(n, d, seed):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3.0
    ).astype(np.float32)


# sklearn picks different solvers for these
@pytest.mark.parametrize("n, d", [(200, 12), (1200, 40)])
def test_pca_sign_codes_match_sklearn(n, d):
    train, test = correlated(n, d, 0), correlated(50, d, 1)
    got_train, got_test = pca_sign_codes(
        torch.tensor(train), torch.tensor(test), 5
    )
    pca = PCA(n_components=5, random_state=0).fit(train)
    assert got_train.dtype == torch.float32 and got_test.shape == (50, 5)
    assert np.array_equal(
        got_train.numpy(), (pca.transform(train) > 0).astype(np.float32)
    )
    assert np.array_equal(
        got_test.numpy(), (pca.transform(test) > 0).astype(np.float32)
    )
    assert (
        got_train.mean(0) - 0.5
    ).abs().max() < 0.2  # the mean splits each component roughly in half


def test_random_projection_codes_repeat_with_a_seed_and_estimate_angles():
    train, test = (
        torch.tensor(correlated(100, 5, 2)),
        torch.tensor(correlated(10, 5, 3)),
    )
    a_train, a_test = random_projection_codes(train, test, 16, seed=3)
    b_train, b_test = random_projection_codes(train, test, 16, seed=3)
    assert torch.equal(a_train, b_train) and torch.equal(a_test, b_test)
    assert not torch.equal(
        random_projection_codes(train, test, 16, seed=4)[1], a_test
    )
    assert a_train.shape == (100, 16) and set(
        a_train.unique().tolist()
    ) <= {0.0, 1.0}
    # Charikar (2002): a random hyperplane separates u and v with probability angle(u, v) / pi,
    # u and v measured from the training mean.
    _, codes = random_projection_codes(train, test, 20000, seed=0)
    centred = test - train.mean(0)
    for i, j in [(0, 1), (2, 7), (4, 9)]:
        angle = math.acos(
            torch.nn.functional.cosine_similarity(
                centred[i], centred[j], dim=0
            ).item()
        )
        assert (
            codes[i] != codes[j]
        ).float().mean().item() == pytest.approx(
            angle / math.pi, abs=0.015
        )


def test_lsa_codes_match_sklearn_truncated_svd():
    rng = np.random.default_rng(5)
    train = rng.poisson(0.3, (150, 40)).astype(np.float32)
    test = rng.poisson(0.3, (30, 40)).astype(np.float32)
    got_train, got_test = lsa_codes(
        torch.tensor(train), torch.tensor(test), 6, seed=2
    )
    svd = TruncatedSVD(n_components=6, random_state=2).fit(train)
    assert got_test.shape == (30, 6) and got_test.dtype == torch.float32
    np.testing.assert_allclose(
        got_train.numpy(), svd.transform(train), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        got_test.numpy(), svd.transform(test), rtol=1e-5, atol=1e-5
    )


# --- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(metric="euclidean"), "metric must be one of"),
        (dict(k=0), "k must be an integer from 1 to 4, got 0"),
        (dict(k=5), "k must be an integer from 1 to 4, got 5"),
        (
            dict(
                k=4,
                exclude_self=True,
                queries=BASE,
                query_labels=BASE_LABELS,
            ),
            "k must be an integer from 1 to 3, got 4",
        ),
        (
            dict(exclude_self=True),
            "exclude_self needs the queries to be the base",
        ),
        (dict(queries=torch.ones(2, 3)), "same width D"),
        (
            dict(queries=torch.ones(2)),
            r"query_codes must be a tensor of shape \(N, D\)",
        ),
        (
            dict(query_labels=torch.tensor([0, 1, 2])),
            r"Labels must be \(Q,\)",
        ),
        (
            dict(metric="hamming"),
            r"query_codes must hold only 0 and 1, got 2\.0\. metric='hamming'",
        ),
        (dict(chunk_size=0), "chunk_size must be positive"),
    ],
)
def test_precision_at_k_refuses_bad_input(change, message):
    args = dict(
        queries=QUERIES, query_labels=QUERY_LABELS, k=2, metric="cosine"
    )
    args.update(change)
    with pytest.raises(ValueError, match=message):
        precision_at_k(
            args.pop("queries"),
            args.pop("query_labels"),
            BASE,
            BASE_LABELS,
            **args,
        )


def test_baselines_refuse_bad_input():
    train, test = torch.rand(20, 6), torch.rand(5, 6)
    with pytest.raises(ValueError, match="same number of features"):
        pca_sign_codes(train, torch.rand(5, 4), 2)
    with pytest.raises(
        ValueError, match=r"n_bits must be an integer from 1 to 6, got 7"
    ):
        pca_sign_codes(train, test, 7)
    with pytest.raises(ValueError, match="n_bits must be"):
        random_projection_codes(train, test, 0)
    with pytest.raises(
        ValueError,
        match=r"n_components must be an integer from 1 to 5, got 6",
    ):
        lsa_codes(train, test, 6)
    with pytest.raises(
        ValueError, match=r"train must be a tensor of shape \(N, D\)"
    ):
        lsa_codes(torch.rand(6), test, 2)


# --- semantic hashing: noisy sigmoid, packed bits, the hash table ------------------------------------


def test_noisy_sigmoid_adds_noise_before_the_sigmoid_only_in_training():
    layer = NoisySigmoid(2.0)
    a = torch.zeros(20_000)
    layer.eval()
    assert torch.equal(layer(a), torch.full_like(a, 0.5))
    layer.train()
    torch.manual_seed(0)
    out = layer(a)
    # sigmoid(N(0, 4)): inside (0, 1), spread far from 0.5, symmetric about it
    assert 0 < out.min() and out.max() < 1
    torch.manual_seed(0)
    expected = torch.sigmoid(2.0 * torch.randn(20_000))
    assert torch.allclose(out, expected)
    # a large input is not moved by the noise
    assert layer(torch.full((100,), 30.0)).min() > 0.999
    with pytest.raises(ValueError, match="std"):
        NoisySigmoid(-1.0)


def test_hashing_autoencoder_code_layer():
    model = hashing_autoencoder([12, 8, 5], noise_std=3.0)
    layers = list(model.encoder.layers)
    assert isinstance(layers[-2], torch.nn.BatchNorm1d)
    assert isinstance(layers[-1], NoisySigmoid) and layers[-1].std == 3.0
    assert model.code_noise == 0  # no noise after the sigmoid
    x = torch.rand(4, 12)
    model.eval()
    z = model.encode(x)
    assert z.shape == (4, 5) and ((z > 0) & (z < 1)).all()
    assert model(x).shape == x.shape
    plain = hashing_autoencoder([12, 8, 5], normalize_code=False)
    assert not any(
        isinstance(m, torch.nn.BatchNorm1d) for m in plain.encoder.layers
    )


def test_pack_bits_by_hand():
    bits = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1]])
    assert pack_bits(bits).tolist() == [1 + 4, 0, 7]
    wide = np.zeros((1, 64), dtype=np.int64)
    wide[0, 63] = 1
    assert pack_bits(wide)[0] == np.uint64(2**63)
    with pytest.raises(ValueError):
        pack_bits(np.zeros((2, 65)))
    with pytest.raises(ValueError):
        pack_bits(np.full((2, 3), 2))
    with pytest.raises(ValueError):
        pack_bits(np.zeros(3))


def test_hamming_ball_masks_count_and_weights():
    masks = hamming_ball_masks(6, 2)
    assert len(masks) == 1 + 6 + 15 and masks[0] == 0
    assert len(set(masks.tolist())) == len(masks)
    weights = [bin(int(m)).count("1") for m in masks]
    assert weights == sorted(weights) and max(weights) == 2
    assert len(hamming_ball_masks(32, 2)) == 1 + 32 + 496
    with pytest.raises(ValueError):
        hamming_ball_masks(6, 7)
    with pytest.raises(ValueError):
        hamming_ball_masks(65, 1)


def _random_bits(n, b, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, b, generator=g) > 0.5).float()


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_hash_table_lookup_is_the_hamming_ball(radius):
    base, queries = _random_bits(300, 8, 1), _random_bits(20, 8, 2)
    table = HashTable(pack_bits(base), 8)
    distance = (queries[:, None, :] != base[None, :, :]).sum(-1)
    for q, code in enumerate(pack_bits(queries)):
        expected = (distance[q] <= radius).nonzero().flatten().numpy()
        assert np.array_equal(table.lookup(int(code), radius), expected)
    assert len(table) == len(np.unique(pack_bits(base)))


def test_linear_scan_matches_precision_at_k_order():
    base, queries = _random_bits(200, 10, 3), _random_bits(15, 10, 4)
    packed = pack_bits(base)
    distance = (queries[:, None, :] != base[None, :, :]).sum(-1)
    for q, code in enumerate(pack_bits(queries)):
        found = linear_scan(int(code), packed, 7)
        # nearest first, ties to the lower index: a stable sort of the distances
        expected = torch.sort(distance[q], stable=True).indices[:7]
        assert found.tolist() == expected.tolist()
    with pytest.raises(ValueError):
        linear_scan(0, packed, 0)


def test_search_benchmark_scores_by_hand():
    # database codes 000, 001, 011 (labels 0, 0, 1); one query 000, label 0
    base = torch.tensor([[0, 0, 0], [1, 0, 0], [1, 1, 0]])
    scores = search_benchmark(
        base,
        torch.tensor([0, 0, 1]),
        torch.tensor([[0, 0, 0]]),
        torch.tensor([0]),
        radii=(0, 1, 2),
        k=2,
    )
    assert scores["radius 0"]["retrieved"] == 1
    assert scores["radius 1"]["precision"] == 1.0
    assert scores["radius 2"]["retrieved"] == 3
    assert scores["radius 2"]["precision"] == pytest.approx(2 / 3)
    assert scores["scan, 2 nearest"]["precision"] == 1.0
    assert all(s["answered"] == 1.0 for s in scores.values())
    assert all(s["ms_per_query"] >= 0 for s in scores.values())
    # a query whose ball is empty is not answered, and precision has no value
    far = search_benchmark(
        base,
        torch.tensor([0, 0, 1]),
        torch.tensor([[0, 1, 1]]),
        torch.tensor([0]),
        radii=(0,),
        k=1,
    )
    assert far["radius 0"]["answered"] == 0.0
    assert far["radius 0"]["precision"] is None
    with pytest.raises(ValueError):
        search_benchmark(
            base, torch.tensor([0, 1]), base, torch.tensor([0, 0, 1])
        )
