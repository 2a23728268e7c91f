"""aecourse.evaluation.probes: a linear probe reads separable classes, not random ones, and standardises fairly.

The data are synthetic Gaussian clusters, so each test knows what accuracy is possible: nearly 1 for
well-separated means, chance (1/C) for labels drawn independently of the codes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aecourse.evaluation.probes import (
    ProbeResult,
    balanced_indices,
    few_label_accuracy,
    linear_probe,
    standardise,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def clusters(
    n: int,
    k: int = 20,
    classes: int = 10,
    spread: float = 6.0,
    seed: int = 0,
):
    """n codes (n, k) around one random mean per class (means `spread` apart on average), labels (n,)."""
    g = gen(seed)
    # the same classes every split
    means = (
        spread
        / math.sqrt(2)
        * torch.randn(classes, k, generator=gen(1000))
    )
    labels = torch.randint(0, classes, (n,), generator=g)
    return means[labels] + torch.randn(n, k, generator=g), labels


def test_separable_classes_are_read_almost_perfectly():
    train_x, train_y = clusters(2000, seed=1)
    test_x, test_y = clusters(1000, seed=2)
    result = linear_probe(train_x, train_y, test_x, test_y, epochs=10)
    assert isinstance(result, ProbeResult)
    assert result.test_accuracy > 0.97 and result.train_accuracy > 0.97
    assert (
        len(result.test_accuracy_per_epoch)
        == len(result.train_loss_per_epoch)
        == 10
    )
    assert result.test_accuracy == result.test_accuracy_per_epoch[-1]
    assert (
        result.train_loss_per_epoch[-1] < result.train_loss_per_epoch[0]
    )


def test_random_labels_give_chance_on_the_test_set():
    g = gen(3)
    train_x, test_x = (
        torch.randn(2000, 50, generator=g),
        torch.randn(2000, 50, generator=g),
    )
    train_y, test_y = (
        torch.randint(0, 10, (2000,), generator=g),
        torch.randint(0, 10, (2000,), generator=g),
    )
    result = linear_probe(train_x, train_y, test_x, test_y, epochs=10)
    assert abs(result.test_accuracy - 0.1) < 5 * math.sqrt(
        0.1 * 0.9 / 2000
    )
    # it memorises some of the noise, but learns nothing
    assert result.train_accuracy > result.test_accuracy


def test_features_are_standardised_with_training_statistics_only():
    # Two classes apart along feature 0 at −1 and +1. A test set shifted by +10 lies entirely on the
    # class-1 side of the training boundary; had it been standardised with its own mean, the shift would
    # vanish and it would be classified perfectly.
    g = gen(4)
    y = torch.arange(400) % 2
    x = torch.randn(400, 3, generator=g) * 0.1
    x[:, 0] += 2.0 * y - 1.0
    shifted = x.clone()
    shifted[:, 0] += 10
    # 400 examples are only 2 steps an epoch: a larger step to converge
    fit = dict(epochs=20, lr=0.05)
    assert linear_probe(x, y, x, y, **fit).test_accuracy == 1.0
    assert linear_probe(x, y, shifted, y, **fit).test_accuracy == 0.5


def test_standardise_by_hand_and_constant_features():
    train = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    test = torch.tensor([[2.0, 7.0]])
    a, b = standardise(train, test)
    s = math.sqrt(2)  # unbiased std of (1, 3)
    torch.testing.assert_close(
        a, torch.tensor([[-1 / s, 0.0], [1 / s, 0.0]])
    )
    # the constant feature is centred, not scaled
    torch.testing.assert_close(b, torch.tensor([[0.0, 2.0]]))


def test_a_constant_feature_does_no_harm():
    train_x, train_y = clusters(500, k=5, seed=5)
    test_x, test_y = clusters(300, k=5, seed=6)
    pad = lambda x: torch.cat([x, torch.full((len(x), 1), 0.7)], 1)  # noqa: E731
    result = linear_probe(
        pad(train_x), train_y, pad(test_x), test_y, epochs=5
    )
    assert not math.isnan(result.train_loss_per_epoch[-1])
    assert (
        result.test_accuracy
        == linear_probe(
            train_x, train_y, test_x, test_y, epochs=5
        ).test_accuracy
    )


def test_the_same_seed_gives_the_same_probe_whatever_the_global_state():
    train_x, train_y = clusters(600, spread=2.0, seed=7)
    test_x, test_y = clusters(400, spread=2.0, seed=8)
    torch.manual_seed(1)
    first = linear_probe(train_x, train_y, test_x, test_y, epochs=4)
    torch.manual_seed(2)
    assert (
        linear_probe(train_x, train_y, test_x, test_y, epochs=4) == first
    )
    assert (
        linear_probe(train_x, train_y, test_x, test_y, epochs=4, seed=1)
        != first
    )


def test_images_and_numpy_arrays_are_accepted():
    train_x, train_y = clusters(300, k=16, seed=9)
    test_x, test_y = clusters(200, k=16, seed=10)
    as_images = linear_probe(
        train_x.reshape(-1, 1, 4, 4),
        train_y,
        test_x.reshape(-1, 1, 4, 4),
        test_y,
        epochs=3,
    )
    as_arrays = linear_probe(
        train_x.numpy(),
        train_y.numpy(),
        test_x.numpy(),
        test_y.numpy(),
        epochs=3,
    )
    assert (
        as_images
        == as_arrays
        == linear_probe(train_x, train_y, test_x, test_y, epochs=3)
    )


def test_num_classes_beyond_the_labels_seen():
    train_x, train_y = clusters(300, k=8, classes=3, seed=11)
    result = linear_probe(
        train_x, train_y, train_x, train_y, epochs=3, num_classes=10
    )
    assert result.train_accuracy > 0.9  # the unused classes never win


@pytest.mark.parametrize(
    "change,message",
    [
        (
            dict(train_labels=torch.zeros(5, dtype=torch.int64)),
            r"train_labels must be \(N,\) with one label per example",
        ),
        (
            dict(train_labels=torch.zeros(10)),
            r"train_labels must be integer class indices, got dtype torch\.float32",
        ),
        (
            dict(test_labels=-torch.ones(4, dtype=torch.int64)),
            r"test_labels must be class indices 0, 1, \.\.\., got -1",
        ),
        (
            dict(test_codes=torch.zeros(4, 2)),
            r"same number of features, got 3 and 2",
        ),
        (
            dict(train_codes=torch.zeros(10)),
            r"train_codes must be a batch \(N, k\)",
        ),
        (dict(epochs=0), r"epochs must be an int ≥ 1, got 0"),
        (
            dict(batch_size=2.5),
            r"batch_size must be an int ≥ 1, got 2\.5",
        ),
        (
            dict(num_classes=2),
            r"num_classes = 2, but the labels go up to 3",
        ),
    ],
)
def test_bad_arguments_are_refused(change, message):
    args = dict(
        train_codes=torch.zeros(10, 3),
        train_labels=torch.arange(10) % 4,
        test_codes=torch.zeros(4, 3),
        test_labels=torch.arange(4),
    )
    args.update(change)
    with pytest.raises(ValueError, match=message):
        linear_probe(**args)


def test_numpy_labels_of_any_integer_type():
    train_x, train_y = clusters(200, k=4, classes=2, seed=12)
    result = linear_probe(
        train_x,
        train_y.numpy().astype(np.uint8),
        train_x,
        train_y.numpy().astype(np.int32),
        epochs=2,
    )
    assert 0 <= result.test_accuracy <= 1


# --- few_label_accuracy ---------------------------------------------------------------------------------


def test_balanced_indices_draws_the_same_number_from_every_class():
    # unequal classes, labels not 0..C−1
    labels = np.repeat([3, 0, 7], [50, 20, 30])
    chosen = balanced_indices(labels, 30, np.random.default_rng(0))
    assert chosen.shape == (30,) and len(set(chosen.tolist())) == 30
    # class by class
    assert labels[chosen].tolist() == [0] * 10 + [3] * 10 + [7] * 10
    assert np.array_equal(
        chosen, balanced_indices(labels, 30, np.random.default_rng(0))
    )
    assert not np.array_equal(
        chosen, balanced_indices(labels, 30, np.random.default_rng(1))
    )
    assert sorted(
        balanced_indices(labels, 60, np.random.default_rng(2))[:20]
    ) == list(range(50, 70))  # all of 0


def test_few_labels_read_separable_classes_almost_perfectly():
    train_x, train_y = clusters(2000, seed=20)
    test_x, test_y = clusters(1000, seed=21)
    accuracy = few_label_accuracy(
        train_x, train_y, test_x, test_y, n_labels=50, draws=3
    )
    assert isinstance(accuracy, np.ndarray) and accuracy.shape == (3,)
    assert (accuracy > 0.95).all()


def test_each_draw_is_scikit_learn_on_its_balanced_sample():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    # overlapping: draws differ
    train_x, train_y = clusters(1000, k=30, spread=0.5, seed=22)
    test_x, test_y = clusters(500, k=30, spread=0.5, seed=23)
    accuracy = few_label_accuracy(
        train_x[:, None],
        train_y,
        test_x[:, None],
        test_y,
        n_labels=40,
        draws=4,
        seed=5,
        C=0.5,
    )
    for d in range(4):
        chosen = balanced_indices(
            train_y.numpy(), 40, np.random.default_rng(5 + d)
        )
        x = train_x[chosen].double().numpy()
        scaler = StandardScaler().fit(x)
        model = LogisticRegression(C=0.5, max_iter=2000).fit(
            scaler.transform(x), train_y[chosen].numpy()
        )
        assert accuracy[d] == model.score(
            scaler.transform(test_x.double().numpy()), test_y.numpy()
        )
    assert (
        len(set(accuracy.tolist())) > 1 and 0.1 < accuracy.mean() < 0.95
    )
    again = few_label_accuracy(
        train_x.numpy(),
        train_y.numpy(),
        test_x.numpy(),
        test_y.numpy(),
        40,
        draws=4,
        seed=5,
        C=0.5,
    )
    # same seed, same result, arrays or tensors
    np.testing.assert_array_equal(again, accuracy)
    shifted = few_label_accuracy(
        train_x, train_y, test_x, test_y, 40, draws=3, seed=6, C=0.5
    )
    # draw d uses seed + d
    np.testing.assert_array_equal(shifted, accuracy[1:])


@pytest.mark.parametrize(
    "change, message",
    [
        (
            dict(n_labels=25),
            r"n_labels must be a positive multiple of the 4 classes in train_labels, got 25",
        ),
        (
            dict(n_labels=0),
            r"positive multiple of the 4 classes in train_labels, got 0",
        ),
        (
            dict(n_labels=16),
            r"16 labels need 4 examples of each class; classes \[3\] have fewer \(\[3\]\)",
        ),
        (dict(draws=0), r"draws must be an integer >= 1, got 0"),
        (dict(draws=True), r"draws must be an integer >= 1, got True"),
        (
            dict(test_features=torch.zeros(4, 2)),
            r"same number of features, got 3 and 2",
        ),
        (
            dict(train_labels=torch.zeros(5, dtype=torch.int64)),
            r"train_labels must be \(N,\) with one label per example",
        ),
        (
            dict(train_features=torch.zeros(15)),
            r"train_features must be a batch \(N, k\)",
        ),
    ],
)
def test_few_label_accuracy_refuses_bad_arguments(change, message):
    args = dict(
        train_features=torch.randn(15, 3),
        train_labels=torch.tensor([0] * 4 + [1] * 4 + [2] * 4 + [3] * 3),
        test_features=torch.zeros(4, 3),
        test_labels=torch.arange(4),
        n_labels=12,
    )
    args.update(change)
    with pytest.raises(ValueError, match=message):
        few_label_accuracy(**args)


def test_few_label_accuracy_chooses_C_by_cross_validation_on_the_labelled_set():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.preprocessing import StandardScaler

    train_x, train_y = clusters(1000, k=30, spread=0.5, seed=22)
    test_x, test_y = clusters(500, k=30, spread=0.5, seed=23)
    candidates = (0.01, 0.1, 1.0)
    accuracy = few_label_accuracy(
        train_x,
        train_y,
        test_x,
        test_y,
        60,
        draws=2,
        seed=3,
        C=candidates,
    )
    for d in range(2):
        chosen = balanced_indices(
            train_y.numpy(), 60, np.random.default_rng(3 + d)
        )
        x = train_x[chosen].double().numpy()
        scaler = StandardScaler().fit(x)
        xs, y = scaler.transform(x), train_y[chosen].numpy()
        split = StratifiedKFold(3, shuffle=True, random_state=3 + d)
        cv = [
            cross_val_score(
                LogisticRegression(C=c, max_iter=2000), xs, y, cv=split
            ).mean()
            for c in candidates
        ]
        best = candidates[int(np.argmax(cv))]
        model = LogisticRegression(C=best, max_iter=2000).fit(xs, y)
        assert accuracy[d] == model.score(
            scaler.transform(test_x.double().numpy()), test_y.numpy()
        )
    # one candidate is the same as that C
    one = few_label_accuracy(
        train_x, train_y, test_x, test_y, 60, draws=2, seed=3, C=(0.1,)
    )
    fixed = few_label_accuracy(
        train_x, train_y, test_x, test_y, 60, draws=2, seed=3, C=0.1
    )
    assert np.array_equal(one, fixed)
