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


def test_curriculum_variants_share_one_stage_1_per_seed(tmp_path, monkeypatch):
    """(c), (d) and (e) train stage 1 once per seed (their stage-1 configs are the same); a stage 1 with a term
    switched on, or another seed, trains its own."""
    from hyper_sapiens import ablation

    trained: list[tuple[str, float, float]] = []

    def fake_train(cfg, progress):
        trained.append((str(cfg.run.dir), float(cfg.loss.geo.weight), float(cfg.loss.sds.weight)))
        final = tmp_path / cfg.run.dir / "final.safetensors"
        final.parent.mkdir(parents=True, exist_ok=True)
        final.write_bytes(b"weights")
        return final

    monkeypatch.setattr(ablation, "_train", fake_train)
    runs = tmp_path / "runs"

    def variant(name, seed=0, overrides=()):
        return ablation.run_variant(name, tmp_path / "data", runs, tmp_path / "prior.safetensors", seed, 100, "cpu",
                                    False, overrides)

    for name in ("curriculum", "+geometry", "+prior"):
        assert variant(name) == runs / f"{name}_seed0" / "stage3" / "final.safetensors"
    stage1 = [t for t in trained if "stage1_" in t[0]]
    assert len(stage1) == 1 and stage1[0][1:] == (0.0, 0.0)
    assert [t[0] for t in trained if t not in stage1] == [
        str(runs / f"{name}_seed0" / f"stage{s}") for name in ("curriculum", "+geometry", "+prior") for s in (2, 3)]
    variant("curriculum", seed=1)
    variant("+geometry", overrides=("stage1:loss.geo.weight=0.1",))
    variant("curriculum", overrides=("stage1:loss.geo.weight=0.1",))  # switched off again: the shared one
    stage1 = [t for t in trained if "stage1_" in t[0]]
    assert len(stage1) == 3 and len({t[0] for t in stage1}) == 3 and stage1[2][1] == 0.1


def test_merge_gathers_seeds_run_in_separate_folders(tmp_path, monkeypatch):
    """``--merge``: one folder per seed (separate processes), tabled together without training anything again; a
    folder of other settings is refused, and a (variant, seed) already present keeps its row."""
    from hyper_sapiens import ablation, prior, synth

    def refuse(*args, **kwargs):
        raise AssertionError("nothing is left to train: no data, prior or run may be made")

    monkeypatch.setattr(ablation, "run_variant", refuse)
    monkeypatch.setattr(prior.train, "train_prior", refuse)
    monkeypatch.setattr(synth, "generate_dataset", refuse)
    settings = {"recipe": "demo", "budget_steps": 750, "overrides": [], "from_scratch": False, "score_on": "test_real"}

    def folder(name, seed, pck, **other):
        path = tmp_path / name
        path.mkdir()
        runs = {"pretrained": [{"seed": seed, "pck@0.05": 0.1, "g_error": 1.0, "prior_plausibility": 2.0}],
                "curriculum": [{"seed": seed, "pck@0.05": pck, "g_error": 1.0, "prior_plausibility": 2.0}]}
        (path / "ablation.json").write_text(json.dumps({**settings, **other, "seeds": [seed], "runs": runs}))
        return path

    parts = (folder("s1", 1, 0.30), folder("s0", 0, 0.20), folder("s0_again", 0, 0.99))
    result = ablation.run_ablation(tmp_path / "all", [0, 1], 750, progress=False, data=tmp_path / "data",
                                   variants=("pretrained", "curriculum"), merge=parts)
    assert [r["seed"] for r in result["runs"]["curriculum"]] == [0, 1]
    assert [r["pck@0.05"] for r in result["runs"]["curriculum"]] == [0.20, 0.30]  # s0's row, not s0_again's
    assert result["table"]["curriculum"]["pck@0.05"] == pytest.approx(0.25)
    written = json.loads((tmp_path / "all" / "ablation.json").read_text())
    assert written["runs"]["curriculum"] == result["runs"]["curriculum"]
    assert "curriculum" in (tmp_path / "all" / "ablation.md").read_text()
    other = folder("other", 2, 0.5, budget_steps=120)
    with pytest.raises(ValueError, match="other settings"):
        ablation.run_ablation(tmp_path / "all2", [2], 750, progress=False, data=tmp_path / "data",
                              variants=("pretrained", "curriculum"), merge=(other,))
    with pytest.raises(FileNotFoundError, match="no ablation.json"):
        ablation.run_ablation(tmp_path / "all3", [0], 750, progress=False, data=tmp_path / "data",
                              merge=(tmp_path / "missing",))
