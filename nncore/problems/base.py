"""The contract every problem kind follows: parameters, deterministic generation, instances.

A kind declares its parameters (`Param`), and `build(params, rng)` fills a `Draft`: prompt,
diagram, answer fields, reference answers, worked solution and misconception variants.
`ProblemKind.generate(params, seed)` validates parameters, draws with a Generator seeded from
(seed, attempt) and redraws deterministically when `build` raises `Redraw` or a misconception's
answer coincides with the correct one; the result is canonical JSON-safe data, so the same
(kind, params, seed, version) gives byte-identical JSON on every run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.random import PCG64
from numpy.random.bit_generator import ISpawnableSeedSequence

MAX_REDRAWS = 200
# Draws redrawn because a modelled mistake would pass as right; from this draw on such a mistake's
# field is dropped instead: some parameters make a mistake always pass (weight decay with
# 2αλ ≈ 1 %: forgetting the decay moves each weight by about the tolerance), and redrawing
# them all failed the whole generation.
MISTAKE_REDRAWS = 50
DEFAULT_TOLERANCE = {"rtol": 1e-2, "atol": 1e-8}
# An updated weight w^(t+1) is judged on its change from w^(t) too: it may be off by at most this
# share of the change. An SGD step often moves a weight by less than the 1 % tolerance (weight
# 3.0, step 0.012): copying w^(t), or half the step, then passed as right (QA).
STEP_SHARE = 0.1
# What the prompt of a question asking updated weights says about it, before anyone submits
# (Draft.step_note): each field's change from its step_from, the weight before one step.
STEP_NOTE = (
    "Give each updated weight with enough decimals that its change in the step, "
    "$w^{(t+1)} - w^{(t)}$, is right to two significant figures (it can be smaller than your rounding)."
)
# The same for a weight asked after t steps whose step_from is the weight the question gives
# (symmetry_breaking): the change counted is over all t steps, not the last one's.
TOTAL_STEP_NOTE = (
    "Give each weight asked after the steps with enough decimals that its change from the weight "
    "given in the question is right to two significant figures (it can be smaller than your rounding)."
)
SIGNIFICANT_DIGITS = 12  # floats stored in instances: enough for grading, stable across BLAS builds


class Redraw(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by `build` when a draw is degenerate (tie, kink, saturation, dead network...)."""


class ParamError(ValueError):
    """An invalid kind parameter; the message names the parameter and the allowed values."""


@dataclass(frozen=True)
class Param:
    """One parameter of a kind: its type, default, allowed values and a help text."""

    name: str
    type: str  # "int" | "float" | "choice" | "bool" | "int_list"
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = 8

    def validate(self, value: Any) -> Any:
        """Return the value converted to this parameter's type, or raise ParamError."""
        if self.type == "choice":
            if value not in self.choices:
                allowed = ", ".join(map(str, self.choices))
                raise ParamError(f"parameter {self.name!r} must be one of {allowed}; got {value!r}")
            return value
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ParamError(f"parameter {self.name!r} must be true or false (or yes/no, 1/0 as text); got {value!r}")
        if self.type == "int_list":
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not 1 <= len(items) <= self.max_length:
                raise ParamError(
                    f"parameter {self.name!r} must be a list of 1 to {self.max_length} integers "
                    f"(e.g. 2,3,1); got {value!r}"
                )
            return [self._number(item, int) for item in items]
        if self.type == "int":
            return self._number(value, int)
        if self.type == "float":
            return self._number(value, float)
        raise ParamError(f"parameter {self.name!r} has an unknown type {self.type!r}")

    def _number(self, value: Any, kind: type) -> int | float:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value) if kind is float else int(str(value).strip())
        except (TypeError, ValueError):
            raise ParamError(
                f"parameter {self.name!r} must be {'an integer' if kind is int else 'a number'}; "
                f"got {value!r}"
            ) from None
        if not math.isfinite(number):
            raise ParamError(f"parameter {self.name!r} must be finite; got {value!r}")
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise ParamError(
                f"parameter {self.name!r} must be between {self.minimum} and {self.maximum}; "
                f"got {number}"
            )
        return number

    def schema(self) -> dict:
        """JSON description for UIs and the API's catalogue."""
        out = {"name": self.name, "type": self.type, "default": self.default, "help": self.help}
        if self.choices:
            out["choices"] = list(self.choices)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


