"""The engine's estimator base class, the one shipped-model resolver, and the shared readers."""

import dataclasses

import pytest
import torch
from torch import nn

from bio_mtl._io import open_input
from bio_mtl.errors import CheckpointError, ConfigError, InputError, NotFittedError
from bio_mtl.mtl.checkpoint import load_weights
from bio_mtl.mtl.config import read_mapping
from bio_mtl.mtl.estimator import ESTIMATORS, Estimator, get_estimator
from bio_mtl.resources import SHIPPED, available, shipped_path


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    width: int = 2


class Toy(Estimator):
    kind = "toy"

    def __init__(self, *, config: ToyConfig = ToyConfig(), scale: float = 1.0) -> None:
        self.config = config
        self.scale = scale

    def fit(self, x):
        torch.manual_seed(0)
        self.module_ = nn.Linear(x.shape[1], self.config.width)
        return self

    def predict(self, x):
        self.check_is_fitted()
        with torch.no_grad():
            return self.module_(x) * self.scale

    def _checkpoint(self):
        return self.module_, {"n_in": self.module_.in_features}

    def _restore(self, config, directory):
        self.module_ = load_weights(nn.Linear(config["n_in"], self.config.width), directory)


def test_params_round_trip_and_repr():
    est = Toy(config=ToyConfig(width=3), scale=2.0)
    assert est.get_params() == {"config": ToyConfig(width=3), "scale": 2.0}
    assert est.set_params(scale=4.0) is est and est.scale == 4.0
    assert repr(est) == "Toy(config=ToyConfig(width=3), scale=4.0)"
    with pytest.raises(ConfigError, match="unknown parameter 'depth'; valid: config, scale"):
        est.set_params(depth=2)


def test_not_fitted_then_fitted_then_saved_and_loaded(tmp_path):
    x = torch.randn(4, 5)
    est = Toy(config=ToyConfig(width=3))
    with pytest.raises(NotFittedError, match="Toy is not fitted yet"):
        est.predict(x)
    with pytest.raises(NotFittedError):
        est.save(tmp_path / "m")
    assert est.fit(x) is est
    est.save(tmp_path / "m", note="hello")
    back = Toy.load(tmp_path / "m")
    assert back.config == ToyConfig(width=3)  # the dataclass parameter is rebuilt
    assert torch.equal(back.predict(x), est.predict(x))
    assert back.metadata_["note"] == "hello"


def test_star_arguments_are_refused():
    class Bad(Estimator):
        def __init__(self, **kwargs):
            pass

    with pytest.raises(TypeError, match="explicitly"):
        Bad().get_params()


def test_registry_names_every_kind_and_refuses_others():
    assert set(ESTIMATORS) >= {"mtl", "structure", "structure-ensemble", "dosing",
                               "expression"}
    with pytest.raises(CheckpointError, match="unknown model kind 'nope'"):
        get_estimator("nope")


def test_shipped_resolver():
    assert set(available()) == set(SHIPPED)
    assert available("structure") == [n for n, (k, _) in SHIPPED.items()
                                      if k.startswith("structure")]
    with shipped_path("warfarin_iwpc_v1") as folder:
        assert (folder / "model.safetensors").is_file()
    with pytest.raises(CheckpointError, match="no such model folder or shipped model"):
        with shipped_path("not_a_model"):
            pass


def test_read_mapping_errors_name_the_file(tmp_path):
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00epochs")
    with pytest.raises(ConfigError, match="b.yaml: not a text config file"):
        read_mapping(binary)
    lst = tmp_path / "l.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_mapping(lst)
    with pytest.raises(ConfigError, match="is a folder"):
        read_mapping(tmp_path)
    empty = tmp_path / "e.yaml"
    empty.write_text("")
    assert read_mapping(empty) == {}


def test_open_input_maps_os_and_decoding_errors(tmp_path):
    with pytest.raises(InputError, match="is a folder"), open_input(tmp_path):
        pass
    bad = tmp_path / "x.txt"
    bad.write_bytes(b"ok\n\xff\n")
    with pytest.raises(InputError, match=r"x.txt: not UTF-8 text \(byte 3\)"):
        with open_input(bad, what="table") as handle:
            handle.read()


def test_tuple_parameters_come_back_as_tuples(tmp_path):
    class Seeds(Toy):
        def __init__(self, *, config: ToyConfig = ToyConfig(), scale: float = 1.0,
                     seeds: tuple[int, ...] = (0,)) -> None:
            super().__init__(config=config, scale=scale)
            self.seeds = seeds

    Seeds(seeds=(1, 2)).fit(torch.randn(3, 2)).save(tmp_path / "s")
    assert Seeds.load(tmp_path / "s").seeds == (1, 2)
