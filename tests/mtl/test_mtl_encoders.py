"""Encoders: shapes, padding, relative positions (RoPE / ALiBi) and config errors."""

from __future__ import annotations

import pytest
import torch

from bio_mtl.errors import ConfigError
from bio_mtl.mtl.encoders import ENCODERS, get_encoder, masked_pool
from bio_mtl.mtl.transformer import rotate

TOKEN = ["cnn", "bilstm", "transformer"]
#: the engine's own encoders; application blocks (lazy "module:Config:Class" entries) take
#: their applications' inputs and are tested there
ENGINE = sorted(name for name, entry in ENCODERS.items() if not isinstance(entry, str))


def _tokens(n=2, length=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 22, (n, length), generator=g)


def test_the_engine_encoders_are_the_tabular_and_token_ones():
    assert sorted(["mlp", *TOKEN]) == ENGINE


@pytest.mark.parametrize("name", ENGINE)
def test_every_encoder_maps_to_its_declared_width(name):
    torch.manual_seed(0)
    enc = get_encoder(name, input_dim=5) if name == "mlp" else get_encoder(name)
    x = torch.randn(3, 5) if name == "mlp" else _tokens(3, 9)
    out = enc(x)
    assert out.shape == ((3, enc.out_dim) if name == "mlp" else (3, 9, enc.out_dim))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", TOKEN)
def test_float_features_and_padding_give_zero_rows(name):
    torch.manual_seed(0)
    enc = get_encoder(name, input_dim=4).eval()
    x = torch.randn(2, 6, 4)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    out = enc(x, mask=mask)
    assert out.shape[:2] == (2, 6)
    assert float(out[1, 3:].abs().sum()) == 0.0
    assert float(out[1, :3].abs().sum()) > 0.0


@pytest.mark.parametrize("name", TOKEN)
def test_right_padding_does_not_change_real_tokens(name):
    torch.manual_seed(0)
    enc = get_encoder(name, conv_layers=1) if name != "cnn" else get_encoder(name)
    enc.eval()
    seq = _tokens(1, 5)
    padded = torch.cat([seq, torch.zeros(1, 4, dtype=torch.long)], dim=1)  # 0 = padding
    with torch.no_grad():
        a, b = enc(seq), enc(padded)
    torch.testing.assert_close(a[0], b[0, :5], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("position", ["rope", "alibi"])
def test_transformer_left_padding_is_translation_consistent(position):
    # Positions shift by k under left padding; both schemes only see relative distances and
    # padded keys are masked, so the real tokens' outputs must not change.
    torch.manual_seed(0)
    enc = get_encoder("transformer", position=position, n_layers=2).eval()
    seq = _tokens(1, 6, seed=1)
    shifted = torch.cat([torch.zeros(1, 3, dtype=torch.long), seq], dim=1)
    with torch.no_grad():
        a, b = enc(seq), enc(shifted)
    torch.testing.assert_close(a[0], b[0, 3:], atol=1e-5, rtol=1e-5)
    assert float(b[0, :3].abs().sum()) == 0.0


@pytest.mark.parametrize("position", ["rope", "alibi"])
def test_transformer_trained_on_length_8_runs_on_length_32(position):
    torch.manual_seed(0)
    enc = get_encoder("transformer", position=position, d_model=16, n_heads=2, n_layers=1,
                      ff_dim=32, dropout=0.0)
    head = torch.nn.Linear(16, 22)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=1e-2)
    for step in range(30):  # learn to copy the previous token: needs relative position
        x = _tokens(16, 8, seed=step)
        logits = head(enc(x))[:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 22), x[:, :-1].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    enc.eval()
    long = _tokens(4, 32, seed=99)
    with torch.no_grad():
        out = enc(long)
        # the same 8-token window gives the same outputs wherever it sits in a 32-long
        # sequence when attention only sees that window (padding elsewhere)
        window = long[:, 20:28]
        placed = torch.zeros_like(long)
        placed[:, 20:28] = window
        torch.testing.assert_close(enc(placed)[:, 20:28], enc(window), atol=1e-5, rtol=1e-5)
    assert out.shape == (4, 32, 16)
    assert torch.isfinite(out).all()


def test_rotary_scores_depend_only_on_relative_position():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(m, n):
        return float((rotate(q, torch.tensor([m]), 10000.0) *
                      rotate(k, torch.tensor([n]), 10000.0)).sum())

    assert score(3, 1) == pytest.approx(score(103, 101), abs=1e-4)
    assert score(0, 0) == pytest.approx(float((q * k).sum()), abs=1e-6)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)


def test_masked_pool_by_hand():
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    assert masked_pool(h, mask, "mean").tolist() == [[2.0, 3.0]]
    assert masked_pool(h, mask, "max").tolist() == [[3.0, 4.0]]
    assert masked_pool(h, mask, "first").tolist() == [[1.0, 2.0]]


def test_pool_option_returns_one_vector_per_sequence():
    enc = get_encoder("bilstm", pool="mean", hidden=8)
    assert enc(_tokens(3, 5)).shape == (3, 16)


def test_cnn_front_end_adds_conv_blocks():
    plain = get_encoder("transformer")
    fronted = get_encoder("transformer", conv_layers=2, kernel_size=3)
    n_plain = sum(p.numel() for p in plain.parameters())
    n_front = sum(p.numel() for p in fronted.parameters())
    # two blocks of LayerNorm(32) + Conv1d(32, 32, 3): 2 * (64 + 32*32*3 + 32)
    assert n_front - n_plain == 2 * (64 + 32 * 32 * 3 + 32)


def test_config_errors_name_the_problem():
    with pytest.raises(ConfigError, match="unknown encoder 'gru'; choose one of mlp, cnn"):
        get_encoder("gru")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) hidden; valid keys"):
        get_encoder("mlp", hidden=3)
    with pytest.raises(ConfigError, match="divisible by n_heads=3"):
        get_encoder("transformer", d_model=32, n_heads=3)
    with pytest.raises(ConfigError, match="unknown position 'sinusoid'; choose one of rope"):
        get_encoder("transformer", position="sinusoid")
    with pytest.raises(ConfigError, match="kernel_size must be odd"):
        get_encoder("cnn", kernel_size=4)
