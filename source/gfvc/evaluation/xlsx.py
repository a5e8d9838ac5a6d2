"""The XLSX workbook of a report (openpyxl), laid out like the JVET CTC reporting templates.

Sheets, in this order:
- ``Summary``: a ``Notes`` block (metrics not computed in this run and why; every distinct reason
  for an N/A cell, once), then the BD-rate (%) of each test codec against each anchor: one table
  per anchor/test pair, one column per metric, the sequences grouped by class (a class heading
  row, the sequences, the class ``Average``) and the overall ``Average`` (class ``All``). Numbers
  are numeric cells holding the values of ``bdrate.csv``.
- ``BD-quality``: the same tables for BD-quality (the values of ``bdquality.csv``).
- one sheet per codec, anchors first, then tests (the sheet is named after the codec; row 1
  holds the full name): one row per sequence, grouped by class under a class heading row, and
  one block of columns per rate point, highest rate first as in the template: the kbps and
  every reported metric. These are the columns contributors paste into the official template.

An N/A cell holds the text ``N/A``; its reason is a cell comment on the first N/A of that reason
in each column block (one metric column of a summary table, one rate-point block of a codec
sheet) and is listed once in the Notes. A metric with no value at all for the reported codecs
(not computed in this run, e.g. a deep metric without backbone weights) gets no column anywhere:
the Notes say ``Not computed: ... because ...`` once.

Text cells are always written as text (a name that starts with ``=`` is not a formula), and the
document and zip-entry timestamps are fixed: the same report gives the same bytes.
"""
from __future__ import annotations

import datetime
import io
import re
import zipfile
from dataclasses import dataclass

from .results import KBPS_FORMAT, METRIC_FORMAT, ResultTable, rd_order
from .tables import AVERAGE, KINDS, Block, class_order

# Fixed document timestamps: the same report gives the same workbook content.
FIXED_TIME = datetime.datetime(2000, 1, 1)
SUMMARY_SHEET = "Summary"
QUALITY_SHEET = "BD-quality"
NA = "N/A"
#: Excel's limits: sheet titles, characters in a cell
MAX_TITLE_CHARS = 31
MAX_CELL_CHARS = 32767
_BAD_TITLE_CHARS = re.compile(r"[\\*?:/\[\]]")
_NUMBER_FORMAT = {"rate": "0.00", "quality": "0.0000", "kbps": "0.000", "metric": "0.0000"}
# The precision results.csv stores: the codec sheets hold the numbers of results.csv.
_KBPS_DECIMALS = int(re.search(r"\d+", KBPS_FORMAT).group())
_METRIC_DECIMALS = int(re.search(r"\d+", METRIC_FORMAT).group())


@dataclass(frozen=True)
class Text:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Num:
    value: float
    fmt: str


@dataclass(frozen=True)
class Missing:
    """An N/A cell: ``reason`` goes into a comment (first time per ``block``) and the Notes."""

    reason: str
    block: tuple


@dataclass
class SheetModel:
    """A sheet before it is written: rows of cells (None, Text, Num or Missing)."""

    title: str
    rows: list[list]
    widths: dict[int, float]
    freeze: str | None = None


def unavailable_metrics(table: ResultTable, codecs: list[str], metrics: list[str],
                        reasons: dict[str, str] | None = None) -> dict[str, str]:
    """{metric: why} for each metric that has no value in any RD point of ``codecs``; the reason
    is the run's (``reasons``, from provenance ``unavailable_metrics``) when it gives one."""
    reasons = reasons or {}
    rows = [r for r in table.rows if r.codec in codecs]
    return {m: str(reasons.get(m) or "the result table has no value for it") for m in metrics
            if all(r.metrics.get(m) is None for r in rows)}


def sheet_titles(codecs: list[str], reserved=(SUMMARY_SHEET, QUALITY_SHEET)) -> dict[str, str]:
    """{codec: sheet title}: Excel's rules (at most 31 characters, none of \\ * ? : / [ ], no
    leading or trailing apostrophe, unique ignoring case); a clash gets ``~2``, ``~3``..."""
    used = {t.lower() for t in reserved} | {"history"}  # Excel reserves "History"
    titles = {}
    for codec in codecs:
        base = _BAD_TITLE_CHARS.sub("_", codec).strip("'") or "codec"
        title, n = base[:MAX_TITLE_CHARS], 1
        while title.lower() in used:
            n += 1
            suffix = f"~{n}"
            title = base[:MAX_TITLE_CHARS - len(suffix)] + suffix
        used.add(title.lower())
        titles[codec] = title
    return titles


