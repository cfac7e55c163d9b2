"""``report.md`` of an evaluation: the headline numbers, per-group and per-joint tables, the pictures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _notes(metrics: Mapping[str, Any]) -> list[str]:
    """Bullet points above the table: what was scored and what to watch for."""
    how = (
        f"predictions from `{metrics['predictions']}`" if metrics.get("predictions")
        else f"flip test: {'on' if metrics.get('flip_test') else 'off'}"
    )
    lines = [
        f"- instances: {metrics['num_instances']} (keypoints scored: {metrics['num_keypoints']}), {how}",
        f"- keypoints used ({len(metrics['keypoints_used'])}): {', '.join(metrics['keypoints_used'])}",
    ]
    if metrics.get("nonfinite_predictions"):
        lines.append(
            f"- **{metrics['nonfinite_predictions']} predictions hold non-finite values** (NaN/inf, e.g. a diverged "
            "model): they count as misses for PCK and are left out of COCO AP"
        )
    check = metrics.get("area_check")
    if check and check["far_from_box"]:
        low, high = check["limits"]
        lines.append(
            f"- **{check['far_from_box']} of {check['annotations']} annotations have an `area` outside "
            f"{low:g}-{high:g} times their box's width × height** (median ratio {check['median_ratio']:.3g}): "
            "COCO AP depends on it, so it is given with the published areas and with box areas"
        )
    if metrics.get("group_by") and not metrics.get("groups"):
        lines.append(f"- no image has the field `{metrics['group_by']}`: no per-group metrics")
    return lines


def _headline(metrics: Mapping[str, Any]) -> list[str]:
    lines = [
        "| metric | value |",
        "|---|---|",
        f"| PCK@0.05 (longer box side) | {metrics['pck@0.05']:.4f} |",
        f"| PCK AUC (0.01-0.2) | {metrics['pck_auc']:.4f} |",
        f"| EPE (px) | {metrics['epe']:.2f} |",
        f"| G-Error, median form (robust) | {_num(metrics.get('g_error_median'), '.5f')} |",
        f"| G-Error, mean form | {_num(metrics['g_error'], '.5f')} |",
        f"| COCO AP (published areas) | {_num(metrics['coco_ap'], '.4f')} |",
        f"| COCO AP (box areas) | {_num(metrics.get('coco_ap_box_area'), '.4f')} |",
    ]
    if metrics.get("prior_plausibility") is not None:
        lines.append(f"| prior plausibility (lower = more plausible) | {metrics['prior_plausibility']:.4f} |")
    for key, name in (("coco", "published areas"), ("coco_box_area", "box areas")):
        if metrics.get(key):
            lines += ["", f"COCO keypoints, {name} (pycocotools): "
                      + ", ".join(f"{k} {v:.3f}" for k, v in metrics[key].items())]
    return lines


def _groups(metrics: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for field, groups in (metrics.get("groups") or {}).items():
        lines += [
            "",
            f"## Per `{field}`",
            "",
            "| group | instances | PCK@0.05 | AUC | EPE (px) | G-Error (median) | G-Error (mean) | AP "
            "| AP (box areas) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, g in groups.items():
            lines.append(
                f"| {name} | {g['num_instances']} | {g['pck@0.05']:.4f} | {g['pck_auc']:.4f} | {g['epe']:.2f} | "
                f"{_num(g['g_error_median'], '.5f')} | {_num(g['g_error'], '.5f')} | "
                f"{_num(g.get('coco_ap'), '.4f')} | {_num(g.get('coco_ap_box_area'), '.4f')} |"
            )
    return lines


def render_report(metrics: Mapping[str, Any], title: str) -> str:
    """Markdown with the headline numbers, the per-group and per-joint tables and the pictures."""
    lines = [f"# {title}", "", *_notes(metrics), "", *_headline(metrics), *_groups(metrics)]
    lines += ["", "## PCK@0.05 per joint", "", "| joint | PCK |", "|---|---|"]
    lines += [f"| {name} | {'n/a' if v < 0 else f'{v:.3f}'} |" for name, v in metrics["pck_per_joint"].items()]
    if metrics.get("g_error_per_group") and len(metrics["g_error_per_group"]) > 1:
        lines += ["", "## G-Error per sequence", "", "| group | G-Error |", "|---|---|"]
        lines += [f"| {g} | {v:.5f} |" for g, v in metrics["g_error_per_group"].items()]
    lines += [
        "",
        "G-Error: bone-length consistency over the set (lower is more consistent). The mean form averages squared "
        "deviations, so one wild prediction can dominate it; the median form (median and MAD per bone) cannot "
        "(docs/geometry-and-metrics.md).",
        "",
        "## PCK vs threshold",
        "",
        "![PCK curve](pck_curve.png)",
        "",
        "## Predictions, best and worst by per-instance PCK@0.05",
        "",
        "Each pair, cut from the photograph around the box: the predicted skeleton (all 17 joints; hollow circles "
        "and thin limbs where the score is at most 0.3) | the ground truth (visible joints).",
        "",
        "![best](predictions_best.png)",
        "",
        "![worst](predictions_worst.png)",
        "",
    ]
    return "\n".join(lines)
