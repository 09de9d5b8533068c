"""The AVX evaluation protocol: runner, records and the Table-1-style summary."""

from captum_advise.evaluation.intervals import mean_interval
from captum_advise.evaluation.protocol import ProtocolOptions, score_maps
from captum_advise.evaluation.records import COLUMNS, append_records, completed_methods, merge_records, read_records
from captum_advise.evaluation.runner import EvaluationConfig, run_evaluation, shard
from captum_advise.evaluation.summary import paired_rows, summary_rows, summary_table

__all__ = [
    "COLUMNS",
    "EvaluationConfig",
    "ProtocolOptions",
    "append_records",
    "completed_methods",
    "mean_interval",
    "merge_records",
    "paired_rows",
    "read_records",
    "run_evaluation",
    "score_maps",
    "shard",
    "summary_rows",
    "summary_table",
]
