"""The description of one answer field: its name, label, kind and shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

NUMERIC_TYPES = ("number", "vector", "matrix")
CHOICE_TYPES = ("choice", "choices")
FIELD_TYPES = NUMERIC_TYPES + CHOICE_TYPES


@dataclass(frozen=True)
class FieldSpec:
    """One answer field.

    ``shape`` is ``()`` for a number, ``(n,)`` / ``(n, 1)`` / ``(1, n)`` for a vector and
    ``(n, m)`` for a matrix; ``choices`` lists the allowed option ids of a choice field.
    Invalid specs raise ``ValueError``: they are the caller's bug, not the student's.
    """

    name: str
    label: str = ""
    shape: tuple[int, ...] = ()
    type: str = "number"
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(self.shape))
        object.__setattr__(self, "choices", tuple(self.choices))
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field {self.name!r}: unknown type {self.type!r}")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in self.shape):
            raise ValueError(f"field {self.name!r}: shape must be positive ints, got {self.shape}")
        if not _shape_fits_type(self.type, self.shape):
            raise ValueError(f"field {self.name!r}: shape {self.shape} does not fit {self.type}")
        if self.type in CHOICE_TYPES:
            if not self.choices or not all(isinstance(c, str) and c for c in self.choices):
                raise ValueError(f"field {self.name!r}: choices must be non-empty strings")
            if len(set(self.choices)) != len(self.choices):
                raise ValueError(f"field {self.name!r}: duplicate choice ids")

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @classmethod
    def coerce(cls, spec: FieldSpec | Mapping[str, object]) -> FieldSpec:
        """A FieldSpec from itself or from a dict with the same keys (other keys ignored)."""
        if isinstance(spec, FieldSpec):
            return spec
        if not isinstance(spec, Mapping):
            raise TypeError(f"expected a FieldSpec or a mapping, got {type(spec).__name__}")
        keys = ("name", "label", "shape", "type", "choices")
        values = {key: spec[key] for key in keys if key in spec}
        if isinstance(values.get("choices"), (list, tuple)):  # ids, or {"id", "label"} options
            values["choices"] = [_choice_id(c) for c in values["choices"]]
        return cls(**values)


def _choice_id(option: object) -> object:
    """An option's id: the option itself, or the "id" of an {"id", "label"} option (generators
    give options with a LaTeX label that way, e.g. symmetry_breaking's "$a_{3}$")."""
    if isinstance(option, Mapping) and "id" in option:
        return option["id"]
    return option


def _shape_fits_type(kind: str, shape: tuple[int, ...]) -> bool:
    if kind == "vector":
        return len(shape) == 1 or (len(shape) == 2 and 1 in shape)
    if kind == "matrix":
        return len(shape) == 2
    return shape == ()
