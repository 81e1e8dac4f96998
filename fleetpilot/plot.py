"""Top-down picture of a run: map, route, driven path and events (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

EVENT_STYLE = {
    "collision": ("x", "red"),
    "red_light_violation": ("s", "orange"),
    "goal_reached": ("*", "green"),
}


def _as_xy(item) -> np.ndarray | None:
    arr = np.asarray(item, dtype=float)
    if arr.ndim == 2 and arr.shape[1] >= 2 and len(arr) >= 2:
        return arr[:, :2]
    return None


def plot_run(
    path: Path,
    *,
    map_geometry: dict,
    route: np.ndarray,
    trajectory: np.ndarray,
    result: dict,
) -> Path:
    """map_geometry: name → list of polylines/polygons ((N, 2) arrays); trajectory: (N, 3) t, x, y."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 8), dpi=100)
    palette = plt.get_cmap("tab10")
    for i, (name, items) in enumerate(sorted(map_geometry.items())):
        first = True
        for item in items if isinstance(items, list) else []:
            xy = _as_xy(item.get("points") if isinstance(item, dict) else item)
            if xy is None:
                continue
            ax.plot(xy[:, 0], xy[:, 1], lw=0.8, color=palette(i % 10), label=name if first else None)
            first = False
    route = np.asarray(route, dtype=float)
    ax.plot(route[:, 0], route[:, 1], "--", color="0.4", lw=1.2, label="route")
    trajectory = np.asarray(trajectory, dtype=float)
    if len(trajectory):
        ax.plot(trajectory[:, 1], trajectory[:, 2], color="tab:blue", lw=2.0, label="driven")
    for event in result.get("events", []):
        marker, color = EVENT_STYLE.get(event.get("kind", ""), ("o", "black"))
        ax.plot(event["x"], event["y"], marker, color=color, ms=10)
        ax.annotate(f"{event['kind']} {event['t']:.1f}s", (event["x"], event["y"]), fontsize=7)
    verdict = "success" if result.get("success") else "failed"
    ax.set_title(
        f"{result.get('scenario')} seed {result.get('seed')}: {verdict} · "
        f"collisions {result.get('collisions')} · route {result.get('route_completion', 0):.2f}"
    )
    ax.set_aspect("equal")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.legend(loc="best", fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
