"""Shared pieces of the generators: drawing numbers, checking draws, LaTeX, diagrams, names.

Number styles:
- "hand": integer or one-decimal weights and inputs like the notes' examples, redrawn until a
  student with a calculator can follow (no ReLU pre-activation exactly on the kink, no saturated
  sigmoid/tanh, no softmax tie);
- "random": floats with two decimals in [-2, 2].
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from itertools import chain

import numpy as np
from numpy.random import PCG64

from nncore.activations import Activation, get_activation
from nncore.losses import get_loss
from nncore.network import Layer, Network, Trace
from nncore.notation import neuron_ids
from nncore.problems.base import (
    Canonical,
    Param,
    Redraw,
    canonical,
    canonical_float,
    canonical_floats,
    is_float_list,
)

STYLES = ("hand", "random")
NOTATIONS = ("matrix", "graph")
ELEMENTWISE = ("sigmoid", "relu", "tanh", "identity", "leaky_relu", "elu", "softplus")
KINK_MARGIN = 1e-9  # |in_j| below this counts as exactly on a ReLU/step kink
SATURATION = 4.0  # |in_j| above this makes σ'(in_j) < 0.018: a calculator-hostile question

STYLE_PARAM = Param("style", "choice", "hand", "number style: hand (calculator friendly) or random", STYLES)
NOTATION_PARAM = Param(
    "notation", "choice", "graph", "matrix (MIT W^l, Z^l, A^l) or graph (CS 457 w_{i,j}, in_j, a_j)", NOTATIONS
)


def draw_values(rng: np.random.Generator, shape: tuple[int, ...], style: str, *, nonzero=True) -> np.ndarray:
    """Weights or inputs of a style; hand values are integers in [-3, 3] or one-decimal in [-1, 1]."""
    if style == "random":
        return np.round(rng.uniform(-2.0, 2.0, size=shape), 2)
    if rng.random() < 0.5:
        values = rng.integers(-3, 4, size=shape).astype(np.float64)
    else:
        values = rng.integers(-10, 11, size=shape) / 10.0
    if nonzero:
        values = np.where(values == 0, 1.0, values)
    return values


# --- exact replica of the Generator calls, read from the raw stream ------------------------------

_U32 = 0xFFFFFFFF
_DOUBLE_UNIT = 1.0 / 9007199254740992.0  # numpy's next_double: (raw >> 11) * 2**-53


class Draws:
    """The draws `draw_values` makes, without NumPy's per-call overhead and with the same stream.

    Generator.random() and Generator.integers() with a range below 2**32 are deterministic
    functions of the PCG64 raw 64-bit outputs (Lemire's method on 32-bit halves, the spare half
    kept in the bit generator); this reads those raw outputs and repeats NumPy's arithmetic, so
    every value and the generator's position are identical. Once `generator()` has handed the
    Generator back, every draw is a plain Generator call (so is every draw from a bit generator
    other than PCG64).
    """

    __slots__ = ("_rng", "_bitgen", "_raw", "_half", "_last", "_held")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._bitgen = rng.bit_generator
        self._half = None  # the spare 32-bit half NumPy would hand out next, if any
        self._raw = self._bitgen.random_raw if type(self._bitgen) is PCG64 else None
        if self._raw is not None:
            state = self._bitgen.state
            # random_raw leaves the bit generator's (has_uint32, uinteger) alone: `_held` is what
            # it holds until generator() writes back `_half` and `_last` (the uinteger NumPy's
            # next_uint32 would have left, kept even once its half is used).
            self._held = (state["has_uint32"], state["uinteger"])
            self._last = state["uinteger"]
            if state["has_uint32"]:
                self._half = state["uinteger"]

    def generator(self) -> np.random.Generator:
        """The Generator, positioned exactly after the draws made here; later draws go to it."""
        if self._raw is not None:
            spare = (0 if self._half is None else 1, self._last)
            if spare != self._held:  # also when the held half was used up here (has_uint32 -> 0)
                state = self._bitgen.state
                state["has_uint32"], state["uinteger"] = spare
                self._bitgen.state = state
            self._half = None
            self._raw = None
        return self._rng

    def random(self) -> float:
        """Generator.random()."""
        if self._raw is None:
            return self._rng.random()
        return (self._raw() >> 11) * _DOUBLE_UNIT

    def integers(self, low: int, high: int, count: int) -> list[int]:
        """Generator.integers(low, high, size=count).tolist() (also size=None for count 1)."""
        raw = self._raw
        if raw is None or high - low > _U32:
            return self.generator().integers(low, high, size=count).tolist()
        span = high - 1 - low
        if span == 0:
            return [low] * count
        excl = span + 1
        # Lemire: m = u * excl for 32-bit u, kept unless m's low half < (2**32 - excl) % excl.
        threshold = (_U32 - span) % excl
        half = self._half
        out = []
        for _ in range(count):
            while True:
                if half is None:  # next_uint32: a raw output's low half now, its high half next
                    u = raw()
                    half = self._last = u >> 32
                    m = (u & _U32) * excl
                else:
                    m = half * excl
                    half = None
                if m & _U32 >= threshold:
                    break
            out.append(low + (m >> 32))
        self._half = half
        return out

    def uniform(self, low: float, high: float, count: int) -> list[float]:
        """Generator.uniform(low, high, size=count).tolist(): low + (high - low) * next_double."""
        span = high - low
        if self._raw is None or not math.isfinite(span):  # NumPy refuses an infinite range
            return self.generator().uniform(low, high, size=count).tolist()
        return [low + span * self.random() for _ in range(count)]


def drawn_values(draws: Draws, count: int, style: str, nonzero: bool = True) -> list[float]:
    """`draw_values(rng, shape, style, nonzero=...)` flattened (C order), from a Draws."""
    if style == "random":
        return [_round_half_even(v * 100.0) / 100.0 for v in draws.uniform(-2.0, 2.0, count)]
    # the integer k is 0 exactly when the value is 0 (never -0.0): nonzero=True makes it 1.0
    if draws.random() < 0.5:
        ints = draws.integers(-3, 4, count)
        return [float(k) if k or not nonzero else 1.0 for k in ints]
    ints = draws.integers(-10, 11, count)
    return [k / 10.0 if k or not nonzero else 1.0 for k in ints]


def _round_half_even(v: float) -> float:
    """np.rint(v) for finite v (Python's round is also half-to-even; keeps the sign of zero)."""
    return math.copysign(float(round(v)), v)


def drawn_weights(
    draws: Draws, sizes: list[int], style: str, bias: bool = True
) -> tuple[list[list[float]], list[list[float]]]:
    """The values `draw_network` draws, from a Draws: per layer W (n_{l-1} x n_l, C order) and
    W_0, as flat lists (network_of makes them the same Network)."""
    weights = [drawn_values(draws, sizes[l - 1] * sizes[l], style) for l in range(1, len(sizes))]
    if bias:
        biases = [drawn_values(draws, sizes[l], style) for l in range(1, len(sizes))]
    else:
        biases = [[0.0] * sizes[l] for l in range(1, len(sizes))]
    return weights, biases


def network_of(weights: list[list[float]], biases: list[list[float]], activations: list[str]) -> Network:
    """The Network of `drawn_weights`' values (W's rows of n_l entries, W_0 a column)."""
    net = object.__new__(_DrawnNetwork)  # shapes chain and values are finite by construction
    net.layers = []
    for W, W0, name in zip(weights, biases, activations, strict=True):
        n_out = len(W0)
        net.layers.append(Layer(np.array(W).reshape(-1, n_out), np.array(W0).reshape(-1, 1), _activation(name)))
    net.sizes = [len(weights[0]) // len(biases[0]), *map(len, biases)]
    net.numbers = [v for W, W0 in zip(weights, biases, strict=True) for v in (*W, *W0)]
    return net


class _DrawnNetwork(Network):
    """A drawn Network: its layers never change, so its sizes and numbers (see
    `network_numbers`) are stored at construction instead of recomputed."""

    sizes = None  # an instance attribute (set by network_of) in place of Network.sizes
    numbers: list[float] | None = None


def draw_network(
    rng: np.random.Generator, sizes: list[int], activations: list[str], style: str, bias: bool = True
) -> Network:
    """A network with drawn weights (and biases unless bias=False, the 004 style)."""
    weights = [draw_values(rng, (sizes[l - 1], sizes[l]), style) for l in range(1, len(sizes))]
    if bias:
        biases = [draw_values(rng, (sizes[l], 1), style) for l in range(1, len(sizes))]
    else:
        biases = [np.zeros((sizes[l], 1)) for l in range(1, len(sizes))]
    # Drawn values are finite and shaped by construction: skip make_network's re-validation.
    layers = [Layer(W, W0, _activation(a)) for W, W0, a in zip(weights, biases, activations, strict=True)]
    return Network(layers)


_ACTIVATIONS: dict[str, Activation] = {}


def _activation(name: str) -> Activation:
    """Activations by name, built once (they are immutable)."""
    if name not in _ACTIVATIONS:
        _ACTIVATIONS[name] = get_activation(name)
    return _ACTIVATIONS[name]


def check_calculator_friendly(net: Network, trace: Trace) -> None:
    """Raise Redraw on a kink, a saturated squashing unit or a softmax near-tie."""
    for l, layer in enumerate(net.layers, start=1):
        check_layer(layer.activation, trace.Z[l], l)


def check_layer(activation: Activation, z: np.ndarray | list[float], l: int) -> None:
    """The check of layer l's pre-activations z (an array, or one column as a list of floats)."""
    name = activation.name
    values = z if type(z) is list else z.ravel().tolist()
    if name == "sigmoid" or name == "tanh":
        if any(abs(v) > SATURATION for v in values):
            raise Redraw(f"saturated unit in layer {l}")
    elif name == "softmax":
        check_no_tie(np.array(z).reshape(-1, 1) if type(z) is list else z)
    elif _kinked_at_zero(activation) and any(abs(v) < KINK_MARGIN for v in values):
        # Decimal sums that are 0 on paper may come out as ±1e-16, so "on the kink" is |z| < 1e-9.
        raise Redraw(f"pre-activation on a kink in layer {l}")


def clearly_saturated(W: list[float], W0: list[float], x: list[float], activation: str) -> bool:
    """Whether a first layer of sigmoid or tanh units (W flat, n_in x n_out in C order, W0 and
    x as lists) has a pre-activation beyond SATURATION by far more than any rounding: the
    Redraw that `check_layer` makes of the exact pass, found before the network is built.

    About 40% of hand-style draws are redrawn for this; building the network and every forward
    path first was most of their cost. The sums here are Python floats in another order than
    NumPy's matmul, so a value within SATURATION_SLACK of the bound is left to the exact check
    (the draws have a few terms of magnitude <= 9: rounding is below 1e-13).
    """
    if activation != "sigmoid" and activation != "tanh":
        return False
    n_out = len(W0)
    bound = SATURATION + SATURATION_SLACK
    for c, z in enumerate(W0):
        for r, v in enumerate(x):
            z += W[r * n_out + c] * v
        if abs(z) > bound:
            return True
    return False


SATURATION_SLACK = 1e-6


def _kinked_at_zero(activation: Activation) -> bool:
    """Whether the activation has a kink (at 0, as every kinked activation of the notes has);
    the rule of Activation.kinks."""
    name = activation.name
    return name in ("relu", "leaky_relu", "step") or (name == "elu" and activation.params.get("a", 1.0) != 1.0)


def check_no_tie(scores: np.ndarray, gap: float = 0.1) -> None:
    """Raise Redraw if the best two scores of any column are within `gap`."""
    s = np.sort(np.asarray(scores).reshape(scores.shape[0], -1), axis=0)
    if s.shape[0] > 1 and np.any(s[-1] - s[-2] < gap):
        raise Redraw("argmax tie")


def round_sig(x, sig: int):
    """Round to `sig` significant figures, as a student writing intermediates does."""
    x = np.asarray(x, dtype=np.float64)
    magnitude = np.floor(np.log10(np.where(x != 0, np.abs(x), 1.0)))
    exponent = sig - 1 - magnitude
    tiny = exponent > _MAX_EXPONENT
    if tiny.any():
        # |x| below ~1e-300 (subnormals): 10 ** exponent overflows to inf and x * inf / inf is
        # NaN; scale those by 10 ** 300 first (exact enough: such values have few digits left)
        exponent = np.where(tiny, exponent - _MAX_EXPONENT, exponent)
        x = np.multiply(x, _SCALE, out=x.copy(), where=tiny)
        factor = 10.0**exponent
        return np.round(x * factor) / factor / np.where(tiny, _SCALE, 1.0)
    factor = 10.0**exponent
    return np.round(x * factor) / factor


_MAX_EXPONENT = 300  # round_sig's factor 10 ** exponent is finite up to 10 ** 308
_SCALE = 10.0**_MAX_EXPONENT


# Exponents of round_sig's 10.0 ** (sig - 1 - magnitude), computed once by the same np.power.
_POW10_RANGE = 300
_POW10 = dict(
    zip(
        range(-_POW10_RANGE, _POW10_RANGE + 1),
        np.power(10.0, np.arange(-_POW10_RANGE, _POW10_RANGE + 1, dtype=np.float64)).tolist(),
        strict=True,
    )
)


def round_sig_values(values: list[float], sig: int) -> list[float]:
    """`round_sig(values, sig)` on a list of floats, with the same result bit for bit.

    The arithmetic is the same IEEE operations on Python floats; floor(log10|x|) comes from
    math.log10 except within 1e-11 of an integer, where NumPy's own log10 decides it.
    Non-finite or extreme values take round_sig itself.
    """
    out = []
    for x in values:
        if x == 0:
            out.append(x)  # x * factor / factor keeps the zero and its sign
            continue
        if not math.isfinite(x):
            return round_sig(values, sig).tolist()
        t = math.log10(abs(x))
        magnitude = math.floor(t)
        if not 1e-11 < t - magnitude < 1 - 1e-11:
            magnitude = math.floor(np.log10(np.array([abs(x)]))[0])
        factor = _POW10.get(sig - 1 - magnitude)
        if factor is None:
            return round_sig(values, sig).tolist()
        # np.round is half to even, as round() is; |x * factor| >= 10**(sig - 1), never 0.
        out.append(round(x * factor) / factor)
    return out


# --- activations on lists of floats -----------------------------------------------------------


def _sigmoid_values(zs: list[float], params: dict) -> list[float]:
    e = np.exp(np.array([-abs(z) for z in zs])).tolist()
    return [(1.0 if z >= 0 else ez) / (1.0 + ez) for z, ez in zip(zs, e, strict=True)]


def _relu_values(zs: list[float], params: dict) -> list[float]:
    return [z if z > 0.0 or z != z else 0.0 for z in zs]  # np.maximum(z, 0.0): NaN kept, -0 -> 0


def _leaky_values(zs: list[float], params: dict) -> list[float]:
    a = params["a"]
    return [z if z >= 0 else a * z for z in zs]


def _elu_values(zs: list[float], params: dict) -> list[float]:
    a = params["a"]
    e = np.expm1(np.minimum(np.array(zs), 0.0)).tolist()
    return [z if z >= 0 else a * ez for z, ez in zip(zs, e, strict=True)]


def _ufunc_values(ufunc) -> Callable[[list[float], dict], list[float]]:
    return lambda zs, params: ufunc(np.array(zs)).tolist()


# The elementwise activations of nncore.activations, written as the same float operations; the
# transcendental part is one NumPy call on a contiguous 1-D array, the loop NumPy runs on (n, 1).
_ELEMENTWISE_VALUES: dict[str, Callable[[list[float], dict], list[float]]] = {
    "identity": lambda zs, params: list(zs),
    "sigmoid": _sigmoid_values,
    "tanh": _ufunc_values(np.tanh),
    "relu": _relu_values,
    "leaky_relu": _leaky_values,
    "elu": _elu_values,
    "softplus": lambda zs, params: np.logaddexp(0.0, np.array(zs)).tolist(),
}


def activation_columns(activation: Activation, columns: list[list[float]]) -> list[list[float]]:
    """`activation(z)` of each column z (as an n x 1 array would give it), as lists.

    Elementwise activations run once over all columns (of one length); others (softmax)
    column by column.
    """
    values = _ELEMENTWISE_VALUES.get(activation.name)
    if values is None:
        return [activation(np.array(z).reshape(-1, 1))[:, 0].tolist() for z in columns]
    if len(columns) == 1:
        return [values(columns[0], activation.params)]
    n = len(columns[0])
    flat = values(list(chain.from_iterable(columns)), activation.params)
    return [flat[i : i + n] for i in range(0, len(flat), n)]


# --- LaTeX --------------------------------------------------------------------------------------


def fmt(x: float, digits: int = 4) -> str:
    """A number as the notes print it: integers plainly, others to `digits` significant figures."""
    x = float(x)
    if digits == 4:
        text = _FMT4.get(x)
        if text is None:
            text = _fmt(x, 4)
            if len(_FMT4) >= _FMT4_MAX:
                _FMT4.clear()
            _FMT4[x] = text
        return text
    return _fmt(x, digits)


# fmt(x) already written: a pure function of x, and the same weights recur in an instance's
# prompt and solution (and the hand-style values across instances). Cleared when full.
_FMT4: dict[float, str] = {}
_FMT4_MAX = 16384


def _fmt(x: float, digits: int) -> str:
    if x == int(x) and abs(x) < 1e6:  # int(x) refuses NaN and infinities, as fmt always has
        return str(int(x))
    return f"{x:.{digits}g}"


def latex_matrix(m, digits: int = 4) -> str:
    """A vector (as a column) or matrix as a LaTeX bmatrix."""
    if is_float_list(m):
        rows, cols, entries = len(m), 1, m  # a column, as the array path below writes it
    else:
        m = np.asarray(m, dtype=np.float64)
        if m.ndim == 1:
            m = m.reshape(-1, 1)
        if m.ndim != 2:  # not a vector or matrix: as it always did (mostly a TypeError)
            rows = [" & ".join(fmt(v, digits) for v in row) for row in m]
            return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"
        (rows, cols), entries = m.shape, m.ravel().tolist()
    return _layout(bmatrix_slots(rows, cols)).format(*[fmt(v, digits) for v in entries])


# --- layouts: text with a slot for every number, worked out once per shape ------------------------
# An instance's prompt, diagram and solution repeat the same text around different numbers;
# the text around them depends on the sizes and notation only.

SLOT = "\x00"  # marks where a number goes in a layout's text


@functools.lru_cache(maxsize=512)
def _layout(text: str) -> str:
    """A str.format template of `text`: braces escaped, each SLOT a {} field."""
    return text.replace("{", "{{").replace("}", "}}").replace(SLOT, "{}")


@functools.lru_cache(maxsize=256)
def bmatrix_slots(rows: int, cols: int) -> str:
    """latex_matrix's text for a rows x cols matrix, with a SLOT for each entry (row by row)."""
    row = " & ".join([SLOT] * cols)
    return r"\begin{bmatrix}" + r" \\ ".join([row] * rows) + r"\end{bmatrix}"


def fill(text: str, numbers: list[float]) -> str:
    """`text` with its SLOTs replaced by fmt(number), in order."""
    pieces, texts = _pieces(text), fmts(numbers)
    if len(texts) != len(pieces) - 1:  # as str.format has it: too few raise, extras go unused
        return _layout(text).format(*texts)
    return "".join(chain.from_iterable(zip(pieces[:-1], texts, strict=True))) + pieces[-1]


@functools.lru_cache(maxsize=512)
def _pieces(text: str) -> tuple[str, ...]:
    """The text between `text`'s SLOTs (one more than the slots): joined around the numbers,
    they cost less than str.format parsing a long template every time."""
    return tuple(text.split(SLOT))


def fmts(numbers: list[float]) -> list[str]:
    """[fmt(v) for v in numbers], with fmt's memo read inline (a hot loop)."""
    get = _FMT4.get
    return [get(v) or fmt(v) for v in numbers]


def describe_network(net: Network, notation: str) -> str:
    """The weights written out in the chosen notation."""
    text, slots = describe_layout(tuple(net.sizes), notation)
    return fill(text, network_numbers(net, slots))


def network_numbers(net: Network, slots: tuple[int, ...] | None = None) -> list[float]:
    """Every weight of the network in one list, layer by layer W^l (row by row) then W_0^l;
    or those at the given positions of that list (a layout's slots, see `weight_slot`)."""
    numbers = getattr(net, "numbers", None)
    if numbers is None:
        numbers = []
        for layer in net.layers:
            numbers += layer.W.ravel().tolist()
            numbers += layer.W0.ravel().tolist()
    return numbers if slots is None else [numbers[i] for i in slots]


def weight_slot(sizes: tuple[int, ...], l: int, r: int, c: int | None) -> int:
    """The position in network_numbers of W^l[r, c], or of W_0^l[r] when c is None."""
    start = sum(sizes[k - 1] * sizes[k] + sizes[k] for k in range(1, l))
    if c is None:
        return start + sizes[l - 1] * sizes[l] + r
    return start + r * sizes[l] + c


@functools.lru_cache(maxsize=256)
def describe_layout(sizes: tuple[int, ...], notation: str) -> tuple[str, tuple]:
    """describe_network's text with SLOTs, and the network_numbers position each slot shows."""
    slots: list[int] = []
    if notation == "matrix":
        parts = []
        for l in range(1, len(sizes)):
            n_in, n_out = sizes[l - 1], sizes[l]
            slots += [weight_slot(sizes, l, r, c) for r in range(n_in) for c in range(n_out)]
            slots += [weight_slot(sizes, l, r, None) for r in range(n_out)]
            parts.append(f"$W^{{{l}}} = {bmatrix_slots(n_in, n_out)}$, $W_0^{{{l}}} = {bmatrix_slots(n_out, 1)}$")
        return "; ".join(parts), tuple(slots)
    ids = neuron_ids(list(sizes))
    terms = []
    for l in range(1, len(sizes)):
        for c, j in enumerate(ids[l]):
            terms.append(f"w_{{0,{j}}} = {SLOT}")
            slots.append(weight_slot(sizes, l, c, None))
            for r, i in enumerate(ids[l - 1]):
                terms.append(f"w_{{{i},{j}}} = {SLOT}")
                slots.append(weight_slot(sizes, l, r, c))
    return "$" + r",\; ".join(terms) + "$", tuple(slots)


def activation_sentence(net: Network) -> str:
    """Which activation each layer uses, in words."""
    names = [layer.activation.name for layer in net.layers]
    if len(set(names)) == 1:
        return f"Every unit uses the {names[0]} activation."
    hidden = ", ".join(names[:-1])
    return f"Hidden layers use {hidden}; the output layer uses {names[-1]}."


@functools.lru_cache(maxsize=256)
def loss_latex(loss: str, notation: str, sizes: tuple[int, ...]) -> str:
    """The loss formula in the question's notation: the notes' L(g, y) in matrix notation; in
    graph notation over the output units' a_k, as CS 457 writes it ((y − a_7)², Σ_k (y_k − a_k)²),
    since g is the activation function there (g'(in_j))."""
    if notation != "graph":
        return get_loss(loss).latex()
    outputs = neuron_ids(list(sizes))[-1]
    ys = ["y"] if len(outputs) == 1 else [f"y_{{{c + 1}}}" for c in range(len(outputs))]
    pairs = [(y, f"a_{{{k}}}") for y, k in zip(ys, outputs, strict=True)]
    name = get_loss(loss).name
    if name == "nll":
        return r"\mathcal{L}_{nll} = -" + " - ".join(rf"[{y} \log {a} + (1 - {y})\log(1 - {a})]" for y, a in pairs)
    if name == "cross_entropy":
        terms = " + ".join(rf"{y} \log {a}" for y, a in pairs)
        return rf"\mathcal{{L}}_{{nllm}} = -({terms})" if len(pairs) > 1 else rf"\mathcal{{L}}_{{nllm}} = -{terms}"
    return r"\mathcal{L} = " + " + ".join(f"({y} - {a})^2" for y, a in pairs)


def network_diagram(net: Network, notation: str, x=None, y=None) -> dict:
    """Nodes by layer and labelled edges, for a UI to draw the network as the slides do."""
    names = tuple(layer.activation.name for layer in net.layers)
    node_layout, inputs, edge_layout, edge_slots = _diagram_layout(tuple(net.sizes), notation, names)
    nodes = list(map(dict, node_layout))
    if x is not None:
        x = x if is_float_list(x) else np.asarray(x).reshape(-1).tolist()
        for position, c in inputs:
            nodes[position]["value"] = canonical_float(float(x[c]))
    weights = canonical_floats(network_numbers(net, edge_slots))
    edges = [dict(edge, weight=w) for edge, w in zip(edge_layout, weights, strict=True)]
    out = Canonical(notation=notation, nodes=nodes, edges=edges)
    if y is not None:
        y = y if is_float_list(y) else np.asarray(y, dtype=np.float64).reshape(-1).tolist()
        out["target"] = canonical_floats(y)
    return out


@functools.lru_cache(maxsize=256)
def _diagram_layout(sizes: tuple[int, ...], notation: str, activations: tuple[str, ...]) -> tuple:
    """network_diagram's nodes and edges without the numbers: (nodes, (node position, input
    index) of each input, edges with weight None, the network_numbers slots of their weights)."""
    ids = neuron_ids(list(sizes))
    nodes = [{"id": 0, "layer": 0, "label": "1", "role": "bias"}] if notation == "graph" else []
    inputs = []
    for l, layer_ids in enumerate(ids):
        for c, j in enumerate(layer_ids):
            if l == 0:
                label = f"x_{{{c + 1}}}" if notation == "matrix" else f"a_{{{j}}} = x_{{{c + 1}}}"
                inputs.append((len(nodes), c))
                node = {"id": j, "layer": 0, "label": label, "role": "input"}
            else:
                role = "output" if l == len(ids) - 1 else "hidden"
                label = f"a^{{{l}}}_{{{c + 1}}}" if notation == "matrix" else f"a_{{{j}}}"
                node = {"id": j, "layer": l, "label": label, "role": role, "activation": activations[l - 1]}
            nodes.append(node)
    edges, slots = [], []
    for l in range(1, len(ids)):
        for c, j in enumerate(ids[l]):
            bias_label = f"W^{{{l}}}_{{0,{c + 1}}}" if notation == "matrix" else f"w_{{0,{j}}}"
            edges.append({"from": 0, "to": j, "label": bias_label, "weight": None, "bias": True})
            slots.append(weight_slot(sizes, l, c, None))
            for r, i in enumerate(ids[l - 1]):
                label = f"W^{{{l}}}_{{{r + 1},{c + 1}}}" if notation == "matrix" else f"w_{{{i},{j}}}"
                edges.append({"from": i, "to": j, "label": label, "weight": None})
                slots.append(weight_slot(sizes, l, r, c))
    return tuple(nodes), tuple(inputs), tuple(edges), tuple(slots)


def canonical_network(net: Network) -> dict:
    """canonical(net.to_dict()), built directly (float weights, as in every Network)."""
    sizes = net.sizes
    numbers = canonical_floats(network_numbers(net))
    layers, start = [], 0
    for l, layer in enumerate(net.layers, start=1):
        n_out = sizes[l]
        stop = start + sizes[l - 1] * n_out
        layers.append(
            {
                "W": [numbers[i : i + n_out] for i in range(start, stop, n_out)],
                "W0": numbers[stop : stop + n_out],
                "activation": canonical(layer.activation.to_dict()),
                "skip": layer.skip,
            }
        )
        start = stop + n_out
    return {"sizes": list(sizes), "layers": layers}


def activation_derivative_from_output(name: str, a: np.ndarray, params: dict) -> np.ndarray:
    """f'(in) written through a = f(in), as the notes do with σ' = σ(1 - σ).

    Used to carry a student's own a_j forward into Δ_j; every elementwise activation here
    has such a form.
    """
    a = np.asarray(a, dtype=np.float64)
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a**2
    if name == "identity":
        return np.ones_like(a)
    if name == "relu":
        # a = 0 means in_j <= 0; generators redraw in_j = 0 exactly, so the unit is off: 0.
        return np.where(a > 0, 1.0, 0.0)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, params.get("a", 0.1))
    if name == "elu":
        return np.where(a >= 0, 1.0, a + params.get("a", 1.0))
    if name == "softplus":
        return -np.expm1(-a)
    raise ValueError(f"no output form of the derivative of {name!r}")
