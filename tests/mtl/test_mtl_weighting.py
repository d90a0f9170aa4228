"""Loss-weighting strategies against hand-computed values."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from bio_mtl.errors import CheckpointError, ConfigError
from bio_mtl.mtl.weighting import WEIGHTINGS, get_weighting
from bio_mtl.mtl.weighting.mgda import min_norm_weights

G1, G2 = [1.0, 0.0], [-1.0, 1.0]  # conflicting: g1 . g2 = -1


def _grads(*rows):
    return torch.tensor(rows, dtype=torch.float64)


def _losses(**values):
    return {k: torch.tensor(float(v), requires_grad=True) for k, v in values.items()}


def _step(strategy, *, counts=None, **values):
    """One backward on leaf losses; returns the weights the strategy reports."""
    return strategy.backward(_losses(**values), shared_params=[], counts=counts)


# -- registry ---------------------------------------------------------------------------------
def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError, match="unknown weighting strategy 'magic'") as info:
        get_weighting("magic", ["a", "b"])
    for name in WEIGHTINGS:
        assert name in str(info.value)


@pytest.mark.parametrize(("name", "params", "message"), [
    ("dwa", {"tau": 2.0}, "unknown parameter.*tau.*valid: temperature"),
    ("equal", {"beta": 0.5}, r"unknown parameter.*valid: \(none\)"),
    ("dwa", {"temperature": 0.0}, r"temperature=0.0 must lie in \(0.0, inf\]"),
    ("inverse_loss", {"beta": 1.0}, r"beta=1.0 must lie in \[0.0, 1.0\)"),
    ("cagrad", {"c": -0.1}, "c=-0.1 must lie in"),
    ("gradnorm", {"alpha": "big"}, "alpha='big' is not a number"),
    ("famo", {"lr": float("nan")}, "lr=nan must lie in"),
    ("static", {"weights": {"c": 2.0}}, "unknown task.*c in weights; tasks are a, b"),
    ("static", {"weights": {"a": -1.0}}, "weights\\['a'\\]=-1.0 must lie in"),
])
def test_bad_parameters_raise_config_error(name, params, message):
    with pytest.raises(ConfigError, match=message):
        get_weighting(name, ["a", "b"], **params)


def test_duplicate_task_names_rejected():
    with pytest.raises(ConfigError, match="unique"):
        get_weighting("equal", ["a", "a"])


def test_load_state_dict_from_other_strategy_raises():
    dwa = get_weighting("dwa", ["a", "b"])
    with pytest.raises(CheckpointError, match="expected \\['history'\\]"):
        dwa.load_state_dict({"log_vars": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="shape"):
        dwa.load_state_dict({"history": torch.zeros(2, 3)})


# -- loss weighting ---------------------------------------------------------------------------
def test_equal_weights_backpropagate_the_plain_sum():
    s = get_weighting("equal", ["a", "b", "c"])
    losses = _losses(a=0.5, b=2.0, c=7.0)
    assert s.backward(losses, shared_params=[]) == {"a": 1.0, "b": 1.0, "c": 1.0}
    # d(La + Lb + Lc)/dLt = 1 for every task
    assert [float(losses[k].grad) for k in "abc"] == [1.0, 1.0, 1.0]
    stacked = torch.tensor([0.5, 2.0, 7.0])
    assert float(s.weighted_loss(stacked, step=0, epoch=0)) == 9.5
    # a shared parameter w with La = w, Lb = 3 w: its gradient is 1 + 3 = 4
    w = torch.nn.Parameter(torch.tensor(2.0))
    s.backward({"a": w, "b": 3 * w}, shared_params=[w])
    assert float(w.grad) == 4.0


def test_static_weights_missing_tasks_get_one():
    s = get_weighting("static", ["a", "b", "c"], weights={"a": 2.0, "c": 0.5})
    losses = _losses(a=1.0, b=2.0, c=4.0)
    assert s.backward(losses, shared_params=[]) == {"a": 2.0, "b": 1.0, "c": 0.5}
    # d(2 La + Lb + 0.5 Lc)/dL = (2, 1, 0.5)
    assert [float(losses[k].grad) for k in "abc"] == [2.0, 1.0, 0.5]
    # a step where only c is labelled keeps c's own weight
    assert _step(s, c=1.0) == {"c": 0.5}


def test_sample_count_weights():
    s = get_weighting("sample_count", ["a", "b"])
    losses = _losses(a=1.0, b=1.0)
    w = s.backward(losses, shared_params=[], counts={"a": 10, "b": 30})
    # 2 * (10, 30) / 40 = (0.5, 1.5)
    assert w == pytest.approx({"a": 0.5, "b": 1.5})
    assert (float(losses["a"].grad), float(losses["b"].grad)) == pytest.approx((0.5, 1.5))
    # no counts at all: equal weights
    assert _step(s, a=1.0, b=1.0) == {"a": 1.0, "b": 1.0}


def test_inverse_loss_weights_follow_the_ema():
    s = get_weighting("inverse_loss", ["a", "b"], beta=0.5)
    # step 1: EMA = (1, 4); 1/EMA = (1, 0.25); 2 * (1, 0.25) / 1.25 = (1.6, 0.4)
    assert _step(s, a=1.0, b=4.0) == pytest.approx({"a": 1.6, "b": 0.4})
    # step 2: EMA = (0.5*1 + 0.5*3, 0.5*4 + 0.5*2) = (2, 3); 1/EMA = (1/2, 1/3) -> (1.2, 0.8)
    assert _step(s, a=3.0, b=2.0) == pytest.approx({"a": 1.2, "b": 0.8})
    # only b labelled: its EMA moves to 0.5*3 + 0.5*1 = 2, a single task has weight 1
    assert _step(s, b=1.0) == pytest.approx({"b": 1.0})
    assert s.ema.tolist() == pytest.approx([2.0, 2.0])


def test_uncertainty_loss_and_gradient():
    s = get_weighting("uncertainty", ["a", "b"])
    s.load_state_dict({"log_vars": torch.tensor([0.0, math.log(2.0)])})
    losses = _losses(a=2.0, b=3.0)
    stacked = torch.stack([losses["a"], losses["b"]])
    # exp(0)*2 + 0 + exp(-log 2)*3 + log 2 = 3.5 + 0.693147
    total = s.weighted_loss(stacked, step=0, epoch=0)
    assert float(total) == pytest.approx(3.5 + math.log(2.0))
    w = s.backward(losses, shared_params=[])
    assert w == pytest.approx({"a": 1.0, "b": 0.5})
    # dL/ds_t = 1 - exp(-s_t) L_t = (1 - 2, 1 - 1.5); dL/dL_t = exp(-s_t)
    assert [float(p.grad) for p in s.parameters()] == pytest.approx([-1.0, -0.5])
    assert float(losses["b"].grad) == pytest.approx(0.5)
    assert s.log_vars.tolist() == pytest.approx([0.0, math.log(2.0)])
    # one scalar parameter per task: a step without b leaves s_b without a gradient
    for p in s.parameters():
        p.grad = None
    s.backward(_losses(a=2.0), shared_params=[])
    assert [p.grad is None for p in s.parameters()] == [False, True]


def test_dwa_weights_after_two_epochs():
    s = get_weighting("dwa", ["a", "b"], temperature=2.0)
    assert _step(s, a=1.0, b=2.0) == {"a": 1.0, "b": 1.0}  # epoch 0
    s.epoch_end({"a": 1.0, "b": 2.0}, 0)
    assert _step(s, a=1.0, b=2.0) == {"a": 1.0, "b": 1.0}  # epoch 1: still no ratio
    s.epoch_end({"a": 0.5, "b": 1.8}, 1)
    # r = (0.5/1.0, 1.8/2.0) = (0.5, 0.9); w = 2 softmax(r / 2) = 2 / (1 + e^{0.2}) for a
    wa = 2.0 / (1.0 + math.exp(0.2))  # 0.900332
    assert _step(s, a=9.0, b=9.0) == pytest.approx({"a": wa, "b": 2.0 - wa})
    assert wa == pytest.approx(0.900332, abs=1e-6)


def test_gradnorm_weight_updates_by_hand():
    s = get_weighting("gradnorm", ["a", "b"], alpha=1.5, lr=0.025)
    w0 = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    # La = W0^2 = 1, grad (2, 0), norm 2; Lb = W1^2 = 4, grad (0, 4), norm 4
    w = s.backward({"a": w0[0] ** 2, "b": w0[1] ** 2}, shared_params=[w0])
    assert w == {"a": 1.0, "b": 1.0}
    assert w0.grad.tolist() == [2.0, 4.0]  # the network step uses the old weights
    # step 0: r = (1, 1); G = (2, 4), target = mean G = 3; dLgrad/dw = (-2, +4);
    # Adam's first step moves each weight by lr in the descent direction: (1.025, 0.975)
    assert s.task_weights.tolist() == pytest.approx([1.025, 0.975])
    # step 1 at W = (1, 1): La = 1 (ratio 1), Lb = 1 (ratio 1/4); r = (1, .25)/.625 = (1.6, .4)
    w1 = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    s.backward({"a": w1[0] ** 2, "b": w1[1] ** 2}, shared_params=[w1])
    # norms (2, 2); G = (2.05, 1.95), mean 2; target = 2 * (1.6^1.5, 0.4^1.5) = (4.048, 0.506)
    # dLgrad/dw = (sign(2.05 - 4.048) 2, sign(1.95 - 0.506) 2) = (-2, 2): a (lagging) goes up
    g1, g2 = np.array([-2.0, 4.0]), np.array([-2.0, 2.0])
    m = 0.9 * 0.1 * g1 + 0.1 * g2              # (-0.38, 0.56)
    v = 0.999 * 0.001 * g1**2 + 0.001 * g2**2  # (0.007996, 0.019984)
    step = 0.025 * (m / 0.19) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)  # (-0.025, 0.023305)
    new = np.array([1.025, 0.975]) - step
    expected = 2 * new / new.sum()             # (1.049111, 0.950889)
    assert s.task_weights.tolist() == pytest.approx(expected.tolist(), abs=1e-9)
    assert expected == pytest.approx([1.049111, 0.950889], abs=1e-6)


def test_gradnorm_uses_last_shared_weight_matrix():
    enc = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    assert get_weighting("gradnorm", ["a"]).norm_parameter(list(enc.parameters())) \
        is enc[1].weight


@pytest.mark.parametrize("name", ["gradnorm", "pcgrad", "mgda"])
def test_gradient_strategies_need_trainable_shared_parameters(name):
    from bio_mtl.errors import ModelError

    frozen = torch.nn.Parameter(torch.ones(2), requires_grad=False)
    with pytest.raises(ModelError, match=r"none were given .*is the encoder frozen"):
        get_weighting(name, ["a", "b"]).backward(_losses(a=1.0, b=2.0), shared_params=[frozen])


def test_famo_logit_update_by_hand():
    s = get_weighting("famo", ["a", "b"], lr=0.025, gamma=0.01)
    # step 1 records the losses; z = (.5, .5); w ∝ z/L = (.5, .25) -> 2 (.5, .25)/.75
    assert _step(s, a=1.0, b=2.0) == pytest.approx({"a": 4 / 3, "b": 2 / 3})
    # step 2: delta = log(prev) - log(now) = (log 2, log(2/1.9)); a improved more.
    # J^T delta = z (delta - z.delta) = (+0.160, -0.160); Adam's first step moves the logits
    # by -lr sign(.) = (-0.025, +0.025) (decay is 0 at logits 0), so b gains weight
    z = np.array([1.0, math.exp(0.05)]) / (1 + math.exp(0.05))  # softmax(-0.025, 0.025)
    ratio = z / np.array([0.5, 1.9])
    expected = 2 * ratio / ratio.sum()  # (1.566599, 0.433401)
    w = _step(s, a=0.5, b=1.9)
    assert [w["a"], w["b"]] == pytest.approx(expected.tolist(), abs=1e-7)
    # exactly lr |d| / (|d| + 1e-8) = 0.025 (1 - 6.2e-8) with Adam's eps
    assert s.logits.tolist() == pytest.approx([-0.025, 0.025], abs=2e-9)
    assert expected == pytest.approx([1.566599, 0.433401], abs=1e-6)


# -- gradient combination ---------------------------------------------------------------------
def test_pcgrad_projects_conflicting_pair():
    s = get_weighting("pcgrad", ["a", "b"])
    # g1' = g1 - (g1.g2/|g2|^2) g2 = (1,0) + 0.5 (-1,1) = (0.5, 0.5)
    # g2' = g2 - (g2.g1/|g1|^2) g1 = (-1,1) + (1,0)    = (0, 1)
    assert s.combine_grads(_grads(G1, G2)).tolist() == pytest.approx([0.5, 1.5])
    # no conflict: plain sum
    assert s.combine_grads(_grads([1.0, 0.0], [1.0, 1.0])).tolist() == [2.0, 1.0]


def test_pcgrad_order_is_seeded_and_resumable():
    g = _grads([1.0, 0.0], [-1.0, 0.5], [0.2, -1.0])
    # every ordering of projections gives one of a few results; the seed picks them
    a, b = get_weighting("pcgrad", list("xyz"), seed=3), get_weighting("pcgrad", list("xyz"),
                                                                        seed=3)
    out_a = [a.combine_grads(g) for _ in range(4)]
    state = a.state_dict()
    out_b = [b.combine_grads(g) for _ in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(out_a, out_b, strict=True))
    c = get_weighting("pcgrad", list("xyz"), seed=99)
    c.load_state_dict(state)
    assert torch.equal(c.combine_grads(g), a.combine_grads(g))


def _cagrad_brute_force(g, c, *, rescale=True):
    """CAGrad for two tasks by a fine grid over the simplex (independent of the solver)."""
    g0 = g.mean(axis=0)
    grid = np.linspace(0, 1, 200001)
    gws = grid[:, None] * g[0] + (1 - grid[:, None]) * g[1]
    obj = gws @ g0 + c * np.linalg.norm(g0) * np.linalg.norm(gws, axis=1)
    gw = gws[np.argmin(obj)]
    d = g0 + c * np.linalg.norm(g0) / np.linalg.norm(gw) * gw
    return 2 * d / (1 + c**2 if rescale else 1)


def test_cagrad_matches_hand_solution():
    # c = 1: g0 = (0, .5), |g0| = .5, g_w = (2w-1, 1-w) with w the weight of g1;
    # F(w) = .5(1-w) + .5 |g_w|; F'(w) = 0 <=> 5w - 3 = |g_w| <=> 20w^2 - 24w + 7 = 0, w = 0.7;
    # g_w = (0.4, 0.3), |g_w| = 0.5, lambda = c|g0|/|g_w| = 1, d = g0 + g_w = (0.4, 0.8)
    s = get_weighting("cagrad", ["a", "b"], c=1.0, rescale=False)
    assert s.combine_grads(_grads(G1, G2)).tolist() == pytest.approx([0.8, 1.6], abs=1e-5)
    # implied weights T (1/T + lambda w) = 2 (0.5 + 0.7, 0.5 + 0.3)
    assert s.last_weights_.tolist() == pytest.approx([2.4, 1.6], abs=1e-4)
    # d . g1 = d . g2 = 0.4: the worst task's improvement is maximised
    rescaled = get_weighting("cagrad", ["a", "b"], c=1.0)
    assert rescaled.combine_grads(_grads(G1, G2)).tolist() == pytest.approx([0.4, 0.8],
                                                                             abs=1e-5)


@pytest.mark.parametrize("c", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("rows", [(G1, G2), ([2.0, 0.5], [-0.5, 1.0]), ([1.0, 1.0], [0.5, 0.2])])
def test_cagrad_matches_brute_force(c, rows):
    s = get_weighting("cagrad", ["a", "b"], c=c)
    out = s.combine_grads(_grads(*rows)).numpy()
    assert out == pytest.approx(_cagrad_brute_force(np.array(rows), c), abs=1e-4)


def test_cagrad_c_zero_is_the_plain_sum():
    s = get_weighting("cagrad", ["a", "b"], c=0.0)
    assert s.combine_grads(_grads(G1, G2)).tolist() == pytest.approx([0.0, 1.0])


def test_mgda_two_task_min_norm_point():
    s = get_weighting("mgda", ["a", "b"])
    # gamma = (g2 - g1).g2 / |g1 - g2|^2 = 3/5; 0.6 (1,0) + 0.4 (-1,1) = (0.2, 0.4); times T = 2
    assert s.combine_grads(_grads(G1, G2)).tolist() == pytest.approx([0.4, 0.8])
    assert s.last_weights_.tolist() == pytest.approx([1.2, 0.8])


def test_mgda_three_tasks_against_brute_force():
    g = _grads([1.0, 0.0, 0.5], [-1.0, 1.0, 0.0], [0.3, -0.8, 1.0])
    w = min_norm_weights(g @ g.T)
    best = min(np.linalg.norm(np.array([a, b, 1 - a - b]) @ g.numpy())
               for a, b in itertools.product(np.linspace(0, 1, 401), repeat=2) if a + b <= 1)
    assert float(torch.linalg.vector_norm(w @ g)) == pytest.approx(best, abs=1e-3)
    assert float(w.sum()) == pytest.approx(1.0)
    assert bool((w >= 0).all())


def test_nash_mtl_bargaining_solution_by_hand():
    s = get_weighting("nash_mtl", ["a", "b"])
    # G = [[1, -1], [-1, 2]]; G a = 1/a gives a1 - a2 = 1/a1 and -a1 + 2 a2 = 1/a2, so
    # a1^4 - 4 a1^2 + 2 = 0, a1^2 = 2 + sqrt 2 (a2 > 0 needs a1 > 1), a2 = a1 - 1/a1
    a1 = math.sqrt(2 + math.sqrt(2))  # 1.847759
    a2 = a1 - 1 / a1                  # 1.306563
    d = s.combine_grads(_grads(G1, G2))
    assert s.last_weights_.tolist() == pytest.approx([a1, a2], abs=1e-6)
    assert d.tolist() == pytest.approx([a1 - a2, a2], abs=1e-6)  # (0.541196, 1.306563)
    assert float(d @ d) == pytest.approx(2.0)  # |d|^2 = T
    # rescaling one task's loss (its gradient) leaves the update unchanged
    assert s.combine_grads(_grads([10.0, 0.0], G2)).tolist() == pytest.approx(d.tolist())
    assert s.last_weights_.tolist() == pytest.approx([a1 / 10, a2], abs=1e-6)


def test_nash_mtl_many_tasks_and_a_dead_task():
    from bio_mtl.mtl.weighting.nash_mtl import nash_weights

    g = torch.randn(4, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g[1] *= 10.0
    g[3] = 0.0  # a task without signal this step
    a = nash_weights(g @ g.T)
    assert float(a[3]) == 0.0
    assert ((g @ g.T @ a) * a)[:3].tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-8)


def test_docs_table_lists_every_strategy_and_its_parameters():
    import inspect
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "weighting.md"
    rows = {line.split("|")[1].strip().strip("`"): line for line in doc.read_text().splitlines()
            if line.startswith("| `")}
    for name, cls in WEIGHTINGS.items():
        assert name in rows, f"docs/weighting.md has no row for {name!r}"
        assert f"`{cls.__name__}`" in rows[name]
        for param in inspect.signature(cls.__init__).parameters.values():
            if param.name not in ("self", "task_names"):
                default = "{}" if param.default is None else param.default  # weights=None: {}
                assert f"`{param.name}` ({default})" in rows[name], (name, param.name)


@pytest.mark.parametrize("seed", range(6))
def test_gradient_methods_optimality_conditions_on_random_gradients(seed):
    gen = torch.Generator().manual_seed(seed)
    n_tasks = (2, 3, 5)[seed % 3]
    g = torch.randn(n_tasks, 7, generator=gen, dtype=torch.float64)
    g *= torch.rand(n_tasks, 1, generator=gen, dtype=torch.float64) * 10  # uneven scales
    names = [f"t{i}" for i in range(n_tasks)]
    # MGDA: u = sum w g is the min-norm point iff g_t . u >= |u|^2 for every task (KKT)
    u = get_weighting("mgda", names).combine_grads(g) / n_tasks
    assert float((g @ u).min()) >= float(u @ u) * (1 - 1e-6)
    # CAGrad: d maximises min_t g_t . d over |d - g0| <= c|g0|, and g0 lies in that ball
    c, g0 = 0.5, g.mean(dim=0)
    d = get_weighting("cagrad", names, c=c, rescale=False).combine_grads(g) / n_tasks
    assert float((d - g0).norm()) == pytest.approx(c * float(g0.norm()), rel=1e-6)
    assert float((g @ d).min()) >= float((g @ g0).min()) - 1e-6
    # Nash-MTL: every task's directional derivative is 1 / alpha_t > 0
    nash = get_weighting("nash_mtl", names)
    d = nash.combine_grads(g)
    assert (g @ d).tolist() == pytest.approx((1 / nash.last_weights_.double()).tolist(),
                                             rel=1e-5)
    # PCGrad with two tasks: the summed update never increases either loss (to first order)
    if n_tasks == 2:
        assert float((g @ get_weighting("pcgrad", names).combine_grads(g)).min()) >= -1e-9


def test_nash_mtl_exactly_opposed_gradients_give_no_update():
    # g2 = -g1: no direction helps both tasks; the ridge keeps alpha finite (~1e5) and d = 0
    s = get_weighting("nash_mtl", ["a", "b"])
    d = s.combine_grads(_grads([1.0, 0.0], [-1.0, 0.0]))
    assert float(d.norm()) < 1e-9
    assert s.last_weights_.tolist() == pytest.approx([1e5, 1e5], rel=1e-3)


def test_random_weighting_draws_seeded_softmax_weights():
    s = get_weighting("random", ["a", "b", "c"], seed=7)
    z = torch.randn(3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    expected = (3 * torch.exp(z) / torch.exp(z).sum()).tolist()
    w = _step(s, a=1.0, b=1.0, c=1.0)
    assert [w[k] for k in "abc"] == pytest.approx(expected)
    # E[T softmax(z)] = 1 for every task by symmetry; the mean of 4000 draws is close to it
    draws = torch.stack([s.weights(torch.ones(3), step=i, epoch=0) for i in range(4000)])
    assert draws.sum(dim=1).tolist() == pytest.approx([3.0] * 4000)
    assert draws.mean(dim=0).tolist() == pytest.approx([1.0, 1.0, 1.0], abs=0.05)


def test_no_task_in_batch_is_a_no_op():
    assert get_weighting("equal", ["a"]).backward({}, shared_params=[]) == {}
    assert get_weighting("gradnorm", ["a"]).backward({}, shared_params=[]) == {}