def _bd_sheet(title: str, heading: str, blocks: list[Block], metrics: list[str]) -> SheetModel:
    rows: list[list] = [[Text(heading, bold=True)], []]
    for bi, b in enumerate(blocks):
        name, unit, _ = KINDS[b.kind]
        rows.append([Text(f"{name}{' (%)' if unit else ''}: anchor {b.anchor}, test {b.test}", bold=True)])
        rows.append([Text("Class", True), Text("Sequence", True)] + [Text(m, True) for m in metrics])
        # A class heading row, the class's sequences and its average; the overall average (the
        # block's last row, class All) last.
        *by_class, overall = b.rows
        groups: dict[str, list] = {}
        for r in by_class:
            groups.setdefault(r.dataset_class, []).append(r)
        for cls, members in groups.items():
            rows.append([Text(cls, bold=True)])
            rows += [_bd_row(r, b, metrics, (title, bi)) for r in members]
        rows.append(_bd_row(overall, b, metrics, (title, bi)))
        rows.append([])
    return SheetModel(title, rows, {1: 12, 2: 24}, None)


def _bd_row(r, b: Block, metrics: list[str], table_id: tuple) -> list:
    average = r.sequence == AVERAGE
    cells = []
    for m in metrics:
        result = r.cells[m]
        cells.append(Num(round(result.value, KINDS[b.kind][2]), _NUMBER_FORMAT[b.kind]) if result.ok
                     else Missing(result.reason, table_id + (m,)))
    return [Text(r.dataset_class, average), Text(r.sequence, average)] + cells


def _codec_sheet(title: str, table: ResultTable, codec: str, role: str, metrics: list[str]) -> SheetModel:
    sequences = sorted({r.sequence for r in table.rows if r.codec == codec})
    # Highest rate first, as the JVET template lists QP 22 before QP 37.
    points = {s: table.select(codec, s)[::-1] for s in sequences}
    order = rate_point_order(points.values())
    if order is not None:  # one block per rate point name: each sequence's points in its block
        points = {s: [next((p for p in pts if p.rate_point == label), None) for label in order]
                  for s, pts in points.items()}
    width = len(order) if order is not None else max((len(p) for p in points.values()), default=0)
    columns = (["kbps"] if order is not None else ["rate point", "kbps"]) + metrics
    head, sub = [Text(f"{codec} ({role}): RD points, highest rate first", bold=True)], [Text("Sequence", True)]
    blocks = [None]
    for k in range(width):
        label = order[k] if order is not None else f"point {k + 1}"
        blocks += [Text(label, True)] + [None] * (len(columns) - 1)
        sub += [Text(c, True) for c in columns]
    rows: list[list] = [head, blocks, sub]
    by_class: dict[str, list[str]] = {}
    for s in sequences:
        by_class.setdefault(table.class_of(s), []).append(s)
    for cls in class_order(by_class):
        rows.append([Text(cls, bold=True)])
        for s in by_class[cls]:
            row: list = [Text(s)]
            for k in range(width):
                block = (title, k)
                p = points[s][k] if k < len(points[s]) else None
                if p is None:
                    what = order[k] if order is not None else f"{k + 1}"
                    row += [Missing(f"no RD point {what} for this sequence", block)] * len(columns)
                    continue
                row += [] if order is not None else [Text(p.rate_point)]
                row.append(Num(round(p.kbps, _KBPS_DECIMALS), _NUMBER_FORMAT["kbps"]))
                for m in metrics:
                    v = p.metrics.get(m)
                    row.append(Missing(f"{m} was not computed for this RD point", block) if v is None
                               else Num(round(v, _METRIC_DECIMALS), _NUMBER_FORMAT["metric"]))
            rows.append(row)
    return SheetModel(title, rows, {1: 24}, "B4")


def rate_point_order(curves) -> list[str] | None:
    """The rate point names of a codec, highest rate first, when every sequence's points (each
    given highest rate first) follow that one order, some possibly missing; else None (the
    sheet then has one block per position, with the name in each block)."""
    curves = list(curves)
    positions: dict[str, list[int]] = {}
    for pts in curves:
        for k, p in enumerate(pts):
            positions.setdefault(p.rate_point, []).append(k)
    order = sorted(positions, key=lambda label: (sum(positions[label]) / len(positions[label]), rd_order(label)))
    rank = {label: i for i, label in enumerate(order)}
    for pts in curves:
        ranks = [rank[p.rate_point] for p in pts]
        if ranks != sorted(ranks):
            return None
    return order


