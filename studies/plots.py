"""Server-side figures of a study dashboard (matplotlib, Agg): PNG bytes, each figure titled with its n.

Takes the dashboard dict (studies.dashboard.study_dashboard), never the database.
"""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display on a server; set before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PALETTE = ["#1f5fa8", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"]


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def agreement_plot(dashboard: dict) -> bytes | None:
    """Pairwise Cohen's kappa (all discs) per finding and arm, with 95% CIs."""
    rows = [r for r in dashboard["tables"]["inter_reader"]["rows"]
            if r["scope"] == "disc" and r["level"] == "all" and r["statistic"].startswith("cohen")
            and r["value"] is not None]
    if not rows:
        return None
    labels = [f"{r['rater_a']} vs {r['rater_b']} ({r['arm']})" for r in rows]
    pairs = list(dict.fromkeys(labels))
    findings = list(dict.fromkeys(r["finding"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(findings) + 2), 4))
    width = 0.8 / max(len(pairs), 1)
    for p, pair in enumerate(pairs):
        xs, ys, lo, hi = [], [], [], []
        for f, finding in enumerate(findings):
            row = next((r for r, label in zip(rows, labels) if label == pair and r["finding"] == finding), None)
            if row is None:
                continue
            xs.append(f + (p - (len(pairs) - 1) / 2) * width)
            ys.append(row["value"])
            lo.append(row["value"] - (row["ci_low"] if row["ci_low"] is not None else row["value"]))
            hi.append((row["ci_high"] if row["ci_high"] is not None else row["value"]) - row["value"])
        ax.bar(xs, ys, width=width, color=PALETTE[p % len(PALETTE)], label=pair, yerr=[lo, hi], capsize=2)
    n = max(r["n"] for r in rows)
    ax.set_xticks(range(len(findings)), findings)
    ax.set_ylim(min(0.0, min(r["value"] for r in rows) - 0.1), 1.05)
    ax.set_ylabel("Cohen's kappa (quadratic-weighted for grades)")
    ax.set_title(f"Inter-reader agreement, all discs (n = {n} discs per pair)")
    ax.axhline(0.8, color="#999", lw=0.8, ls="--")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    return _png(fig)


def _panel_grid(n_panels: int, *, max_cols: int, inches: float):
    """A figure of square panels, at most max_cols a row; its axes as a 2-D array."""
    cols = min(max_cols, n_panels)
    rows_n = int(np.ceil(n_panels / cols))
    return plt.subplots(rows_n, cols, figsize=(inches * cols, inches * rows_n), squeeze=False)


def roc_plot(dashboard: dict) -> bytes | None:
    """ROC per finding (all discs): the model's curve, each reader's operating point."""
    panels = [p for p in dashboard["figures"]["roc"] if p["points"]]
    if not panels:
        return None
    fig, axes = _panel_grid(len(panels), max_cols=3, inches=4)
    for ax, panel in zip(axes.flat, panels):
        for c, curve in enumerate(panel["curves"]):
            ax.plot(curve["fpr"], curve["tpr"], color=PALETTE[c % len(PALETTE)],
                    label=f"{curve['rater']} AUC {curve['auc']:.2f} (n+ {curve['n_positive']}, "
                          f"n- {curve['n_negative']})")
        markers = {"unaided": "o", "aided": "s", "model": "^"}
        for p, point in enumerate(panel["points"]):
            if point["fpr"] is None or point["tpr"] is None:
                continue
            ax.scatter([point["fpr"]], [point["tpr"]], marker=markers.get(point["arm"], "o"),
                       color=PALETTE[(p + 1) % len(PALETTE)], s=28,
                       label=f"{point['rater']} ({point['arm']})")
        n = max(point["n"] for point in panel["points"])
        ax.plot([0, 1], [0, 1], color="#bbb", lw=0.8, ls=":")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("sensitivity")
        ax.set_title(f"{panel['label']} (n = {n} discs)", fontsize=10)
        ax.legend(fontsize=6, loc="lower right")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def froc_plot(dashboard: dict) -> bytes | None:
    curve = dashboard["figures"].get("froc")
    if not curve or not curve["fp_per_image"]:
        return None
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.step([0.0] + curve["fp_per_image"], [0.0] + [s or 0.0 for s in curve["sensitivity"]], where="post",
            color=PALETTE[0], label=f"{curve['rater']} (CPM {curve['cpm']:.2f})" if curve["cpm"] is not None
            else curve["rater"])
    ax.set_xscale("symlog", linthresh=0.125)
    ax.set_xlabel("false positives per image")
    ax.set_ylabel("lesion sensitivity")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"fROC, IoU {curve['iou_threshold']:.2f} (n = {curve['n_images']} images, {curve['n_truth']} boxes)")
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def confusion_plot(dashboard: dict, finding: str) -> bytes | None:
    panels = [f for f in dashboard["figures"]["confusion"] if f["finding"] == finding]
    if not panels:
        return None
    fig, axes = _panel_grid(len(panels), max_cols=4, inches=3.2)
    for ax, panel in zip(axes.flat, panels):
        matrix = np.asarray(panel["matrix"])
        ax.imshow(matrix, cmap="Blues")
        k = len(panel["labels"])
        ax.set_xticks(range(k), panel["labels"], rotation=45, fontsize=7, ha="right")
        ax.set_yticks(range(k), panel["labels"], fontsize=7)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")
        ax.set_xlabel("reader / model", fontsize=8)
        ax.set_ylabel("ground truth", fontsize=8)
        ax.set_title(f"{panel['rater']} ({panel['arm']}), n = {panel['n']}", fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"Confusion matrices: {finding}", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def dashboard_figures(dashboard: dict, *, confusion: bool = False) -> dict[str, bytes]:
    """The page's figures (agreement, ROC, fROC); with ``confusion`` also one confusion grid per finding."""
    figures = {"agreement": agreement_plot(dashboard), "roc": roc_plot(dashboard), "froc": froc_plot(dashboard)}
    if confusion:
        for finding in dashboard["findings"]:
            figures[f"confusion_{finding}"] = confusion_plot(dashboard, finding)
    return {name: png for name, png in figures.items() if png is not None}