@dataclass
class Field:
    """An answer field the student fills in."""

    name: str
    label: str
    shape: tuple[int, ...] = ()
    type: str = "number"  # number | vector | matrix | choice | choices
    choices: list | None = None
    depends_on: list[str] = field(default_factory=list)
    # an updated value's w^(t), canonical (a number, or nested lists of the field's shape): the
    # answer is also judged on its change from it (step_close)
    step_from: Any = None

    def to_dict(self) -> dict:
        """The field as an instance stores it (lists copied: a Field may serve many instances)."""
        out = {"name": self.name, "label": self.label, "shape": list(self.shape), "type": self.type}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.depends_on:
            out["depends_on"] = list(self.depends_on)
        if self.step_from is not None:
            out["step_from"] = self.step_from
        return out


def step_width(expected: Any, step_from: Any) -> np.ndarray:
    """How far, entry by entry, an updated value may be from the expected one: STEP_SHARE of
    the expected change from `step_from` (w^(t)); an entry the step leaves as it was must be
    that value (to rounding). What graders apply on top of the tolerance."""
    expected, start = np.asarray(expected, dtype=np.float64), np.asarray(step_from, dtype=np.float64)
    return STEP_SHARE * np.abs(expected - start) + 1e-9 * (1.0 + np.abs(expected))