def _reasons(sheets: list[SheetModel]) -> dict[str, dict[str, int]]:
    """{reason: {sheet title: N/A cells}} in the order the reasons first appear."""
    found: dict[str, dict[str, int]] = {}
    for sh in sheets:
        for row in sh.rows:
            for c in row:
                if isinstance(c, Missing):
                    where = found.setdefault(c.reason, {})
                    where[sh.title] = where.get(sh.title, 0) + 1
    return found


def _notes(unavailable: dict[str, str], reasons: dict[str, dict[str, int]]) -> list[list]:
    rows: list[list] = [[Text("Notes", bold=True)]]
    by_reason: dict[str, list[str]] = {}
    for m, why in unavailable.items():
        by_reason.setdefault(why, []).append(m)
    for why, ms in by_reason.items():
        rows.append([Text(f"Not computed: {', '.join(ms)} because {why} (no column for "
                          f"{'it' if len(ms) == 1 else 'them'} in this workbook)")])
    if reasons:
        rows.append([Text("N/A cells: the reason is the comment of its first N/A cell in each column block")])
        for why, where in reasons.items():
            count = sum(where.values())
            rows.append([Text(f"N/A: {why} ({count} cell{'s' if count > 1 else ''}: {', '.join(where)})")])
    elif not unavailable:
        rows.append([Text("No N/A cells; every metric was computed.")])
    rows.append([])
    return rows


def _clean(text: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    text = ILLEGAL_CHARACTERS_RE.sub(" ", text)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 3] + "..."


def _write(wb, sheet: SheetModel) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(sheet.title)
    bold = Font(bold=True)
    commented = set()
    for i, row in enumerate(sheet.rows, start=1):
        for j, c in enumerate(row, start=1):
            if c is None:
                continue
            cell = ws.cell(i, j)
            if isinstance(c, Num):
                cell.value = c.value
                cell.number_format = c.fmt
                continue
            cell.value = _clean(c.text) if isinstance(c, Text) else NA
            cell.data_type = "s"  # never a formula, whatever the name starts with
            if isinstance(c, Text) and c.bold:
                cell.font = bold
            if isinstance(c, Missing) and (c.block, c.reason) not in commented:
                commented.add((c.block, c.reason))
                cell.comment = Comment(_clean(c.reason), "gfvc", width=300, height=80)
    for col, w in sheet.widths.items():
        ws.column_dimensions[get_column_letter(col)].width = w
    if sheet.freeze:
        ws.freeze_panes = sheet.freeze


def workbook_bytes(table: ResultTable, rate_blocks: list[Block], quality_blocks: list[Block],
                   anchors: list[str], tests: list[str], metrics: list[str],
                   unavailable: dict[str, str] | None = None) -> bytes:
    """The report's workbook (see the module docstring). ``unavailable``: {metric: why} from the
    run's provenance, used for the metrics the table has no value for."""
    from openpyxl import Workbook

    codecs = list(dict.fromkeys(list(anchors) + list(tests)))
    missing = unavailable_metrics(table, codecs, metrics, unavailable)
    shown = [m for m in metrics if m not in missing]
    titles = sheet_titles(codecs)
    codec_sheets = [_codec_sheet(titles[c], table, c, "anchor" if c in anchors else "test", shown) for c in codecs]
    heading = ("BD-rate (%) of each test codec against each anchor; negative: the test needs less rate for "
               "the same quality. pchip interpolation as in the JVET spreadsheet; lower-is-better metrics "
               "enter as 1 - x.")
    quality_heading = "BD-quality (metric units; for lower-is-better metrics the decrease of x) at equal rate."
    # The Notes list the reasons of every sheet, so the sheets are laid out before any is written.
    summary = _bd_sheet(SUMMARY_SHEET, heading, rate_blocks, shown)
    quality = _bd_sheet(QUALITY_SHEET, quality_heading, quality_blocks, shown)
    summary.rows[2:2] = _notes(missing, _reasons([summary, quality] + codec_sheets))  # below the heading

    wb = Workbook()
    wb.remove(wb.active)
    for sheet in [summary, quality] + codec_sheets:
        _write(wb, sheet)
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.creator = "gfvc"
    buf = io.BytesIO()
    wb.save(buf)
    return _fixed_zip_times(buf.getvalue())


def _fixed_zip_times(data: bytes) -> bytes:
    """openpyxl stamps every zip entry, and the document's modified date, with the current time;
    rewrite them with a fixed one."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=FIXED_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = item.external_attr
            content = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                 rb"\g<1>" + FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>", content)
            dst.writestr(info, content)
    return out.getvalue()
