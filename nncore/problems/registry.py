"""The catalogue: every problem kind by its stable id."""

from __future__ import annotations

from nncore.problems.base import ProblemKind
from nncore.problems.classification_kinds import KINDS as CLASSIFICATION_KINDS
from nncore.problems.code_kinds import KINDS as CODE_KINDS
from nncore.problems.diagnostic_kinds import KINDS as DIAGNOSTIC_KINDS
from nncore.problems.graph_kinds import KINDS as GRAPH_KINDS
from nncore.problems.network_kinds import KINDS as NETWORK_KINDS
from nncore.problems.training_kinds import KINDS as TRAINING_KINDS

_KIND_CLASSES: tuple[type[ProblemKind], ...] = (
    *NETWORK_KINDS,
    *TRAINING_KINDS,
    *CLASSIFICATION_KINDS,
    *GRAPH_KINDS,
    *DIAGNOSTIC_KINDS,
    *CODE_KINDS,
)

CATALOGUE: dict[str, ProblemKind] = {cls.id: cls() for cls in _KIND_CLASSES}


def get_kind(kind_id: str) -> ProblemKind:
    """The kind with this id; unknown ids list the catalogue."""
    try:
        return CATALOGUE[kind_id]
    except (KeyError, TypeError):
        raise ValueError(f"unknown problem kind {kind_id!r}; known kinds: {', '.join(CATALOGUE)}") from None


def list_kinds() -> list[dict]:
    """Every kind's schema (id, title, description, topic, version, parameters)."""
    return [kind.schema() for kind in CATALOGUE.values()]


def generate(kind_id: str, params: dict | None = None, seed: int = 0) -> dict:
    """Shortcut for get_kind(kind_id).generate(params, seed)."""
    return get_kind(kind_id).generate(params, seed)
