"""The heat map as a picture: H3 cells shaded by case count over the district outlines (PNG).

Drawn offline with matplotlib's Agg backend, in the city's own lat/lon frame
(longitude scaled by cos(latitude) so shapes are not stretched): no map tiles.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import h3

from config.models import District

__all__ = ["render_heatmap"]


def render_heatmap(
    districts: Sequence[District],
    cells: Mapping[str, int],
    *,
    title: str,
    hot_spots: Sequence[Mapping[str, object]] = (),
    width_px: int = 1100,
) -> bytes:
    """PNG bytes of ``cells`` (H3 cell -> cases) drawn over ``districts``; the top hot spots are numbered."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import LogNorm

    fig, ax = plt.subplots(figsize=(width_px / 100, width_px / 100 * 0.8), dpi=100)
    try:
        lats = [lat for d in districts for lat, _ in d.polygon] or [d.center.lat for d in districts] or [0.0]
        ax.set_aspect(1.0 / max(0.1, math.cos(math.radians(sum(lats) / len(lats)))))
        for district in districts:
            if district.polygon:
                xs = [lon for _, lon in district.polygon] + [district.polygon[0][1]]
                ys = [lat for lat, _ in district.polygon] + [district.polygon[0][0]]
                ax.plot(xs, ys, color="#5a6270", linewidth=0.8)
            ax.annotate(district.name, (district.center.lon, district.center.lat), fontsize=7,
                        color="#3a4150", ha="center")
        if cells:
            shapes = [[(lon, lat) for lat, lon in h3.cell_to_boundary(cell)] for cell in cells]
            counts = list(cells.values())
            hexes = PolyCollection(shapes, array=counts, cmap="YlOrRd", edgecolors="none", alpha=0.85,
                                   norm=LogNorm(vmin=1, vmax=max(2, max(counts))))
            ax.add_collection(hexes)
            fig.colorbar(hexes, ax=ax, shrink=0.7, label="cases per cell")
            ax.autoscale_view()
        for rank, spot in enumerate(hot_spots[:10], start=1):
            ax.annotate(str(rank), (float(str(spot["lon"])), float(str(spot["lat"]))), fontsize=8,
                        fontweight="bold", color="#1d3a8a", ha="center", va="center")
        ax.set_title(title)
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(fig)
