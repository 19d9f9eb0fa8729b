"""Other reconstructions (sslvit.beyond.variants, trained by train_fullq) and the sensitivity verdicts
(sslvit.beyond.sensitivity), book chapter 14."""
import math
import re

import pytest
import torch

from sslvit import DataConfig, Run, TrainConfig
from sslvit.beyond.fullq import train_fullq
from sslvit.beyond.sensitivity import (CLAIMS, GAP_DEFINITIONS, GAP_DEFINITIONS_MD, claim_verdicts, first_step_ratio,
                                       gap_boundaries)
from sslvit.beyond.variants import (Variant, cl_loss_variant, fixed_fraction_mask, mae_loss_variant, variant_forward)

DATA = DataConfig(patches=16, clusters=2, global_size=8, local_size=2, layout="random")


def _runs(objective, steps=4, seeds=(0, 1), **kw):
    return [Run(DATA, TrainConfig(objective=objective, lr=100.0 if objective == "mae" else 1000.0, steps=steps,
                                  batch_size=8, seed=s, **kw)) for s in seeds]


@pytest.mark.parametrize("bad, name", [(dict(keys="masked"), "keys"), (dict(queries="key"), "queries"),
                                       (dict(similarity="l2"), "similarity"), (dict(representation="max"), "representation"),
                                       (dict(masking="block"), "masking"), (dict(mae_norm="all"), "mae_norm"),
                                       (dict(init_std=-0.1), "init_std"), (dict(init_std=float("nan")), "init_std")])
def test_variant_rejects_unknown_choices_by_name(bad, name):
    with pytest.raises(ValueError, match=name):
        Variant(**bad)


def test_variant_label_names_what_changed():
    assert Variant().label() == "the book's reconstruction"
    assert Variant(keys="visible", init_std=0.1).changes() == {"keys": "visible", "init_std": 0.1}


def test_fixed_fraction_mask_masks_exactly_round_gamma_p():
    v = fixed_fraction_mask(16, 50, 0.3, torch.Generator().manual_seed(0))
    assert v.shape == (50, 16) and bool(((~v).sum(1) == round(0.3 * 16)).all())
    assert not torch.equal(v[0], v[1])                       # the masked positions vary from image to image


def test_visible_keys_put_no_attention_on_masked_keys():
    X = torch.randn(1, 3, 16, 27, dtype=torch.float64)
    visible = torch.rand(1, 3, 16) > 0.4
    Q = torch.randn(1, 27, 27, dtype=torch.float64)
    _, attn = variant_forward(Q, X, visible, Variant(keys="visible"))
    assert float(attn.masked_select(~visible[:, :, None, :].expand_as(attn)).abs().max()) == 0.0
    assert torch.allclose(attn.sum(-1), torch.ones_like(attn.sum(-1)))


def test_losses_reduce_to_the_definitions():
    F, X = torch.randn(1, 4, 16, 27, dtype=torch.float64), torch.randn(1, 4, 16, 27, dtype=torch.float64)
    visible = torch.rand(1, 4, 16) > 0.5
    masked = (~visible).double().sum(-1)
    per_image = lambda v: mae_loss_variant(F[:, i:i + 1], X[:, i:i + 1], visible[:, i:i + 1], v)  # noqa: E731
    for i in range(4):
        ratio = per_image(Variant(mae_norm="patches")) / per_image(Variant())
        assert float(ratio) == pytest.approx(float(masked[0, i]) / 16)
    f1, f2 = torch.randn(1, 5, 27, dtype=torch.float64), torch.randn(1, 5, 27, dtype=torch.float64)
    allowed = torch.ones(1, 5, 5, dtype=torch.bool)
    cos = Variant(similarity="cosine")
    assert torch.allclose(cl_loss_variant(3.0 * f1, 0.5 * f2, allowed, 0.2, cos), cl_loss_variant(f1, f2, allowed, 0.2, cos))
    assert not torch.allclose(cl_loss_variant(3.0 * f1, f2, allowed, 1.0, Variant()), cl_loss_variant(f1, f2, allowed, 1.0, Variant()))


def test_content_queries_change_nothing_for_mae():
    """A masked query carries no content (x~_p = 0), and MAE's loss reads only masked queries."""
    ref = train_fullq(_runs("mae"), log_every=2)
    content = train_fullq(_runs("mae"), variant=Variant(queries="content"), log_every=2)
    for k in ref.history:
        assert torch.allclose(ref.history[k], content.history[k], atol=1e-12), k


def test_cls_representation_trains_only_the_cls_query():
    traj = train_fullq(_runs("cl"), variant=Variant(representation="cls"), log_every=2)
    assert float(traj.W.abs().max()) == 0.0                                  # the position queries never move
    cls = traj.history["cls_global_attention"]
    assert bool((cls[-1] > cls[0]).all())                                    # the [CLS] query moves to the background


