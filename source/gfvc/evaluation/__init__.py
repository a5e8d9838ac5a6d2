"""gfvc.evaluation: result store, Bjontegaard deltas, BD tables and RD plots, gfvc-bdrate."""
from .bdrate import BDResult, bd_for_metric, bd_quality, bd_rate, metric_higher_is_better, quality_for_bd
from .report import write_report
from .results import (
    RESULT_COLUMNS, ResultFormatError, ResultRow, ResultTable, dataset_class_of, load_results, make_provenance,
    write_results,
)
from .tables import ReportError

__all__ = [
    "BDResult", "bd_for_metric", "bd_quality", "bd_rate", "metric_higher_is_better", "quality_for_bd",
    "write_report", "RESULT_COLUMNS", "ResultFormatError", "ResultRow", "ResultTable", "dataset_class_of",
    "load_results", "make_provenance", "write_results", "ReportError",
]
