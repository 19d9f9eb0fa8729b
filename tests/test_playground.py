"""The playground's model (sslvit.analysis.playground) and its figures (sslvit.plots.playground)."""
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from sslvit.analysis.playground import GLOBAL_SIZES, MAX_STEPS, Setting, retrain  # noqa: E402
from sslvit.core.attention import spread_queries  # noqa: E402
from sslvit.plots.playground import gallery_figure, outcome_figure, story_figure  # noqa: E402


@pytest.mark.parametrize("bad, message", [
    (dict(objective="dino"), "objective"), (dict(global_size=10), "global_size"), (dict(mask_prob=1.0), "mask_prob"),
    (dict(mask_prob=0.0), "mask_prob"), (dict(steps=MAX_STEPS + 1), "steps"), (dict(steps=-1), "steps"),
    (dict(seed=-1), "seed")])
def test_setting_rejects_bad_controls_by_name(bad, message):
    with pytest.raises(ValueError, match=message):
        Setting(**bad)


def test_setting_defaults_and_gap():
    assert (Setting().mask_prob, Setting().steps) == (0.5, 150)
    assert (Setting("cl").mask_prob, Setting("cl").steps) == (0.3, 100)
    for c in GLOBAL_SIZES:       # Δ = (log2 C_s − 4) / 3 on the 8 x 8 grid with 2 x 2 local blocks
        assert Setting(global_size=c).delta == pytest.approx((torch.log2(torch.tensor(float(c))).item() - 4) / 3)


def test_zero_steps_is_uniform_attention():
    o = retrain(Setting(steps=0))
    assert torch.allclose(o.attn, torch.full_like(o.attn, 1 / 64), atol=1e-15)
    assert o.metrics["nmi"] == pytest.approx(0.0, abs=1e-12)


def test_retrain_is_deterministic_and_separates_the_objectives():
    a, b = retrain(Setting("mae", 32)), retrain(Setting("mae", 32))
    assert torch.equal(a.attn, b.attn) and a.metrics == b.metrics
    cl = retrain(Setting("cl", 32), view_mask_prob=0.5)
    mae = retrain(Setting("mae", 32), view_mask_prob=0.5)
    assert mae.metrics["own_area_attention"] > 0.8 and cl.metrics["global_area_attention"] > 0.95
    assert torch.equal(mae.key_area, cl.key_area) and torch.equal(mae.visible, cl.visible)
    rows = cl.attn[cl.queries]
    assert torch.equal(rows, rows[0].expand_as(rows))            # CL: every query the same attention row


def test_spread_queries_are_local_with_a_visible_area_mate():
    area = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3])
    visible = torch.tensor([1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0], dtype=torch.bool)
    qs = spread_queries(area, visible, width=4)
    assert len(qs) == 3 and all(area[q] > 0 for q in qs)
    assert not visible[qs[1]] and visible[qs[0]] and visible[qs[2]]
    assert qs == [2, 8, 11]                  # nearest the top-left corner, the centre (1.5, 1.5), the bottom-right
    with_background = spread_queries(area, visible, width=4, background=True)
    assert with_background[:3] == qs and area[with_background[3]] == 0 and with_background[3] == 5
    with pytest.raises(ValueError, match="width"):
        spread_queries(area, visible, width=5)


def test_figures_draw_and_refuse_mismatched_images():
    mae = retrain(Setting("mae", 16, steps=20), view_mask_prob=0.5)
    cl = retrain(Setting("cl", 16, steps=20), view_mask_prob=0.5)
    for fig in (story_figure(mae, cl), outcome_figure(mae), gallery_figure([[mae, cl]], ["row"], ["a", "b"])):
        assert fig.axes
        plt.close(fig)
    other = retrain(Setting("cl", 32, steps=20), view_mask_prob=0.5)
    with pytest.raises(ValueError, match="same image"):
        story_figure(mae, other)
    with pytest.raises(ValueError, match="grid"):
        gallery_figure([[mae], [cl, cl]], ["a", "b"], ["c"])


# ---- the live controls (sslvit.plots.playground.controls), without a browser -------------------------------

def _controls():
    from sslvit.plots.playground import controls

    drawn = []
    return controls(draw=drawn.append), drawn


def test_controls_show_their_values_whole():
    """The C_s control shows each size with its gap in full (a dropdown as wide as its longest label), the steps
    control offers every count the page's experiments ask for."""
    from sslvit.plots.playground import STEP_CHOICES

    c, _ = _controls()
    labels = [label for label, _ in c.size.options]
    assert all(re.fullmatch(r"\d+ +\(Δ = [+-]\d\.\d\d\)", label) for label in labels), labels
    width_em = float(c.size.layout.width.removesuffix("em"))
    label_em = 0.6 * max(len(label) for label in labels)            # a character is about 0.6 em wide
    description_em = float(c.size.style.description_width.removesuffix("em"))
    assert width_em >= description_em + label_em + 2, (width_em, description_em, label_em)   # + the arrow
    assert {0, 2, 4, 10, 100, 150} <= set(STEP_CHOICES) and list(c.steps.options) == list(STEP_CHOICES)


def test_a_new_objective_says_why_gamma_and_steps_change():
    c, drawn = _controls()
    c.steps.value, c.gamma.value = 10, 0.7
    assert [s.steps for s in drawn] == [10, 10] and drawn[-1].mask_prob == 0.7 and c.status.value == ""
    c.objective.value = "cl"
    assert (c.gamma.value, c.steps.value) == (0.3, 100)
    assert len(drawn) == 3 and drawn[-1] == Setting("cl", 16, 0.3, 100)          # one redraw for the change
    assert "defaults" in c.status.value and "0.3" in c.status.value and "100 steps" in c.status.value
    c.size.value = 48
    assert c.status.value == "" and drawn[-1].global_size == 48


@pytest.mark.parametrize("size", (8, 16, 48))
def test_panel_titles_are_true_to_the_queries(size):
    """At γ = 0.9 the three queries may all be masked: the titles say what each one is."""
    from sslvit.plots.playground import query_names

    for gamma in (0.3, 0.9):
        o = retrain(Setting("mae", size, mask_prob=gamma, steps=10))
        names = query_names(o)
        assert names == [("visible" if o.visible[q] else "masked") + " local query" for q in o.queries]
        fig = outcome_figure(o)
        assert [ax.get_title() for ax in fig.axes[1:4]] == names
        plt.close(fig)


def test_a_flat_map_is_dark_and_the_colour_bar_legible():
    from sslvit.plots.style import overlapping_texts

    fig = outcome_figure(retrain(Setting(steps=0)))
    im = fig.axes[1].images[0]
    assert float(im.norm(im.get_array().max())) < 0.2                  # 1/64 on the fixed square-root scale
    assert not overlapping_texts(fig)
    plt.close(fig)
