"""The visual report: one static HTML page, ``report/index.html``, with relative links only.

Per sequence: a strip of pictures (the original and each codec at its rate point closest to a
common target rate, the median kbps of the test codecs' rate points of that sequence), a plot of
the quality per picture (PSNR-Y and, when measured, MS-SSIM and SSIM; one line per codec at its chosen
rate point, key pictures marked) and a link to the sequence's RD panel; then the RD plots of the
report. The page has no script, no server and no absolute path: the ``report/`` folder can be
copied or archived as it is. Its bytes depend only on the results (no time, host or path).

The data come as :class:`SequenceView` objects: gfvc.ctc.visual makes them from a run's cell
records; :func:`table_views` from a result table alone (gfvc-bdrate), which has no pictures
or per-picture values (the page says "not recorded").
"""
from __future__ import annotations

import html
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.sequence import atomic_write_bytes

INDEX = "index.html"
PICTURES = "pictures"
#: metric -> (label on the page, unit)
SERIES_LABELS = {"psnr_y": ("PSNR-Y", "dB"), "ms_ssim": ("MS-SSIM", ""), "ssim": ("SSIM", "")}
_OURS = re.compile(r"^s\d{3}_(orig|c\d{3})_p\d{6}\.png$|^s\d{3}_per_picture\.png$")


@dataclass
class CodecView:
    codec: str
    role: str  # "anchor", "test" or "" (neither)
    rate_point: Any
    kbps: float
    series: dict[str, list[float]] = field(default_factory=dict)  # metric -> value per picture
    key_pictures: list[int] | None = None  # None: the codec does not say
    pictures: dict[int, bytes] = field(default_factory=dict)  # picture index -> PNG
    note: str = ""  # why pictures are missing
    rate_points: int = 1  # how many rate points the codec has for this sequence


@dataclass
class SequenceView:
    name: str
    frames: int | None
    target_kbps: float | None
    picture_indices: list[int]
    original: dict[int, bytes]
    codecs: list[CodecView]
    note: str = ""


def choose_rate_points(points: dict[str, list[tuple[Any, float]]], tests: list[str]):
    """(target kbps, {codec: rate point}): the target is the median kbps of the test codecs'
    points (of every codec's when no test codec has any); each codec gets its point closest
    to it (the first in the given order on a tie)."""
    import statistics

    rates = [k for c in tests for _, k in points.get(c, [])] or [k for pts in points.values() for _, k in pts]
    if not rates:
        return None, {}
    target = float(statistics.median(rates))
    chosen = {}
    for codec, pts in points.items():
        if pts:
            chosen[codec] = min(pts, key=lambda p: abs(p[1] - target))[0]
    return target, chosen


def table_views(table, anchors: list[str], tests: list[str]) -> list[SequenceView]:
    """Views of a result table (no cell records): chosen rate points only."""
    views = []
    order = list(anchors) + [c for c in tests if c not in anchors]
    for seq in table.sequences:
        points = {c: [(p.rate_point, float(p.kbps)) for p in table.select(c, seq)] for c in order}
        target, chosen = choose_rate_points(points, tests)
        codecs = [CodecView(codec=c, role="anchor" if c in anchors else "test", rate_point=chosen[c],
                            kbps=next(k for r, k in points[c] if r == chosen[c]), rate_points=len(points[c]),
                            note="not recorded") for c in order if c in chosen]
        views.append(SequenceView(name=seq, frames=None, target_kbps=target, picture_indices=[], original={},
                                  codecs=codecs, note="pictures and per-picture values not recorded "
                                                      "(a result store holds sequence means only)"))
    return views


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


