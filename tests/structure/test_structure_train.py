"""Data reading, RSA join, splits, batching and a tiny end-to-end training run."""

import gzip
import json

import numpy as np
import pytest

from bio_mtl.errors import ConfigError, InputError
from bio_mtl.mtl.trainer import TrainConfig
from bio_mtl.structure.data import TokenBatches, join_rsa, read_chains, split_chains
from bio_mtl.structure.estimator import StructureModel
from bio_mtl.structure.model import StructureModelConfig
from bio_mtl.structure.pretrained import load_model
from bio_mtl.structure.train import StructureDataConfig

HELIX = set("AELMQKR")


def toy_records(n, seed, *, with_rsa, prefix):
    """Chains whose labels are a function of the residue: learnable by a 1-residue model."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), int(rng.integers(20, 60))))
        ss8 = "".join("H" if a in HELIX else "E" for a in seq)
        rsa = [0.8 if a in "KDE" else 0.1 for a in seq] if with_rsa else [None] * len(seq)
        mask = "0" + "1" * (len(seq) - 1)
        out.append({"id": f"{prefix}_{i:03d}", "seq": seq, "ss8": ss8, "rsa": rsa, "mask": mask})
    return out


def write_jsonl(path, records):
    with gzip.open(path, "wt") as handle:
        for r in records:
            handle.write(json.dumps(r) + "\n")
    return path


def test_read_chains_targets_and_masks(tmp_path):
    rec = {"id": "a", "seq": "ACDX", "ss8": "GHBC", "rsa": [0.1, None, 0.3, 0.4], "mask": "1101"}
    path = write_jsonl(tmp_path / "a.jsonl.gz", [rec])
    (chain,) = read_chains(path)
    assert chain.tokens.tolist() == [0, 1, 2, 20]
    assert chain.ss8.tolist() == [0, 1, -100, 7]
    assert chain.ss3.tolist() == [0, 0, -100, 2]
    assert np.isnan(chain.rsa[[1, 2]]).all()
    assert chain.rsa[3] == pytest.approx(0.4)
    assert read_chains(path, exclude_ids={"b"})[0].id == "a"
    (no_rsa,) = read_chains(path, use_rsa=False)
    assert not no_rsa.has_rsa
    assert no_rsa.has_ss


def test_labelled_chains_map_nonstandard_residues_as_fasta_prediction_does(tmp_path):
    rec = {"id": "u", "seq": "AUOZX", "ss8": "CCCCC", "rsa": [None] * 5, "mask": "11111"}
    (chain,) = read_chains(write_jsonl(tmp_path / "u.jsonl.gz", [rec]))
    # selenocysteine -> C (index 1), pyrrolysine -> K (index 8), Z and X -> unknown (20)
    assert chain.tokens.tolist() == [0, 1, 8, 20, 20]
    assert chain.seq == "AUOZX"  # the record keeps its own letters


def test_read_chains_errors_name_file_and_record(tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl.gz",
                      [{"id": "r1", "seq": "AC", "ss8": "H", "rsa": None, "mask": "11"}])
    with pytest.raises(InputError, match=r"bad.jsonl.gz: record 'r1': line 1: lengths differ "
                                         r"\(seq=2, ss8=1, rsa=2, mask=2\)"):
        read_chains(bad)
    letter = write_jsonl(tmp_path / "l.jsonl.gz",
                         [{"id": "r2", "seq": "AC", "ss8": "HQ", "rsa": None, "mask": "11"}])
    with pytest.raises(InputError, match="record 'r2': line 1: ss8 has 'Q' at position 2"):
        read_chains(letter)
    (tmp_path / "t.jsonl").write_text("{not json\n")
    with pytest.raises(InputError, match="line 1: not valid JSON"):
        read_chains(tmp_path / "t.jsonl")


@pytest.mark.parametrize(("bad", "message"), [
    ({"rsa": [0.1, "x", 0.2]}, "record 'a': line 1: rsa[2] = 'x' is not a number in [0, 1]"),
    ({"rsa": [0.1, 0.2, 5]}, "rsa[3] = 5 is not a number in [0, 1]"),
    ({"rsa": 0.5}, "'rsa' must be a list of numbers or null"),
    ({"seq": "A1C"}, "seq has '1' at position 2"),
    ({"seq": 123}, "'seq' must be a string"),
    ({"mask": "1\u00e91"}, "mask has '\u00e9' at position 2"),
])
def test_read_chains_validates_every_field(tmp_path, bad, message):
    # these used to become internal errors (TypeError, UnicodeEncodeError) or silent junk
    path = write_jsonl(tmp_path / "b.jsonl.gz", [{"id": "a", "seq": "ACD", "ss8": "HHE",
                                                  "rsa": [0.1, 0.2, 0.3], "mask": "111",
                                                  **bad}])
    with pytest.raises(InputError) as err:
        read_chains(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_read_chains_duplicate_ids_and_everything_excluded(tmp_path):
    rec = {"id": "a", "seq": "AC", "ss8": "HH", "rsa": None, "mask": "11"}
    dup = write_jsonl(tmp_path / "d.jsonl.gz", [rec, rec])
    with pytest.raises(InputError, match="record 'a': line 2: duplicate id"):
        read_chains(dup)
    one = write_jsonl(tmp_path / "o.jsonl.gz", [rec])
    with pytest.raises(InputError, match="no records left after excluding 1"):
        read_chains(one, exclude_ids={"a"})


def test_read_chains_reads_netsurfp_npz(tmp_path):
    # 2 chains in the NetSurfP-2.0 layout: one-hot [0:20], masks [50:53], RSA [55:57], Q8 [57:65]
    data = np.zeros((2, 4, 68), dtype=np.float32)
    for k, (seq, q8) in enumerate((("MKW", "HEC"), ("GSTA", "GGTC"))):
        for i, (aa, s8) in enumerate(zip(seq, q8, strict=True)):
            data[k, i, "ACDEFGHIKLMNPQRSTVWY".index(aa)] = 1
            data[k, i, 50:53] = 1
            data[k, i, 55] = 0.25 * (i + 1)
            data[k, i, 57 + "GHIBESTC".index(s8)] = 1
    data[0, 2, 51] = 0  # W disordered: no label
    path = tmp_path / "Mini_HHblits.npz"
    np.savez_compressed(path, pdbids=np.array(["1abcA", "2xyzB"]), data=data)
    a, b = read_chains(path)
    assert (a.id, a.seq, b.seq) == ("1abcA", "MKW", "GSTA")
    assert a.ss8.tolist() == [1, 4, -100]
    np.testing.assert_allclose(a.rsa, [0.25, 0.5, np.nan])
    assert b.ss8.tolist() == [0, 0, 6, 7]
    assert [c.id for c in read_chains(path, exclude_ids={"1abcA"})] == ["2xyzB"]


def test_join_rsa_copies_labels_by_sequence(tmp_path):
    ss = read_chains(write_jsonl(tmp_path / "s.gz", [
        {"id": "s1", "seq": "ACD", "ss8": "HHH", "rsa": None, "mask": "111"},
        {"id": "s2", "seq": "KLM", "ss8": "EEE", "rsa": None, "mask": "111"}]))
    rsa = read_chains(write_jsonl(tmp_path / "r.gz", [
        {"id": "r1", "seq": "ACD", "ss8": "HHH", "rsa": [0.5, None, 0.2], "mask": "111"},
        {"id": "r2", "seq": "WWW", "ss8": "CCC", "rsa": [0.1, 0.2, 0.3], "mask": "111"}]))
    joined, rest = join_rsa(ss, rsa)
    assert joined[0].rsa[0] == pytest.approx(0.5)
    assert np.isnan(joined[0].rsa[1])
    assert not joined[1].has_rsa
    assert [c.id for c in rest] == ["r2"]


def test_split_is_deterministic_and_order_free(tmp_path):
    chains = read_chains(write_jsonl(tmp_path / "t.gz", toy_records(200, 0, with_rsa=False,
                                                                    prefix="c")))
    tr, va = split_chains(chains, 0.1)
    _tr2, va2 = split_chains(chains[::-1], 0.1)
    assert sorted(c.id for c in va) == sorted(c.id for c in va2)
    assert 5 <= len(va) <= 40
    assert len(tr) + len(va) == 200


def test_token_batches_respect_budget_and_mix(tmp_path):
    ss = read_chains(write_jsonl(tmp_path / "s.gz", toy_records(60, 1, with_rsa=False,
                                                                prefix="s")))
    rsa = read_chains(write_jsonl(tmp_path / "r.gz", toy_records(10, 2, with_rsa=True,
                                                                 prefix="r")))
    batches = TokenBatches(ss + rsa, batch_tokens=200, shuffle=True, seed=3, ss_fraction=0.5,
                           rsa_repeat=3, max_len=40)
    ids = []
    for b in batches:
        n, length = b["inputs"].shape
        assert n * length <= 200
        assert length <= 40
        assert b["forward_kwargs"]["mask"].sum() == (b["inputs"] != 21).sum()
        ids += b["ids"]
    assert sum(i.startswith("r_") for i in ids) == 30  # every RSA chain three times
    assert 15 <= sum(i.startswith("s_") for i in ids) <= 45  # about half the SS chains
    first = [b["ids"] for b in batches]
    batches.set_epoch(1)
    assert [b["ids"] for b in batches] != first
    batches.set_epoch(0)
    assert [b["ids"] for b in batches] == first  # an epoch's draw does not depend on history


def test_token_batches_follow_the_engine_seeding_rule(tmp_path):
    from bio_mtl.mtl.batches import Batches, epoch_rng

    chains = read_chains(write_jsonl(tmp_path / "s.gz", toy_records(30, 1, with_rsa=False,
                                                                    prefix="s")))

    def ids(seed, epoch):
        batches = TokenBatches(chains, batch_tokens=200, shuffle=True, seed=seed,
                               ss_fraction=0.5)
        batches.set_epoch(epoch)
        return [b["ids"] for b in batches]

    assert isinstance(TokenBatches(chains), Batches)
    # seed + epoch would give seed 3, epoch 1 the order of seed 4, epoch 0
    assert ids(3, 1) != ids(4, 0)
    # the chains drawn for epoch 1 of seed 3 are exactly those epoch_rng(3, 1) keeps
    rng = epoch_rng(3, 1)
    kept = {c.id for c in chains if rng.random() < 0.5}
    assert {i for batch in ids(3, 1) for i in batch} == kept


def _fit(train, *, model=None, training=None, init_from=None, fit=None, **data):
    est = StructureModel(model=model, training=training, init_from=init_from,
                         data=StructureDataConfig(**data))
    return est.fit(train, **(fit or {}))


def test_train_structure_learns_a_residue_rule(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl.gz", toy_records(120, 4, with_rsa=False,
                                                                 prefix="t"))
    rsa = write_jsonl(tmp_path / "rsa.jsonl.gz", toy_records(60, 5, with_rsa=True, prefix="r"))
    config = StructureModelConfig(embed_dim=16, conv_channels=16, conv_layers=1, kernel_size=3,
                                  dilations=(1,), lstm_layers=0, dropout=0.0)
    est = _fit(train, model=config, training=TrainConfig(epochs=12, lr=1e-2, monitor="loss"),
               val_fraction=0.2, rsa_val_fraction=0.2, batch_tokens=600,
               fit={"rsa_paths": rsa, "checkpoint_dir": tmp_path / "state"})
    est.save(tmp_path / "model")
    m = est.metrics_
    assert m["ss8"]["accuracy"] > 0.95
    assert m["ss3"]["accuracy"] > 0.95
    assert m["rsa"]["pearson"] > 0.9
    assert set(m["ss3_source"]) == {"q3_head", "q3_ss8"}
    model = load_model(tmp_path / "model")
    info = model.metadata_
    assert info["kind"] == "structure"
    assert info["seed"] == 0
    assert [d["path"] for d in info["data"]] == ["train.jsonl.gz", "rsa.jsonl.gz"]
    assert len(info["data"][0]["sha256"]) == 64
    assert info["metrics"]["n_train_chains"] == m["n_train_chains"]
    assert model.config_.ss3_source in ("head", "ss8")
    assert model.get_params() == est.get_params()
    assert (tmp_path / "state" / "last").is_dir()


def test_rsa_only_model_ignores_ss_only_chains(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl.gz", toy_records(20, 6, with_rsa=False,
                                                                 prefix="t"))
    rsa = write_jsonl(tmp_path / "rsa.jsonl.gz", toy_records(30, 7, with_rsa=True, prefix="r"))
    config = StructureModelConfig(tasks=("rsa",), embed_dim=8, conv_channels=8, conv_layers=1,
                                  kernel_size=3, dilations=(1,), lstm_layers=0, dropout=0.0)
    est = _fit(train, model=config, training=TrainConfig(epochs=1), rsa_val_fraction=0.2,
               batch_tokens=600, fit={"rsa_paths": rsa})
    n_rsa_train = 30 - est.metrics_["n_val_chains"]
    assert est.metrics_["n_train_chains"] == n_rsa_train
    assert set(est.metrics_) >= {"rsa", "loss"}
    assert "ss8" not in est.metrics_


def test_scarce_rsa_labels_and_last_epoch_protocol(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl.gz", toy_records(20, 8, with_rsa=False,
                                                                 prefix="t"))
    rsa = write_jsonl(tmp_path / "rsa.jsonl.gz", toy_records(30, 9, with_rsa=True, prefix="r"))
    small = dict(embed_dim=8, conv_channels=8, conv_layers=1, kernel_size=3, dilations=(1,),
                 lstm_layers=0, dropout=0.0)
    common = dict(training=TrainConfig(epochs=2), val_fraction=0.2, rsa_val_fraction=0.2,
                  batch_tokens=600, rsa_label_chains=5, fit={"rsa_paths": rsa})
    rsa_only = _fit(train, model=StructureModelConfig(tasks=("rsa",), **small), **common)
    full = _fit(train, model=StructureModelConfig(tasks=("rsa",), **small),
                **{**common, "rsa_label_chains": None})
    # 5 chains keep their RSA labels; validation keeps all of its RSA chains
    assert rsa_only.metrics_["n_train_chains"] == 5
    assert rsa_only.metrics_["n_val_chains"] == full.metrics_["n_val_chains"]
    assert full.metrics_["n_train_chains"] > 5
    joint = _fit(train, model=StructureModelConfig(**small), select_best=False, **common)
    # every chain still trains SS; the last epoch is kept and validation is scored once
    assert joint.metrics_["n_train_chains"] == 50 - joint.metrics_["n_val_chains"]
    assert joint.metrics_["best_epoch"] == 2
    assert all("val_loss" not in record for record in joint.history_)
    assert 0 <= joint.metrics_["rsa"]["mae"] <= 1
    with pytest.raises(ConfigError, match="rsa_label_chains must be >= 0"):
        StructureDataConfig(rsa_label_chains=-1)


def test_init_from_starts_at_the_saved_weights_and_refuses_another_architecture(tmp_path):
    import torch

    train = write_jsonl(tmp_path / "train.jsonl.gz", toy_records(40, 8, with_rsa=True,
                                                                 prefix="t"))
    config = StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1, kernel_size=3,
                                  dilations=(1,), lstm_layers=0, dropout=0.0)
    first = _fit(train, model=config, training=TrainConfig(epochs=3, lr=1e-2, monitor="loss"),
                 val_fraction=0.2, batch_tokens=400)
    first.save(tmp_path / "first")
    # lr so small that one epoch cannot move the weights measurably: the warm start must
    # begin exactly at the first model's weights (a random start would be far away)
    tiny = TrainConfig(epochs=1, lr=1e-12, monitor="loss", weight_decay=0.0)
    warm = _fit(train, training=tiny, val_fraction=0.2, batch_tokens=400,
                init_from=str(tmp_path / "first"))
    warm.save(tmp_path / "warm")
    for key, value in first.module_.state_dict().items():
        torch.testing.assert_close(warm.module_.state_dict()[key], value, atol=1e-6, rtol=0)
    assert warm.metrics_["loss"] == pytest.approx(first.metrics_["loss"], rel=1e-4)
    assert load_model(tmp_path / "warm").metadata_["init_from"] == str(tmp_path / "first")
    other = StructureModelConfig(embed_dim=8, conv_channels=12, conv_layers=1, kernel_size=3,
                                 dilations=(1,), lstm_layers=0, dropout=0.0)
    with pytest.raises(ConfigError, match="architecture differs"):
        _fit(train, model=other, training=tiny, init_from=str(tmp_path / "first"))


def test_each_residue_trains_exactly_the_tasks_it_has_labels_for(tmp_path):

    from bio_mtl.mtl.tasks import compute_loss
    from bio_mtl.structure.data import collate
    from bio_mtl.structure.model import TASKS, build_structure_model

    ss_only = {"id": "s", "seq": "ACDEF", "ss8": "HHHEE", "rsa": None, "mask": "11101"}
    rsa_part = {"id": "r", "seq": "KLMN", "ss8": "CCHH", "rsa": [0.5, None, 0.2, 0.9],
                "mask": "1101"}
    chains = read_chains(write_jsonl(tmp_path / "p.jsonl.gz", [ss_only, rsa_part]))
    batch = collate(chains)
    model = build_structure_model(StructureModelConfig(embed_dim=8, conv_channels=8,
                                                       conv_layers=1, kernel_size=3,
                                                       dilations=(1,), lstm_layers=0))
    out = model(batch["inputs"], **batch["forward_kwargs"])
    for head in out.values():
        head.retain_grad()
    for name in ("ss8", "ss3", "rsa"):
        compute_loss(TASKS[name], out[name], batch["targets"][name]).backward(retain_graph=True)
    ss_grad = out["ss8"].grad.abs().sum(-1) > 0
    rsa_grad = out["rsa"].grad.abs() > 0
    # SS: every mask-1 residue of both chains; not residue 4 of "s" / 3 of "r", nor padding
    assert ss_grad.tolist() == [[True, True, True, False, True], [True, True, False, True, False]]
    # RSA: only the residues of "r" with a value and mask 1 (the SS-only chain adds nothing)
    assert rsa_grad.tolist() == [[False] * 5, [True, False, False, True, False]]
