"""Seeded problem generators: the catalogue of exercise kinds (see registry.CATALOGUE)."""

from nncore.problems.base import ParamError, ProblemKind, to_json
from nncore.problems.registry import CATALOGUE, generate, get_kind, list_kinds

__all__ = ["CATALOGUE", "ParamError", "ProblemKind", "generate", "get_kind", "list_kinds", "to_json"]