def per_picture_plot_png(view: SequenceView) -> bytes | None:
    """Quality per picture, one panel per metric of SERIES_LABELS that some codec has; None
    when no codec has any."""
    metrics = [m for m in SERIES_LABELS if any(m in c.series for c in view.codecs)]
    if not metrics:
        return None
    from .plots import _png, _pyplot

    plt = _pyplot()
    ncol = min(3, max(1, len(view.codecs)))
    top_in = 0.45 + 0.22 * -(-len(view.codecs) // ncol)  # title and legend rows
    panel_in, bottom_in = 2.2, 0.55
    height = top_in + panel_in * len(metrics) + bottom_in
    fig, axes = plt.subplots(len(metrics), 1, figsize=(9.6, height), squeeze=False)
    try:
        for ax, m in zip(axes[:, 0], metrics):
            label, unit = SERIES_LABELS[m]
            for c in view.codecs:
                values = c.series.get(m)
                if values is None:
                    ax.plot([], [], label=f"{c.codec}: not recorded")
                    continue
                keys = [k for k in (c.key_pictures or []) if k < len(values)]
                ax.plot(range(len(values)), values, linewidth=1.2, marker="D", markersize=5, markevery=keys,
                        label=f"{c.codec} (rate point {c.rate_point}, {c.kbps:.2f} kbps)")
            for i in view.picture_indices:
                ax.axvline(i, color="0.6", linestyle=":", linewidth=0.8)
            ax.set_ylabel(f"{label} ({unit})" if unit else label)
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelsize=8)
        axes[-1, 0].set_xlabel("picture (diamond: key picture; dotted: pictures shown above)")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=8, loc="upper center", ncol=ncol, frameon=False,
                   bbox_to_anchor=(0.5, 1 - 0.32 / height))
        fig.suptitle(f"{view.name}: quality per picture at the chosen rate points", fontsize=10,
                     y=1 - 0.08 / height)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=bottom_in / height, top=1 - top_in / height,
                            hspace=0.12 / panel_in * 3)
        return _png(fig)
    finally:
        plt.close(fig)


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.2em 2em;color:#222;max-width:1400px}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
h3{font-size:1em;margin:1em 0 .3em}p{margin:.3em 0}nav a{margin-right:.8em}
.strip{overflow-x:auto}table.strip{border-collapse:collapse}
table.strip th,table.strip td{padding:4px 6px;vertical-align:top;text-align:left}
table.strip th.row{font-weight:600;white-space:nowrap;font-size:.9em}
table.strip td{border-left:1px solid #eee}
figure{margin:0}figcaption{font-size:.78em;color:#444;margin-top:2px}
img.pic{image-rendering:pixelated;display:block}
.missing{color:#a33;font-size:.85em}.role{color:#666;font-weight:400;font-size:.85em}
.note{color:#555;font-size:.9em}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _img(src: str, data: bytes, alt: str, scale_to: int = 160) -> str:
    w, h = png_size(data)
    s = max(1, scale_to // max(w, h, 1))
    return f'<img class="pic" src="{_e(src)}" width="{w * s}" height="{h * s}" alt="{_e(alt)}">'


def _value(c: CodecView, metric: str, i: int) -> str:
    values = c.series.get(metric)
    if values is None or i >= len(values):
        return ""
    label, unit = SERIES_LABELS[metric]
    if metric == "psnr_y":
        return f"{label} {values[i]:.2f} {unit}"
    return f"{label} {values[i]:.4f}"


def _strip(k: int, view: SequenceView, files: dict[str, bytes]) -> list[str]:
    """A table: one row per picture index, one column for the original and one per codec."""
    head = ["<tr><th></th><th>original</th>"]
    for c in view.codecs:
        role = f'<br><span class="role">{_e(c.role)}</span>' if c.role else ""
        head.append(f"<th>{_e(c.codec)}{role}</th>")
    out = ['<div class="strip"><table class="strip">', "".join(head) + "</tr>"]
    for i in view.picture_indices:
        row = [f'<tr><th class="row">picture {i}</th>']
        data = view.original.get(i)
        if data is None:
            row.append('<td class="missing">not readable</td>')
        else:
            name = f"{PICTURES}/s{k:03d}_orig_p{i:06d}.png"
            files[name] = data
            row.append(f"<td><figure>{_img(name, data, f'{view.name} original picture {i}')}"
                       f"<figcaption>original, picture {i}</figcaption></figure></td>")
        for j, c in enumerate(view.codecs):
            data = c.pictures.get(i)
            key = " · key picture" if c.key_pictures is not None and i in c.key_pictures else ""
            caption = f"{_e(c.codec)}: rate point {_e(c.rate_point)} · {c.kbps:.2f} kbps"
            extra = " · ".join(v for v in (_value(c, m, i) for m in SERIES_LABELS) if v)
            if data is None:
                row.append(f'<td><span class="missing">{_e(c.note or "not recorded")}</span>'
                           f"<figcaption>{caption}<br>{_e(extra)}</figcaption></td>")
                continue
            name = f"{PICTURES}/s{k:03d}_c{j:03d}_p{i:06d}.png"
            files[name] = data
            row.append(f"<td><figure>{_img(name, data, f'{view.name} {c.codec} picture {i}')}"
                       f"<figcaption>{caption}{key}<br>{_e(extra)}</figcaption></figure></td>")
        out.append("".join(row) + "</tr>")
    out.append("</table></div>")
    return out


def _chosen_list(view: SequenceView) -> str:
    items = "".join(f"<li>{_e(c.codec)}{f' ({_e(c.role)})' if c.role else ''}: rate point {_e(c.rate_point)}, "
                    f"{c.kbps:.2f} kbps</li>" for c in view.codecs)
    return f"<ul>{items}</ul>"


def page_bytes(title: str, views: list[SequenceView], rd_metrics: list[str], notes: list[str],
               files: dict[str, bytes]) -> bytes:
    """The HTML page; the pictures and plots it links are added to ``files`` (name -> bytes)."""
    body = [f"<h1>{_e(title)}</h1>",
            '<p class="note">Per sequence: the original and every codec at its rate point closest to a common '
            "target rate (the median kbps of the test codecs' rate points of that sequence), the quality per "
            "picture at those rate points (key pictures marked), and the RD curves.</p>"]
    body += [f'<p class="note">{_e(n)}</p>' for n in notes]
    links = "".join(f'<a href="#seq-{k}">{_e(v.name)}</a>' for k, v in enumerate(views))
    body.append(f"<nav>Sequences: {links or 'none'} · <a href=\"#rd\">RD curves</a></nav>")
    for k, view in enumerate(views):
        body.append(f'<section id="seq-{k}"><h2>{_e(view.name)}</h2>')
        facts = [f"{view.frames} pictures" if view.frames is not None else "",
                 f"target rate {view.target_kbps:.2f} kbps" if view.target_kbps is not None else "no rate points"]
        body.append(f"<p>{_e(', '.join(f for f in facts if f))}</p>")
        if view.note:
            body.append(f'<p class="missing">{_e(view.note)}</p>')
        if view.picture_indices and (view.original or any(c.pictures for c in view.codecs)
                                     or any(c.note for c in view.codecs)):
            body += _strip(k, view, files)
        else:
            body.append(_chosen_list(view))
        body.append("<h3>Quality per picture</h3>")
        plot = per_picture_plot_png(view)
        if plot is None:
            body.append('<p class="missing">per-picture values not recorded</p>')
        else:
            name = f"{PICTURES}/s{k:03d}_per_picture.png"
            files[name] = plot
            body.append(f'<img src="{name}" alt="{_e(view.name)} quality per picture">')
        if rd_metrics:
            rd = " · ".join(f'<a href="rd_{_e(m)}_per_sequence.png">{_e(m)}</a>' for m in rd_metrics)
            body.append(f"<p>RD curves of every sequence (one panel each): {rd}</p>")
        body.append("</section>")
    body.append('<section id="rd"><h2>RD curves, average over sequences</h2>')
    if not rd_metrics:
        body.append('<p class="missing">no RD plots in this report (no BD-rate anchors in this run)</p>')
    for m in rd_metrics:
        body.append(f'<figure><img src="rd_{_e(m)}.png" alt="RD {_e(m)}"><figcaption>{_e(m)}: average; '
                    f'<a href="rd_{_e(m)}_per_sequence.png">per sequence</a></figcaption></figure>')
    body.append("</section>")
    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
    return doc.encode("utf-8")


def write_html_report(out_dir, title: str, views: list[SequenceView], rd_metrics: list[str],
                      notes: list[str] = ()) -> dict[str, Path]:
    """Write ``index.html`` and ``pictures/`` into out_dir (pictures of an earlier report that
    this one does not show are removed) -> {"html": path}."""
    out = Path(out_dir)
    files: dict[str, bytes] = {}
    page = page_bytes(title, views, list(rd_metrics), list(notes), files)
    for name, data in sorted(files.items()):
        atomic_write_bytes(out / name, data)
    pictures = out / PICTURES
    if pictures.is_dir():
        for p in pictures.iterdir():
            if _OURS.match(p.name) and f"{PICTURES}/{p.name}" not in files and p.is_file():
                p.unlink()
    atomic_write_bytes(out / INDEX, page)
    return {"html": out / INDEX}
