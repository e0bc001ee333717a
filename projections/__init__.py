"""Projections: read models rebuilt from the chain, for now or any moment in the past."""

from .views import Projections, SubjectReport

__all__ = ["Projections", "SubjectReport"]
