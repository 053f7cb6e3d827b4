import numpy as np

from tfdl.data.splits import DataInfo, fingerprint, limit_train, split_arrays


def test_stratified_deterministic_split():
    y = np.repeat(np.arange(4), 50)
    x = np.arange(200)[:, None].astype(np.float32)
    a = split_arrays(x, y, DataInfo("t", "t"), val_fraction=0.15, test_fraction=0.15, seed=1)
    b = split_arrays(x, y, DataInfo("t", "t"), val_fraction=0.15, test_fraction=0.15, seed=1)
    sizes = a.sizes()
    assert sizes["n_val"] == 30 and sizes["n_test"] in (30, 31) and sum(sizes.values()) == 200
    assert (a.x_test == b.x_test).all()
    all_ids = np.concatenate([a.x_train, a.x_val, a.x_test]).ravel()
    assert sorted(all_ids.tolist()) == list(range(200))  # disjoint and complete
    assert np.bincount(a.y_test).min() >= 7  # each class present in test (stratified)


def test_fingerprint_changes_with_content_and_limit_keeps_classes():
    x = np.zeros((10, 2))
    assert fingerprint(x) == fingerprint(x.copy()) != fingerprint(x + 1)
    assert fingerprint({"a": np.array(["x", "y"])}) != fingerprint({"a": np.array(["x", "z"])})
    y = np.repeat(np.arange(2), 100)
    s = split_arrays(
        np.arange(200)[:, None], y, DataInfo("t", "t"), val_fraction=0.1, test_fraction=0.1, seed=0
    )
    s = limit_train(s, 40, 0)
    assert len(s.x_train) == 40 and set(np.bincount(s.y_train).tolist()) == {20}


def test_kfold_tests_every_example_exactly_once_and_keeps_val_apart():
    y = np.repeat(np.arange(3), [100, 60, 40])
    x = np.arange(200)[:, None]
    tested = []
    for k in range(5):
        s = split_arrays(
            x, y, DataInfo("t", "t"), val_fraction=0.15, test_fraction=0.3, seed=3, folds=5, fold=k
        )
        parts = [s.x_train.ravel(), s.x_val.ravel(), s.x_test.ravel()]
        assert sum(map(len, parts)) == 200 and len(np.unique(np.concatenate(parts))) == 200  # disjoint
        assert len(s.x_test) == 40 and len(s.x_val) == 30  # 1/folds for test; val_fraction of the whole
        assert np.bincount(s.y_test).tolist() == [20, 12, 8]  # stratified: the class shares of the pool
        assert s.info.cv == {"folds": 5, "fold": k}
        tested += s.x_test.ravel().tolist()
    assert sorted(tested) == list(range(200))
    again = split_arrays(
        x, y, DataInfo("t", "t"), val_fraction=0.15, test_fraction=0.3, seed=3, folds=5, fold=2
    )
    first = split_arrays(
        x, y, DataInfo("t", "t"), val_fraction=0.15, test_fraction=0.3, seed=3, folds=5, fold=2
    )
    assert (again.x_test == first.x_test).all() and (again.x_val == first.x_val).all()


def test_kfold_falls_back_to_plain_folds_for_continuous_targets():
    y = np.linspace(0, 1, 50)
    s = split_arrays(np.arange(50)[:, None], y, DataInfo("t", "t"), val_fraction=0.2, test_fraction=0.2,
                     seed=0, folds=4, fold=3)  # fmt: skip
    assert len(s.x_test) in (12, 13) and len(s.x_val) == 10
