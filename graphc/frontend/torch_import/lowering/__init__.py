"""The ATen -> graphc IR lowering table, grouped by kind (importing this fills ``LOWERINGS``)."""

from graphc.frontend.torch_import.lowering import (
    conv,
    decompositions,
    elementwise,
    indexing,
    linalg,
    linalg_solvers,
    norm,
    random,
    reductions,
    scans,
    sorting,
    symbolic,
    views,
    writes,
)
from graphc.frontend.torch_import.lowering.table import KINDS, LOWERINGS, LoweringContext, Source, lowers, op_name

__all__ = [
    "KINDS",
    "LOWERINGS",
    "LoweringContext",
    "Source",
    "conv",
    "decompositions",
    "elementwise",
    "indexing",
    "linalg",
    "linalg_solvers",
    "lowers",
    "norm",
    "op_name",
    "random",
    "reductions",
    "scans",
    "sorting",
    "symbolic",
    "views",
    "writes",
]
