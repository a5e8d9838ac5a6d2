"""Loss curves of a gfvc-train run: ``python -m gfvc.train.plot OUT/losses.csv [OUT/losses.png]``.

One panel per logged term (iteration on the x axis), written as a PNG with matplotlib (Agg)."""
from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from ..errors import FileProblem, GfvcError
from ..files import atomic_write_bytes, read_input_text


def plot_losses(log_path, image_path) -> Path:
    try:
        rows = list(csv.DictReader(io.StringIO(read_input_text(log_path, "loss log", 1 << 30))))
    except FileProblem as exc:
        raise GfvcError(f"cannot read {exc}") from None
    if not rows or "iteration" not in rows[0]:
        raise GfvcError(f"{log_path} holds no gfvc-train loss rows")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in rows[0] if n not in ("iteration", "epoch")]
    x = [int(r["iteration"]) for r in rows]
    cols = 3
    fig, axes = plt.subplots(-(-len(names) // cols), cols, figsize=(4 * cols, 2.6 * -(-len(names) // cols)),
                             squeeze=False)
    for ax, name in zip(axes.flat, names):
        ax.plot(x, [float(r[name]) for r in rows], linewidth=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    image_path = Path(image_path)
    atomic_write_bytes(image_path, buffer.getvalue(), inputs=[log_path], what="loss plot")
    return image_path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2):
        print("usage: python -m gfvc.train.plot LOSSES.csv [OUT.png]", file=sys.stderr)
        return 2
    out = argv[1] if len(argv) == 2 else str(Path(argv[0]).with_suffix(".png"))
    try:
        print(plot_losses(argv[0], out))
    except GfvcError as exc:
        print(f"gfvc-train plot: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