def test_random_start_is_seeded_and_breaks_the_symmetry_of_cl():
    a = train_fullq(_runs("cl", steps=2), variant=Variant(init_std=0.1), log_every=1)
    b = train_fullq(_runs("cl", steps=2), variant=Variant(init_std=0.1), log_every=1)
    zero = train_fullq(_runs("cl", steps=2), log_every=1)
    assert torch.equal(a.W, b.W)
    assert float(zero.history["nmi"].abs().max()) < 1e-12 < float(a.history["nmi"][0].min())


def test_fixed_masking_trains():
    traj = train_fullq(_runs("mae"), variant=Variant(masking="fixed"), log_steps=[0, 1, 4])
    assert traj.steps == [0, 1, 4] and bool(torch.isfinite(first_step_ratio(traj.history)).all())


def _history(own, glob, nmi, ratio=None, cls=None):
    T = 2
    h = {"own_area_attention": torch.tensor([[0.0] * len(own), own]), "global_area_attention": torch.tensor([[0.0] * len(own), glob]),
         "nmi": torch.tensor([[0.0] * len(own), nmi])}
    r = ratio or [1.0] * len(own)
    h["fp_own"] = torch.tensor([[0.0] * len(own), [1.0] * len(own)])[:T]
    h["fp_global"] = torch.tensor([[0.0] * len(own), [-x for x in r]])[:T]
    if cls is not None:
        h["cls_global_attention"] = torch.tensor([[0.0] * len(own), cls])
    return h


