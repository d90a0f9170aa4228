"""The batcher family and its one seeding rule."""

import numpy as np
import torch

from bio_mtl.mtl.batches import TensorBatches, epoch_rng


def test_epoch_rng_is_a_function_of_seed_and_epoch_only():
    a = epoch_rng(3, 2).permutation(10).tolist()
    assert a == epoch_rng(3, 2).permutation(10).tolist()
    assert a != epoch_rng(2, 3).permutation(10).tolist()
    assert epoch_rng(0, 1).permutation(50).tolist() != epoch_rng(1, 0).permutation(50).tolist()


def test_tensor_batches_cover_every_row_once_per_epoch_and_reshuffle():
    x = {"a": torch.arange(10.0)[:, None], "b": torch.arange(10)}
    y = {"t": torch.arange(10) * 2}
    b = TensorBatches(x, y, batch_size=3, shuffle=True, seed=5,
                      forward_kwargs={"w": torch.arange(10)})
    assert len(b) == 4
    orders = []
    for epoch in range(3):
        b.set_epoch(epoch)
        batches = list(b)
        rows = np.concatenate([bt["inputs"]["b"].numpy() for bt in batches])
        assert sorted(rows.tolist()) == list(range(10))
        for bt in batches:  # inputs, targets and forward kwargs stay aligned
            assert (bt["targets"]["t"] == bt["inputs"]["b"] * 2).all()
            assert (bt["forward_kwargs"]["w"] == bt["inputs"]["b"]).all()
        orders.append(rows.tolist())
    assert orders[0] != orders[1]
    b.set_epoch(0)
    assert np.concatenate([bt["inputs"]["b"].numpy() for bt in b]).tolist() == orders[0]


def test_tensor_batches_rows_subset_and_fixed_order():
    b = TensorBatches(torch.arange(6.0), {"t": torch.arange(6)}, batch_size=4, rows=[5, 1, 3])
    assert [bt["targets"]["t"].tolist() for bt in b] == [[5, 1, 3]]
