"""The synthetic generator, the CSV loader, splits and batches."""

from __future__ import annotations

import numpy as np
import pytest

from bio_mtl.errors import InputError, MissingColumnError
from bio_mtl.mtl import TaskSpec
from bio_mtl.mtl.batches import TensorBatches, epoch_rng
from bio_mtl.mtl.synthetic import (
    make_synthetic,
    read_csv_tasks,
    split_indices,
    standardize,
    tabular_batches,
)

TASKS = [TaskSpec("c", "classification", 3), TaskSpec("r1", "regression"),
         TaskSpec("r2", "regression")]


def test_generator_is_seeded():
    a, b = make_synthetic(TASKS, n_samples=50, seed=3), make_synthetic(TASKS, n_samples=50, seed=3)
    c = make_synthetic(TASKS, n_samples=50, seed=4)
    assert np.array_equal(a.X, b.X)
    assert np.array_equal(a.targets["c"], b.targets["c"])
    assert not np.array_equal(a.X, c.X)
    assert a.X.dtype == np.float32
    assert a.targets["c"].dtype == np.int64


def test_relatedness_controls_task_correlation():
    # r = 1 and no noise: both regression tasks read the same latent direction -> r = 1
    same = make_synthetic(TASKS, n_samples=400, relatedness=1.0, noise=0.0, seed=0)
    assert np.corrcoef(same.targets["r1"], same.targets["r2"])[0, 1] == pytest.approx(1.0)
    apart = make_synthetic(TASKS, n_samples=400, relatedness=0.0, noise=0.0, seed=0)
    assert abs(np.corrcoef(apart.targets["r1"], apart.targets["r2"])[0, 1]) < 0.99


def test_missing_labels_fraction():
    d = make_synthetic(TASKS, n_samples=2000, missing=0.3, seed=0)
    assert np.mean(d.targets["c"] == -100) == pytest.approx(0.3, abs=0.03)
    assert np.mean(np.isnan(d.targets["r1"])) == pytest.approx(0.3, abs=0.03)
    assert set(np.unique(d.targets["c"])) == {-100, 0, 1, 2}


def test_split_indices_partition():
    s = split_indices(10, val_fraction=0.2, test_fraction=0.3, seed=0)
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (5, 2, 3)
    assert sorted(np.concatenate(list(s.values())).tolist()) == list(range(10))


def test_batches_shuffle_per_epoch_and_restrict_tasks():
    d = make_synthetic(TASKS, n_samples=10, seed=0)
    batches = tabular_batches(d, np.arange(10), batch_size=4, shuffle=True, tasks=["c"])
    assert isinstance(batches, TensorBatches)  # the engine's batcher, its one seeding rule
    assert len(batches) == 3
    first = [b["inputs"] for b in batches]
    assert [len(x) for x in first] == [4, 4, 2]
    assert list(next(iter(batches))["targets"]) == ["c"]
    again = [b["inputs"] for b in batches]
    batches.set_epoch(1)
    other = [b["inputs"] for b in batches]
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=False))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other, strict=False))


def _csv(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    return path


def test_csv_loader_labels_and_missing(tmp_path):
    path = _csv(tmp_path, "id,f1,f2,resp,y\nA,1,2,yes,0.5\nB,3,4,,\nC,5,6,no,1.5\n")
    tasks = [TaskSpec("resp", "classification", 2, labels=("no", "yes")),
             TaskSpec("ic50", "regression")]
    d = read_csv_tasks(path, tasks, task_columns={"ic50": "y"}, id_column="id")
    assert d.X.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert d.feature_names == ["f1", "f2"]
    assert d.targets["resp"].tolist() == [1, -100, 0]
    assert d.targets["ic50"][0] == 0.5
    assert np.isnan(d.targets["ic50"][1])
    assert d.ids == ["A", "B", "C"]


def test_csv_loader_errors_name_file_record_and_choices(tmp_path):
    tasks = [TaskSpec("resp", "classification", 2, labels=("no", "yes"))]
    path = _csv(tmp_path, "id,f1,resp\nA,1,yes\nB,2,maybe\n")
    with pytest.raises(InputError, match=f"^{path}: record 'B': task 'resp': unknown label "
                                         "'maybe'; valid labels: no, yes"):
        read_csv_tasks(path, tasks, id_column="id")
    with pytest.raises(MissingColumnError, match="no column 'resp'; columns are id, f1, y"):
        read_csv_tasks(_csv(tmp_path, "id,f1,y\nA,1,2\n"), tasks)
    with pytest.raises(InputError, match=r"row 3: feature 'f1': 'x' is not a number"):
        read_csv_tasks(_csv(tmp_path, "f1,resp\n1,no\nx,yes\n"), tasks)
    with pytest.raises(InputError, match=r"row 2: task 'c': unknown label '3'; valid labels: "
                                         r"integers 0..1"):
        read_csv_tasks(_csv(tmp_path, "f1,c\n1,3\n"), [TaskSpec("c", "classification", 2)])


def test_batches_follow_the_one_seeding_rule():
    d = make_synthetic(TASKS, n_samples=10, seed=0)
    rows = np.arange(2, 9)
    batches = tabular_batches(d, rows, batch_size=100, shuffle=True, seed=5)
    batches.set_epoch(3)
    (batch,) = batches
    order = rows[epoch_rng(5, 3).permutation(len(rows))]
    assert np.array_equal(batch["inputs"].numpy(), d.X[order])
    assert np.array_equal(batch["targets"]["c"].numpy(), d.targets["c"][order])


def test_standardize_keeps_its_statistics():
    d = make_synthetic(TASKS, n_samples=20, seed=0)
    s = standardize(d, np.arange(10))
    assert np.allclose(s.X[:10].mean(0), 0, atol=1e-6) and np.allclose(s.X[:10].std(0), 1)
    assert np.array_equal(((d.X - s.mean) / s.scale).astype(np.float32), s.X)
