"""The AVX evaluation protocol: runner, records and the Table-1-style summary."""

from captum_advise.evaluation.families import AnalysisPlan
from captum_advise.evaluation.protocol import ProtocolOptions, score_maps
from captum_advise.evaluation.records import merge_records, read_records
from captum_advise.evaluation.runner import EvaluationConfig, run_evaluation, shard
from captum_advise.evaluation.summary import summary_rows, summary_table

__all__ = [
    "AnalysisPlan",
    "EvaluationConfig",
    "ProtocolOptions",
    "merge_records",
    "read_records",
    "run_evaluation",
    "score_maps",
    "shard",
    "summary_rows",
    "summary_table",
]
