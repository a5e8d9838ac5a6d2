"""The XLSX workbook of a report (openpyxl).

Sheets:
- ``BD-rate`` and ``BD-quality``: the summary, one block per anchor and test codec, per
  sequence rows and class averages; numbers are numeric cells (the same values as the CSV),
  N/A cells are text saying why.
- ``RD 1``, ``RD 2``, ...: per anchor/test pair, the RD points laid out as in the JVET CTC
  template: one row per sequence and rate point (highest rate first), the anchor's kbps and
  metrics on the left, the test's on the right, so that the columns can be pasted into the
  official spreadsheet.
- ``RD points``: the whole result table (the columns of results.csv).
"""
from __future__ import annotations

import datetime
import io
import re
import zipfile

from .results import RESULT_COLUMNS, ResultTable
from .tables import Block, KINDS, cell_value, class_order

# Fixed document timestamps: the same report gives the same workbook content.
FIXED_TIME = datetime.datetime(2000, 1, 1)


def _summary_sheet(wb, title: str, blocks: list[Block]) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet(title)
    bold = Font(bold=True)
    row = 1
    for b in blocks:
        name, unit, decimals = KINDS[b.kind]
        ws.cell(row, 1, f"{name}{' (%)' if unit else ''}: anchor {b.anchor}, test {b.test}").font = bold
        row += 1
        for col, text in enumerate(["Class", "Sequence"] + b.metrics, start=1):
            ws.cell(row, col, text).font = bold
        row += 1
        for r in b.rows:
            ws.cell(row, 1, r.dataset_class)
            ws.cell(row, 2, r.sequence).font = Font(bold=r.sequence == "Average")
            for col, m in enumerate(b.metrics, start=3):
                c = ws.cell(row, col, cell_value(r.cells[m], b.kind))
                if not isinstance(c.value, str):
                    c.number_format = "0.00" if b.kind == "rate" else "0.0000"
            row += 1
        row += 1
    ws.column_dimensions["B"].width = 24


def _rd_sheet(wb, index: int, table: ResultTable, anchor: str, test: str, metrics: list[str]) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet(f"RD {index}")
    bold = Font(bold=True)
    ws.cell(1, 1, f"RD points: anchor {anchor} (left), test {test} (right)").font = bold
    side = ["Rate point", "kbps"] + metrics
    header = ["Class", "Sequence"] + [f"{anchor} {h}" for h in side] + [""] + [f"{test} {h}" for h in side]
    for col, text in enumerate(header, start=1):
        ws.cell(2, col, text).font = bold
    sequences = sorted({r.sequence for r in table.rows if r.codec in (anchor, test)})
    by_class = {}
    for s in sequences:
        by_class.setdefault(table.class_of(s), []).append(s)
    row = 3
    for cls in class_order(by_class):
        for s in by_class[cls]:
            # Highest rate first, as the JVET template lists QP 22 before QP 37.
            a, t = table.select(anchor, s)[::-1], table.select(test, s)[::-1]
            for k in range(max(len(a), len(t))):
                ws.cell(row, 1, cls)
                ws.cell(row, 2, s)
                for offset, points in ((3, a), (3 + len(side) + 1, t)):
                    if k < len(points):
                        p = points[k]
                        values = [p.rate_point, p.kbps] + [p.metrics.get(m) for m in metrics]
                        for j, v in enumerate(values):
                            ws.cell(row, offset + j, v)
                row += 1


def _points_sheet(wb, table: ResultTable) -> None:
    ws = wb.create_sheet("RD points")
    ws.append(list(RESULT_COLUMNS) + table.metrics)
    for r in table.sorted_rows():
        ws.append([r.sequence, r.dataset_class, r.codec, r.rate_point, r.frames, r.fps, r.bytes, r.kbps]
                  + [r.metrics.get(m) for m in table.metrics])


def workbook_bytes(table: ResultTable, rate_blocks: list[Block], quality_blocks: list[Block],
                   pairs: list[tuple[str, str]], metrics: list[str]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    _summary_sheet(wb, "BD-rate", rate_blocks)
    _summary_sheet(wb, "BD-quality", quality_blocks)
    for i, (anchor, test) in enumerate(pairs, start=1):
        _rd_sheet(wb, i, table, anchor, test, metrics)
    _points_sheet(wb, table)
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
