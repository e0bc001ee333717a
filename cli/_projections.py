"""What the commands use of the projections, imported in one place.

Installed, the folder ``projections/`` is the package ``ledger.projections`` (the build maps
it there, as it maps ``cli/`` to ``ledger.cli``). mypy reads the source tree, where that folder
is the top-level package ``projections``, and cannot follow the editable install's import
hook; so this module names it both ways, and the commands are checked against the
projections' own annotations. ``bench`` (the benchmark, with eventsourcing's application
beside ours) is imported only when the ``bench`` command asks for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = [
    "ProjectionMismatch",
    "Projections",
    "bench",
    "compare_stored",
    "plain",
    "render_report",
    "rfc3339",
    "with_projections",
]

if TYPE_CHECKING:
    from projections import Projections as Projections
    from projections import bench as bench
    from projections.integrity import ProjectionMismatch as ProjectionMismatch
    from projections.integrity import compare_stored as compare_stored
    from projections.integrity import with_projections as with_projections
    from projections.model import plain as plain
    from projections.model import rfc3339 as rfc3339
    from projections.report import render_report as render_report
else:
    from ledger.projections import Projections
    from ledger.projections.integrity import ProjectionMismatch, compare_stored, with_projections
    from ledger.projections.model import plain, rfc3339
    from ledger.projections.report import render_report

    def __getattr__(name: str) -> object:
        if name == "bench":
            return importlib.import_module("ledger.projections.bench")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
