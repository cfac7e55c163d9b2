"""The ablation's summary: mean ± std over seeds, and verdicts that respect the seed spread."""

from __future__ import annotations

import json

import pytest

from hyper_sapiens.ablation import effects, overrides_for, render_table, summarise


def _rows(*pcks):
    return [{"seed": i, "pck@0.05": p, "g_error": 1.0, "prior_plausibility": None} for i, p in enumerate(pcks)]


def test_summary_and_verdicts():
    table = summarise(
        {
            "real_only": _rows(0.10, 0.12, 0.11),
            "stage1_only": _rows(0.05, 0.06, 0.04),
            "curriculum": _rows(0.20, 0.22, 0.21),
            "+geometry": _rows(0.21, 0.19, 0.23),
            "+prior": _rows(0.10, 0.12, 0.11),
        }
    )
    assert table["real_only"]["pck@0.05"] == pytest.approx(0.11)
    assert table["real_only"]["pck@0.05_std"] == pytest.approx(0.01)  # sample std (ddof 1)
    assert "prior_plausibility" not in table["real_only"]  # no value: reported as n/a, not as 0
    verdicts = [line.rsplit(": ", 1)[1] for line in effects(table)]
    assert verdicts == ["hurt.", "helped.", "made no difference beyond the seed spread.", "hurt."]
    text = render_table(table, 240, [0, 1, 2])
    assert "| real_only | 0.1100 ± 0.0100 |" in text and "| n/a |" in text


def test_stage_prefixed_overrides_reach_their_stage_only():
    given = ["loss.pose.weight=2", "stage2:loss.geo.weight=0.1", "stage3:loss.sds.weight=0.01", "run.dir=C:x"]
    assert overrides_for("stage1", given) == ["loss.pose.weight=2", "run.dir=C:x"]
    assert overrides_for("stage2", given) == ["loss.pose.weight=2", "loss.geo.weight=0.1", "run.dir=C:x"]
    assert overrides_for("stage3", given) == ["loss.pose.weight=2", "loss.sds.weight=0.01", "run.dir=C:x"]


def test_a_run_of_fewer_variants_keeps_the_other_variants_rows(tmp_path):
    """Resuming with ``--variants +prior`` after a full run must not drop the other variants from ablation.json."""
    from hyper_sapiens.ablation import _finished_runs

    settings = {"recipe": "real", "budget_steps": 640, "overrides": [], "from_scratch": False, "score_on": "validate"}
    rows = {"real_only": [{"seed": 0, "pck@0.05": 0.2}], "+prior": [{"seed": 0, "pck@0.05": 0.3}]}
    path = tmp_path / "ablation.json"
    path.write_text(json.dumps({**settings, "seeds": [0], "runs": rows}), encoding="utf-8")
    results = _finished_runs(path, settings, ("+prior",))
    assert results == rows and list(results) == ["real_only", "+prior"]  # the recipe's order
    with pytest.raises(ValueError, match="other settings"):
        _finished_runs(path, {**settings, "budget_steps": 320}, ("+prior",))