def test_claim_verdicts_grade_holds_qualified_breaks():
    n = 20                                                                    # runs per sign
    rep = lambda *v: [x for x in v for _ in range(n // len(v))]              # noqa: E731
    mae = {"+": _history(rep(0.9, 0.8), rep(0.0), rep(0.5, 0.4), rep(2.0, 3.0)),
           "-": _history(rep(0.9, 0.7), rep(0.0, 0.1), rep(0.6), rep(0.5, 0.4))}
    cl = {"+": _history(rep(0.0), rep(0.99, 0.95), rep(0.0, 0.001)), "-": _history(rep(0.0), rep(0.97, 0.92), rep(0.0))}
    v = claim_verdicts(mae, cl)
    assert set(v) == set(CLAIMS) and all(x.verdict == "holds" for x in v.values())
    assert str(v["cl_global"].shares["strict"]) == "40 of 40 (at least 93% at 95%)"
    mae["-"] = _history(rep(0.3, 0.2), rep(0.5, 0.6), rep(0.6), rep(1.5, 0.4))   # MAE not local, Phase I at Delta < 0
    cl["-"] = _history(rep(0.0), rep(0.6, 0.3), rep(0.08, 0.0))
    v = claim_verdicts(mae, cl)
    assert v["mae_local"].verdict == "qualified" and v["phase_one"].verdict == "qualified"     # one sign only
    assert v["cl_global"].verdict == "qualified" and v["cl_one_pattern"].verdict == "qualified"
    assert v["mae_vs_cl"].verdict == "qualified"
    cl = {s: _history(rep(0.0), rep(0.6, 0.3), rep(0.0)) for s in "+-"}      # half the runs reach even 0.5
    assert claim_verdicts(mae, cl)["cl_global"].verdict == "qualified"
    cl = {s: _history(rep(0.0), rep(0.3), rep(0.2)) for s in "+-"}           # no run reaches 0.5, NMI above 0.1
    v = claim_verdicts(mae, cl)
    assert v["cl_global"].verdict == "breaks" and v["cl_one_pattern"].verdict == "breaks"
    # one failure in 40 still holds; three do not (the 95% lower bound drops below 0.8)
    one_off = {"+": _history(rep(0.0), [0.3] + [0.99] * (n - 1), rep(0.0)), "-": cl["-"] | _history(rep(0.0), rep(0.99), rep(0.0))}
    assert claim_verdicts(mae, one_off)["cl_global"].verdict == "holds"
    three_off = {"+": _history(rep(0.0), [0.3] * 3 + [0.99] * (n - 3), rep(0.0)), "-": one_off["-"]}
    assert claim_verdicts(mae, three_off)["cl_global"].verdict == "qualified"
    few = {s: {k: t[:, :3] for k, t in h.items()} for s, h in one_off.items()}
    few_mae = {s: {k: t[:, :3] for k, t in h.items()} for s, h in mae.items()}
    assert claim_verdicts(few_mae, few)["cl_one_pattern"].verdict == "qualified"   # three seeds cannot hold
    cl = {s: _history(rep(0.0), rep(0.1), rep(0.0), cls=rep(0.99, 0.98)) for s in "+-"}
    assert claim_verdicts(mae, cl)["cl_global"].verdict == "holds"          # the [CLS] query's attention counts
    with pytest.raises(ValueError, match="signs"):
        claim_verdicts({"+": mae["+"]}, cl)


def test_gap_boundaries_locate_rho_equal_one():
    (b,) = gap_boundaries([256], [4], 0.5)
    assert 4 < b.global_size < 256
    exact = GAP_DEFINITIONS["with 1 − γ and C_c − 1"]
    assert abs(exact(256, b.predicted["with 1 − γ and C_c − 1"], 4, 0.5)) < 1e-9
    errors = {name: b.error(name) for name in GAP_DEFINITIONS}
    assert errors["with 1 − γ and C_c − 1"] < errors["2κs − κc − 1 (the book's)"] < errors["κs − κc (sizes only)"]
    (c2,) = gap_boundaries([256], [2], 0.5)                                  # (1 − γ)/(C_c − 1) = 1/C_c here
    assert math.isclose(c2.predicted["with 1 − γ and C_c − 1"], c2.predicted["2κs − κc − 1 (the book's)"], rel_tol=1e-9)


def test_sensitivity_sweep_grades_the_book_model():
    from sslvit.beyond.sensitivity import sensitivity_sweep
    data = {"+": DATA, "-": DataConfig(patches=16, clusters=2, global_size=4, local_size=2, layout="random")}
    assert data["+"].delta > 0 > data["-"].delta
    train = {"mae": TrainConfig(objective="mae", lr=300.0, steps=6, batch_size=8),
             "cl": TrainConfig(objective="cl", lr=3000.0, steps=6, batch_size=8)}
    result = sensitivity_sweep(Variant(), data, train, seeds=range(8), log_steps=[0, 1, 6])
    assert set(result.verdicts) == set(CLAIMS) and result.steps == [0, 1, 6]
    assert result.histories["cl"]["-"]["nmi"].shape == (3, 8)
    assert result.verdicts["cl_one_pattern"].verdict == "holds"            # exact symmetry at Q = 0: 16 of 16 runs
    with pytest.raises(ValueError, match="contain 0 and 1"):
        sensitivity_sweep(Variant(), data, train, seeds=(0,), log_steps=[0, 6])


def test_sweep_from_stored_regrades_stored_histories():
    from sslvit.beyond.sensitivity import sweep_from_stored
    n = 20
    h = lambda own, glob, nmi, ratio=1.0: {k: v.tolist() for k, v in _history([own] * n, [glob] * n, [nmi] * n,  # noqa: E731
                                                                               [ratio] * n).items()}
    stored = {"ours": {"mae": {"+": h(0.9, 0.0, 0.5, 2.0), "-": h(0.9, 0.0, 0.5, 0.5)},
                       "cl": {"+": h(0.0, 0.99, 0.0), "-": h(0.0, 0.95, 0.0)}}}
    out = sweep_from_stored(stored, steps=[0, 60])
    assert out["ours"].steps == [0, 60] and out["ours"].histories["cl"]["-"]["nmi"].dtype == torch.float64
    assert all(v.verdict == "holds" for v in out["ours"].verdicts.values())
    assert out["ours"].verdicts["mae_local"].shares["strict"].n == 2 * n


def test_landing_areas_find_the_top_area_per_cluster():
    from sslvit.beyond.sensitivity import landing_areas
    runs = [Run(DATA, TrainConfig(objective="cl", lr=3000.0, steps=8, batch_size=8, seed=s)) for s in (0, 1)]
    traj = train_fullq(runs, log_every=8)
    rows = landing_areas(traj, batch=16, seed=3)
    assert {(r["run"], r["cluster"]) for r in rows} <= {(r, k) for r in (0, 1) for k in range(DATA.clusters)}
    for r in rows:
        assert 0 <= r["top_area"] < r["areas"] == DATA.n_areas and r["on_global"] == (r["top_area"] == 0)
        assert 0 <= r["global_share"] <= r["top_share"] <= 1 + 1e-12
    assert any(r["on_global"] for r in rows)                  # dot-product CL from Q = 0 lands on the global area
    with pytest.raises(ValueError, match="run=5"):
        traj.correlations(5)


def test_every_gap_definition_has_its_text_form():
    """The text form of each definition keeps its math inside $...$: no raw C_c or κ_s on the page."""
    assert set(GAP_DEFINITIONS_MD) == set(GAP_DEFINITIONS)
    for text in GAP_DEFINITIONS_MD.values():
        assert text.count("$") >= 2 and text.count("$") % 2 == 0, text
        assert "_" not in re.sub(r"\$[^$]*\$", "", text), text