def step_close(got: Any, expected: Any, step_from: Any) -> bool:
    """Whether every entry of an updated value is within step_width of the expected one."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.all(np.abs(got - expected) <= step_width(expected, step_from)))


@dataclass
class Draft:
    """What `build` produces; `ProblemKind.generate` turns it into the instance dict."""

    text: str
    data: dict
    fields: list[Field]
    answers: dict[str, Any]
    solution: list[dict]
    diagram: dict | None = None
    misconceptions: list[dict] = field(default_factory=list)
    alternatives: dict[str, list] = field(default_factory=dict)
    tolerance: dict = field(default_factory=lambda: dict(DEFAULT_TOLERANCE))
    # appended to the prompt when a field has a step_from: what the graded change is counted from
    step_note: str = STEP_NOTE

    def add_misconception(self, id: str, name: str, explanation: str, answers: dict) -> None:
        """Record what a typical mistake produces for some fields (only fields it changes)."""
        self.misconceptions.append(
            {"id": id, "name": name, "explanation": explanation, "answers": answers}
        )


# Validated parameters by (kind, the parameters as given): a class of students opens one exercise,
# so the same parameters come again and again. Values are pure functions of that key.
_VALIDATED: dict[tuple, dict] = {}
_VALIDATED_MAX = 1024


def _params_key(kind: ProblemKind, params: dict | None) -> tuple | None:
    """A hashable key telling the given parameters apart by value and type, or None."""
    if not params:
        return (kind,)
    try:
        key = (kind, *sorted((name, _frozen(value)) for name, value in params.items()))
    except TypeError:  # unhashable or unorderable: validate without the cache
        return None
    return key


def _frozen(value: Any) -> tuple:
    """The key of one parameter value: equal keys must validate alike, so only plain JSON-like
    values get one (a TypeError for others, which are validated without the cache)."""
    kind = type(value)
    if kind is list or kind is tuple:
        return (kind, tuple(_frozen(v) for v in value))
    if kind is float:  # 0.0 == -0.0, but they validate to floats of different signs
        return (kind, value, math.copysign(1.0, value))
    if kind in _ATOMS:
        return (kind, value)
    # e.g. Decimal("1") == Decimal("1.0"), yet an int parameter accepts only the first
    raise TypeError(f"no cache key for {kind.__name__}")


# Types `canonical` returns as they are (bool(b) is b itself); also the parameter values that
# are their own cache key.
_ATOMS = frozenset((str, int, bool, type(None)))


def step(title: str, latex: str, **values: Any) -> dict:
    """One line of a worked solution: a title, the LaTeX written on the board, values used."""
    return {"title": title, "latex": latex, "values": values}


def canonical_step(title: str, latex: str, **values: Any) -> Canonical:
    """canonical(step(title, latex, **values)), built directly."""
    return Canonical(title=title, latex=latex, values={k: canonical(v) for k, v in values.items()})


class ProblemKind:
    """Base class of the catalogue's kinds. Subclasses set the class attributes and `build`."""

    id: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    topic: ClassVar[str]
    version: ClassVar[int] = 1
    params: ClassVar[tuple[Param, ...]] = ()
    chained: ClassVar[bool] = False
    # Keys of the prompt data, and parameters, a student must not see (they would give an
    # answer away); the instance and the question keep them for the staff.
    private_data: ClassVar[tuple[str, ...]] = ()
    private_params: ClassVar[tuple[str, ...]] = ()
    # Whether the worked solution answers every student's variant, not only its own (a code
    # kind's reference implementation): it may then open only once nobody can submit any more.
    solution_fits_every_variant: ClassVar[bool] = False
    # What to change when parameters admit no instance in MAX_REDRAWS draws (the teacher reads
    # it when saving the question); the kinds whose constraints can all fail say it
    no_instance_hint: ClassVar[str] = "the parameters are probably too restrictive"

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        raise NotImplementedError

    def recompute(self, instance: dict, given: dict[str, Any], round_to: int | None = None) -> dict[str, Any]:
        """Expected later answers if the student's earlier answers (`given`) were right; with
        `round_to=k` along the calculator path (every intermediate written to k figures).

        Only chained kinds override this; the default has nothing to carry forward.
        """
        return {}

    # --- generic machinery -------------------------------------------------------------------

    def validate_params(self, params: dict | None) -> dict:
        """Defaults filled in, values converted; unknown names list the allowed ones."""
        key = _params_key(self, params)
        values = _VALIDATED.get(key) if key is not None else None
        if values is None:
            values = self._validate_params(params)
            if key is not None:
                if len(_VALIDATED) >= _VALIDATED_MAX:
                    _VALIDATED.clear()
                _VALIDATED[key] = values
        return {k: list(v) if type(v) is list else v for k, v in values.items()}  # the caller's own

    def _validate_params(self, params: dict | None) -> dict:
        params = dict(params or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            allowed = ", ".join(sorted(known)) or "none"
            raise ParamError(f"kind {self.id!r} has no parameter(s) {unknown}; allowed: {allowed}")
        values = {name: p.validate(params.get(name, p.default)) for name, p in known.items()}
        self.check_params(values)
        return values

    def check_params(self, p: dict) -> None:
        """Cross-parameter checks (e.g. layer sizes vs notation); raise ParamError."""

    def check_new_params(self, p: dict) -> None:
        """Checks only for settings being saved now (raise ParamError): settings the kind can draw
        from but no course should set. Unlike check_params they do not stop generation, so a
        question saved with them before keeps giving its students variants."""

    def schema(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "topic": self.topic,
            "version": self.version,
            "chained": self.chained,
            "params": [p.schema() for p in self.params],
        }

    def generate(self, params: dict | None = None, seed: int = 0) -> dict:
        """A JSON-safe instance; same (params, seed, version) -> identical JSON."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ParamError(f"seed must be a non-negative integer; got {seed!r}")
        p = self.validate_params(params)
        for attempt in range(MAX_REDRAWS):
            rng = seeded_generator(int(seed), attempt)  # np.random.default_rng([seed, attempt])
            try:
                draft = self.build(p, rng)
                instance = self._finish(draft, p, int(seed), attempt)
            except Redraw:
                continue
            return instance
        raise RuntimeError(
            f"kind {self.id!r} found no valid instance in {MAX_REDRAWS} draws for {p}; "
            f"{self.no_instance_hint}"
        )

    def _finish(self, draft: Draft, p: dict, seed: int, attempt: int) -> dict:
        answers = canonical(draft.answers)
        misconceptions = canonical(draft.misconceptions)
        alternatives = canonical(draft.alternatives)
        tol = draft.tolerance
        redraw = attempt < MISTAKE_REDRAWS
        steps = {f.name: f.step_from for f in draft.fields if f.step_from is not None}
        distinct = []
        for m in misconceptions:
            kept = {}
            for k, v in m["answers"].items():
                verdict = _mistake_verdict(v, answers[k], alternatives.get(k), tol)
                if k in steps:
                    verdict = _step_verdict(v, answers[k], steps[k], alternatives.get(k), tol, verdict)
                if verdict is _PASSES_AS_ROUNDED and redraw:
                    raise Redraw(f"misconception {m['id']} passes as a rounded answer for {k}")
                if verdict is _DISTINCT:
                    kept[k] = v
                # _SAME: a field where the mistake gives the right value says nothing about it
            if not kept and redraw:
                raise Redraw(f"misconception {m['id']} gives the correct answer")
            if kept:
                m["answers"] = kept
                distinct.append(m)
        misconceptions = distinct
        return {
            "kind": self.id,
            "version": self.version,
            "seed": seed,
            "draw": attempt,
            "params": canonical(p),
            "prompt": {"text": f"{draft.text} {draft.step_note}" if steps else draft.text, "data": canonical(draft.data)},
            "diagram": canonical(draft.diagram),
            "fields": [f.to_dict() for f in draft.fields],
            "answers": answers,
            "alternatives": alternatives,
            "tolerance": dict(draft.tolerance),
            "solution": canonical(draft.solution),
            "misconceptions": misconceptions,
            "chained": self.chained,
        }


# --- seeding: np.random.default_rng([seed, attempt]), bit for bit, without its overhead ---------
# default_rng hashes its entropy with NumPy's SeedSequence, whose implementation works on NumPy
# arrays and scalars: about 15% of a forward-pass instance, once per draw. The same hash on
# Python ints (SeedSequence's algorithm, numpy/random/bit_generator.pyx) feeds PCG64 through
# ISeedSequence, the interface NumPy's bit generators take custom seedings by.

_MASK32 = 0xFFFFFFFF
_POOL_SIZE = 4  # SeedSequence's default pool of 32-bit words
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875  # hashmix while mixing the entropy into the pool
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED  # hashing the pool out into the state
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715


def seeded_generator(*entropy: int) -> np.random.Generator:
    """np.random.default_rng(list(entropy)) for non-negative ints: the same PCG64 state, and
    the same children from spawn() (only bit_generator.seed_seq is not a SeedSequence)."""
    return np.random.Generator(PCG64(_SeedPool(entropy, _seed_pool(entropy))))


def _seed_pool(entropy: tuple[int, ...]) -> list[int]:
    """SeedSequence(list(entropy)).pool: the entropy mixed into four 32-bit words.

    hashmix(v) is ((v ^ c_k) * c_{k+1}) xor-shifted, c_k the k-th hash constant of the run;
    mix(x, y) is (L*x - R*y) xor-shifted. Written out inline: this runs once per draw.
    """
    words = []
    for n in entropy:  # each int as its little-endian 32-bit words (0 as one word)
        if n < 0:
            raise ValueError("seed entropy must be non-negative")
        words.append(n & _MASK32)
        n >>= 32
        while n:
            words.append(n & _MASK32)
            n >>= 32
    words += [0] * (_POOL_SIZE - len(words))  # a short entropy is hashed on as zeros
    c = _hash_constants(_INIT_A, _MULT_A, _POOL_SIZE * len(words) + 1)
    pool = []
    for k in range(_POOL_SIZE):
        h = (words[k] ^ c[k]) * c[k + 1] & _MASK32
        pool.append(h ^ (h >> 16))
    k = _POOL_SIZE
    for i_src, i_dst in _POOL_PAIRS:  # every pool word into every other: late bits reach early ones
        h = (pool[i_src] ^ c[k]) * c[k + 1] & _MASK32
        h ^= h >> 16
        mixed = (_MIX_MULT_L * pool[i_dst] - _MIX_MULT_R * h) & _MASK32
        pool[i_dst] = mixed ^ (mixed >> 16)
        k += 1
    for word in words[_POOL_SIZE:]:  # entropy beyond the pool, into every word
        for i_dst in range(_POOL_SIZE):
            h = (word ^ c[k]) * c[k + 1] & _MASK32
            h ^= h >> 16
            mixed = (_MIX_MULT_L * pool[i_dst] - _MIX_MULT_R * h) & _MASK32
            pool[i_dst] = mixed ^ (mixed >> 16)
            k += 1
    return pool


_POOL_PAIRS = [(i_src, i_dst) for i_src in range(_POOL_SIZE) for i_dst in range(_POOL_SIZE) if i_src != i_dst]


_HASH_CONSTANTS: dict[tuple[int, int], list[int]] = {}


def _hash_constants(init: int, mult: int, count: int) -> list[int]:
    """init * mult**k (32 bits) for k = 0, 1, ...: the hash constants SeedSequence runs through
    (at least `count` of them; worked out once)."""
    table = _HASH_CONSTANTS.setdefault((init, mult), [init])
    while len(table) < count:
        table.append(table[-1] * mult & _MASK32)
    return table


class _SeedPool(ISpawnableSeedSequence):
    """A mixed pool that hands out SeedSequence.generate_state's words (what PCG64 seeds from)."""

    __slots__ = ("entropy", "pool", "_spawner")

    def __init__(self, entropy: tuple[int, ...], pool: list[int]) -> None:
        self.entropy = entropy
        self.pool = pool
        self._spawner = None

    def spawn(self, n_children: int) -> list[np.random.SeedSequence]:
        """SeedSequence(list(entropy)).spawn(n_children), by a SeedSequence made on first use
        (it counts the children already spawned)."""
        if self._spawner is None:
            self._spawner = np.random.SeedSequence(list(self.entropy))
        return self._spawner.spawn(n_children)

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        """SeedSequence.generate_state(n_words, dtype) for uint32 or uint64."""
        wide = dtype is np.uint64 or np.dtype(dtype) == np.dtype(np.uint64)
        if not wide and np.dtype(dtype) != np.dtype(np.uint32):
            raise TypeError("only support uint32 or uint64")
        count = n_words * 2 if wide else n_words
        c, pool, out = _hash_constants(_INIT_B, _MULT_B, count + 1), self.pool, []
        for k in range(count):
            h = (pool[k % _POOL_SIZE] ^ c[k]) * c[k + 1] & _MASK32
            out.append(h ^ (h >> 16))
        if wide:  # pairs of words, little-endian, as SeedSequence views them
            out = [out[i] | out[i + 1] << 32 for i in range(0, count, 2)]
        return np.array(out, dtype=dtype)


def canonical(value: Any) -> Any:
    """JSON-safe copy: arrays to lists, floats rounded to SIGNIFICANT_DIGITS, -0.0 to 0.0."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is float:
        return canonical_float(value)
    if kind is dict:
        return _canonical_dict(value)
    if kind is list or kind is tuple:
        return canonical_list(value)
    if kind is Canonical:
        return dict(value)
    if kind is np.ndarray:
        if value.dtype.kind == "f":
            if not np.all(np.isfinite(value)):
                raise ValueError("instance contains a non-finite number")
            return _nested(value.tolist())
        return canonical(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return canonical_float(float(value))
    if isinstance(value, dict):
        return _canonical_dict(value)
    raise TypeError(f"cannot store {type(value).__name__} in an instance")


class Canonical(dict):
    """A dict built canonical from the start, which `canonical` keeps instead of copying.

    Whoever builds one guarantees what `canonical` would otherwise ensure: every float passed
    through `canonical_float`, only dicts with str keys, lists, str, int, bool and None inside,
    and nothing shared with other instances. Instances are mostly such small dicts, and
    copying them entry by entry was most of the cost of `ProblemKind.generate`.
    """


def _canonical_dict(value: dict) -> dict:
    """canonical of a dict: keys as str, values canonical."""
    keys = [k if type(k) is str else str(k) for k in value]
    return dict(zip(keys, canonical_list(value.values()), strict=True))


def canonical_list(values) -> list:
    """[canonical(v) for v in values], leaves inline (this loop is hot)."""
    get = _ROUNDED.get
    out = []
    for v in values:
        kind = type(v)
        if kind is float:
            rounded = get(v)
            v = canonical_float(v) if rounded is None else rounded
        elif kind not in _ATOMS:
            v = canonical(v)
        out.append(v)
    return out


# Rounded floats already seen: the same weights, inputs and answers recur across an instance's
# prompt, diagram, solution and alternatives, and hand-style values and the calculator paths'
# rounded answers across instances. A pure function of the value; cleared when full (16,384
# entries: about 1.5 MB, enough to keep the recurring values of a run of instances).
_ROUNDED: dict[float, float] = {}
_ROUNDED_MAX = 16384


def canonical_float(value: float) -> float:
    """canonical of a float: rounded to SIGNIFICANT_DIGITS, -0.0 as 0.0; non-finite refused."""
    rounded = _ROUNDED.get(value)
    if rounded is not None:
        return rounded
    if not math.isfinite(value):
        raise ValueError(f"instance contains a non-finite number {value}")
    rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    rounded = 0.0 if rounded == 0 else rounded
    if len(_ROUNDED) >= _ROUNDED_MAX:
        _ROUNDED.clear()
    _ROUNDED[value] = rounded
    return rounded


def canonical_floats(values: list[float]) -> list[float]:
    """[canonical_float(v) for v in values], with the memo read inline (a hot loop)."""
    get = _ROUNDED.get
    out = []
    for v in values:
        rounded = get(v)
        out.append(canonical_float(v) if rounded is None else rounded)
    return out


def _nested(items: list) -> list:
    """Canonical floats of an ndarray.tolist() (already checked finite)."""
    if items and type(items[0]) is list:
        return [_nested(row) for row in items]
    return canonical_floats(items)


def to_json(instance: dict) -> str:
    """The canonical serialisation (sorted keys) used by golden files and byte-equality tests."""
    return json.dumps(instance, sort_keys=True, ensure_ascii=False, indent=1)


def _close(a: Any, b: Any, tol: dict) -> bool:
    """Whether two stored answers agree within the instance tolerance (shapes must match)."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list) and any(isinstance(v, str) for v in a + b):
        return sorted(a) == sorted(b)  # sets of choice ids (possibly empty)
    if type(a) is float and type(b) is float:
        return abs(a - b) <= tol["atol"] + tol["rtol"] * abs(b)
    if is_float_list(a) and is_float_list(b):
        # The array test below, entry by entry with the same float operations.
        atol, rtol = tol["atol"], tol["rtol"]
        return len(a) == len(b) and all(
            abs(u - v) <= atol + rtol * abs(v) for u, v in zip(a, b, strict=True)
        )
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        return False
    return bool(np.all(np.abs(x - y) <= tol["atol"] + tol["rtol"] * np.abs(y)))


_SAME, _PASSES_AS_ROUNDED, _DISTINCT = "same", "passes as rounded", "distinct"


def _mistake_verdict(wrong: Any, exact: Any, alternatives: list | None, tol: dict) -> str:
    """How a misconception's answer for one field relates to what graders accept: _SAME (within
    tolerance of the correct answer), _PASSES_AS_ROUNDED (see _credited_by_rounding; also when
    the mistake's answer written to 3 or 4 significant figures, as a student types it, would be
    credited) or _DISTINCT. Plain floats, the usual field, take a short path with the same
    comparisons."""
    if type(wrong) is float and type(exact) is float:
        atol, rtol = tol["atol"], tol["rtol"]
        if abs(wrong - exact) <= atol + rtol * abs(exact):
            return _SAME
        low = high = exact  # the range of the paths; without alternatives, the exact band only
        for v in alternatives or ():
            if type(v) is not float:
                break
            if v < low:
                low = v
            elif v > high:
                high = v
        else:
            low_edge, high_edge = low - (atol + rtol * abs(low)), high + (atol + rtol * abs(high))
            if low_edge <= wrong <= high_edge:
                return _PASSES_AS_ROUNDED
            # writing to 3 figures moves a number by at most 0.5 % of it: only then can it reach the band
            if min(abs(wrong - low_edge), abs(wrong - high_edge)) <= _TYPED_SHIFT * abs(wrong):
                if any(low_edge <= typed <= high_edge for typed in _as_typed(wrong)):
                    return _PASSES_AS_ROUNDED
            return _DISTINCT
    if _close(wrong, exact, tol):
        return _SAME
    for typed in (wrong, *_as_typed(wrong)):
        if typed is not wrong and _close(typed, exact, tol):
            return _PASSES_AS_ROUNDED
        if alternatives and _credited_by_rounding(typed, exact, alternatives, tol):
            return _PASSES_AS_ROUNDED
    return _DISTINCT


def _step_verdict(wrong: Any, exact: Any, step_from: Any, alternatives: list | None, tol: dict, verdict: str) -> str:
    """_mistake_verdict for an updated weight, which graders also judge on its change: the
    mistake is credited only within the step width (step_close) of the exact answer. Written to
    3 or 4 figures it may land there when the step is tiny (3.0 + 0.001 with half the step,
    3.0005, typed "3.001"): that passes as rounded, as in _mistake_verdict."""
    if step_close(wrong, exact, step_from):
        return verdict
    for typed in _as_typed(wrong):
        if step_close(typed, exact, step_from) and _mistake_verdict(typed, exact, alternatives, tol) is not _DISTINCT:
            return _PASSES_AS_ROUNDED
    return _DISTINCT


_TYPED_FIGURES = (3, 4)  # how students write the numbers they computed (the seeds round so)
_TYPED_SHIFT = 0.005  # the most writing a number to 3 significant figures moves it, relatively


def _as_typed(value: Any) -> list:
    """`value` written to 3 and to 4 significant figures, the same way for a number and for each
    entry of a vector or matrix (nested lists of floats); [] for anything else (choices)."""
    if type(value) is float:
        return [float(f"{value:.{k}g}") for k in _TYPED_FIGURES]
    if type(value) is not list or not _all_floats(value):
        return []
    return [_typed_entries(value, k) for k in _TYPED_FIGURES]


def _all_floats(value: Any) -> bool:
    return all(_all_floats(v) if type(v) is list else type(v) is float for v in value)


def _typed_entries(value: list, figures: int) -> list:
    return [_typed_entries(v, figures) if type(v) is list else float(f"{v:.{figures}g}") for v in value]


def _credited_by_rounding(wrong: Any, exact: Any, alternatives: list, tol: dict) -> bool:
    """Whether a grader would credit the mistake's answer `wrong` through the rounded-path
    `alternatives` of a field: some entry the mistake moves beyond tolerance of the exact
    answer is still accepted. With alternatives, a grader accepts an entry within tolerance of
    the range between the lowest and highest path (autograder.answers.compare's
    Expectation.accepts; each path's own band lies inside that). A student who made the
    mistake then scores as one who rounded intermediates: the draw cannot tell them apart."""
    if not alternatives:
        return False
    atol, rtol = tol["atol"], tol["rtol"]
    try:
        got = np.asarray(wrong, dtype=np.float64)
        paths = np.stack([np.asarray(v, dtype=np.float64) for v in (exact, *alternatives)])
    except (TypeError, ValueError):  # choice fields, or shapes that differ: nothing to credit
        return False
    if paths.shape[1:] != got.shape:
        return False
    moved = np.abs(got - paths[0]) > atol + rtol * np.abs(paths[0])
    low, high = paths.min(axis=0), paths.max(axis=0)
    accepted = (got >= low - (atol + rtol * np.abs(low))) & (got <= high + (atol + rtol * np.abs(high)))
    return bool((moved & accepted).any())


FAR_PATH = 3.0  # tolerances a calculator path may lie from the exact answer


def check_paths_near(answers: dict, alternatives: dict, tol: dict = DEFAULT_TOLERANCE) -> None:
    """Redraw when a calculator path lies more than FAR_PATH tolerances from the exact answer:
    the draw is ill-conditioned for a calculator (a sigmoid written as 1.00 makes σ' = 0, a
    cancellation loses the figures), and graders would accept everything in between."""
    for name, paths in alternatives.items():
        exact = np.asarray(answers[name], dtype=np.float64)
        width = FAR_PATH * (tol["atol"] + tol["rtol"] * np.abs(exact))
        for path in paths:
            if np.any(np.abs(np.asarray(path, dtype=np.float64) - exact) > width):
                raise Redraw(f"a calculator path for {name} is far from the exact answer")


def is_float_list(value: Any) -> bool:
    """Whether `value` is a plain list of Python floats (what the fast paths take as is)."""
    return type(value) is list and all(type(v) is float for v in value)
