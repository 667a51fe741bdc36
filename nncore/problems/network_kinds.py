"""Kinds about one example pushed through a small network: forward pass, loss, Δ, gradients,
SGD updates, and the chained multi-part question with error carried forward.

They share `NetworkKind`: draw a network, an input and a target; compute every quantity with
`chain_pass`; ask some of them as fields in the chosen notation; attach the misconceptions that
can change those fields and the rounded-intermediate alternatives graders accept.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Any, ClassVar

import numpy as np

from nncore.cancellation import NOISE_CEILING
from nncore.losses import get_loss
from nncore.network import Network, network_from_dict
from nncore.notation import neuron_ids
from nncore.problems.base import (
    DEFAULT_TOLERANCE,
    Canonical,
    Draft,
    Field,
    Param,
    ParamError,
    ProblemKind,
    Redraw,
    _close,
    canonical,
    canonical_float,
    canonical_floats,
    canonical_list,
    canonical_step,
    step,
    step_close,
)
from nncore.problems.chain import (
    applicable_mistakes,
    asks_hidden_delta,
    chain_loss,
    chain_pass,
    forward_columns,
    mistake_text,
    transpose_matters,
)
from nncore.problems.common import (
    ELEMENTWISE,
    NOTATION_PARAM,
    SLOT,
    STYLE_PARAM,
    Draws,
    activation_sentence,
    bmatrix_slots,
    canonical_network,
    clearly_saturated,
    describe_layout,
    drawn_values,
    drawn_weights,
    fill,
    fmt,
    latex_matrix,
    loss_latex,
    network_diagram,
    network_numbers,
    network_of,
)

ROUNDED_PATHS = (3, 4)  # significant figures of the calculator paths graders also accept

# A field asks for a quantity of chain_pass, whole or one entry (row, col).
Ask = tuple[Field, str, tuple[int, int] | None]


def sizes_param(default: list[int]) -> Param:
    return Param("sizes", "int_list", default, "units per layer, inputs first (e.g. 2,2,1)", minimum=1, maximum=6)


HIDDEN_PARAM = Param("hidden", "choice", "sigmoid", "activation of hidden units", ELEMENTWISE)
OUTPUT_PARAM = Param("output", "choice", "sigmoid", "activation of output units", (*ELEMENTWISE, "softmax"))
LOSS_PARAM = Param("loss", "choice", "squared", "loss: squared (y - g)^2, nll (binary), cross_entropy", ("squared", "nll", "cross_entropy"))
LR_PARAM = Param("lr", "float", 0.5, "learning rate α", minimum=1e-6, maximum=10.0)
BIAS_PARAM = Param("bias", "bool", True, "whether units have biases w_{0,j} (004's example has none)")


def check_network_params(p: dict) -> None:
    """Sizes, output activation and loss that fit together; a 'layer' within the sizes."""
    sizes = p["sizes"]
    if len(sizes) < 2:
        raise ParamError("parameter 'sizes' needs at least an input and an output layer, e.g. 2,1")
    loss, out = p["loss"], p["output"]
    if loss == "nll" and out != "sigmoid":
        raise ParamError("loss 'nll' needs output 'sigmoid' (a probability in (0, 1))")
    if loss == "cross_entropy" and out != "softmax":
        raise ParamError("loss 'cross_entropy' needs output 'softmax'")
    if out == "softmax" and (loss != "cross_entropy" or sizes[-1] < 2):
        raise ParamError("output 'softmax' needs loss 'cross_entropy' and at least 2 output units")
    if loss == "nll" and sizes[-1] != 1:
        raise ParamError("loss 'nll' is binary: the last size must be 1")
    if "layer" in p and p["layer"] > len(sizes) - 1:
        raise ParamError(f"parameter 'layer' must be at most {len(sizes) - 1} for sizes {sizes}")


class NetworkKind(ProblemKind):
    """Base of the kinds built on one example through a layered network."""

    # v2: a pre-activation that cancels to rounding noise is exactly 0 (chain.snap_cancelled);
    # the rare instances with such a sum (about 1 in 200 forward-pass draws) changed. v3: a draw
    # where a misconception's answer passes as a rounded-path answer is redrawn (ProblemKind._finish;
    # about 1 draw in 5 of the kinds asking Δ, gradients or updates), and in those a W Δ sum or an
    # updated weight that cancels to rounding noise is 0 (chain_pass). Every subclass inherits it.
    version = 4
    # v4: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    topic = "backprop"
    default_sizes: ClassVar[list[int]] = [2, 2, 1]
    params = (
        sizes_param([2, 2, 1]),
        HIDDEN_PARAM,
        OUTPUT_PARAM,
        LOSS_PARAM,
        NOTATION_PARAM,
        STYLE_PARAM,
        LR_PARAM,
        BIAS_PARAM,
    )

    # Whether `asks` draws (which weight to ask about). Kinds that ask the same fields of every
    # network set it False and get rng=None: nothing is drawn after the target then, so build
    # skips handing the Generator back (a state read and write, see Draws.generator).
    asks_draw: ClassVar[bool] = True
    # Whether a forward pass with W^l for (W^l)^T is modelled for every square layer of more
    # than one unit. chain.transpose_matters also asks for no layer of one unit anywhere, so a
    # 2-2-1 net's square W^1 had no such misconception (QA: graded 0 without being named).
    # The backward kinds carry the wrong forward values on into every Δ, gradient and update,
    # as chain_pass's "w_not_transposed" does: a one-unit layer's W^l (n_{l-1} x 1) fits only
    # one way, going forward and back, so on 2-2-1 only W^1 can be misread and the rest of the
    # chain is the notes' formulas on the student's own values. Where a later W^{l+1} is square
    # too, chain_pass takes the student to use it transposed going back as well (W^l read as
    # n_l x n_{l-1} throughout), one of the two readings such a student may have.
    transposes_square_layers: ClassVar[bool] = True

    # --- what a subclass decides ------------------------------------------------------------

    def asks(self, p: dict, net: Network, rng: np.random.Generator | None) -> list[Ask]:
        raise NotImplementedError

    def question(self, p: dict, net: Network) -> str:
        raise NotImplementedError

    # --- shared machinery -------------------------------------------------------------------

    def check_params(self, p: dict) -> None:
        check_network_params(p)

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        sizes = p["sizes"]
        activations = [p["hidden"]] * (len(sizes) - 2) + [p["output"]]
        draws = Draws(rng)
        weights, biases = drawn_weights(draws, sizes, p["style"], bias=p["bias"])
        x = drawn_values(draws, sizes[0], p["style"])
        if clearly_saturated(weights[0], biases[0], x, activations[0]):
            raise Redraw("saturated unit in layer 1")  # as forward_columns' check would
        net = network_of(weights, biases, activations)
        # Every forward pass a forward-only question uses, at once; the exact one is checked
        # layer by layer before anything else, so a redrawn network costs little more than that.
        transposes = self.transposes_square_layers and _square_layer(net)
        forward_paths = _forward_paths(net, transposes)
        forwards = dict(zip(forward_paths, forward_columns(net, x, forward_paths, check=True), strict=True))
        exact = forwards[None, None]
        if not all(math.isfinite(v) for v in exact[f"A{net.depth}"]):
            raise Redraw("non-finite output")
        y = self.draw_target(p, draws)
        asks = self.asks(p, net, draws.generator() if self.asks_draw else None)
        quantities = {q for _, q, _ in asks}
        mistakes = applicable_mistakes(net, p["loss"], quantities)
        if transposes and "w_not_transposed" not in mistakes:
            mistakes.append("w_not_transposed")
        # after the others, as HiddenDelta v5 listed it; applicable_mistakes keeps the list that
        # tests/problems/test_fast_paths.py pins against its original
        if asks_hidden_delta(net, quantities):
            mistakes.append("forgot_gprime")
        paths = [(k, None) for k in ROUNDED_PATHS] + [(None, m) for m in mistakes]
        if all(q.startswith(("Z", "A")) or q == "L" for q in quantities):  # forward only
            values = self._with_loss(exact, net, y, p["loss"], quantities)
            self.check_interesting(values, quantities)
            missing = [path for path in paths if path not in forwards]
            if missing:
                forwards.update(zip(missing, forward_columns(net, x, missing), strict=True))
            passes = [self._with_loss(forwards[path], net, y, p["loss"], quantities) for path in paths]
        else:
            values = chain_pass(net, x, y, p["loss"], p["lr"])
            self.check_interesting(values, quantities)
            passes = [chain_pass(net, x, y, p["loss"], p["lr"], round_to=k, mistake=m) for k, m in paths]
        names = [f.name for f, _, _ in asks]
        specs = [(q, idx) for _, q, idx in asks]
        answers = dict(zip(names, _picks(values, specs), strict=True))
        fields = _with_steps(asks, net)
        steps = {f.name: f.step_from for f in fields if f.step_from is not None}
        draft = Draft(
            text=self.prompt_text(p, net, x, y),
            data=Canonical(
                network=canonical_network(net),
                x=canonical_floats(x),
                y=canonical_floats(y),
                loss=p["loss"],
                lr=canonical_float(p["lr"]),
                notation=p["notation"],
                quantities={f.name: [q, list(idx) if idx else None] for f, q, idx in asks},
            ),
            fields=fields,
            answers=Canonical(zip(answers, canonical_list(answers.values()), strict=True)),
            solution=solution_steps(net, p["notation"], values, quantities, p["loss"], p["lr"]),
            diagram=network_diagram(net, p["notation"], x, y),
        )
        draft.alternatives = _alternatives(names, [_picks(v, specs) for v in passes[: len(ROUNDED_PATHS)]])
        for mistake, wrong in zip(mistakes, passes[len(ROUNDED_PATHS) :], strict=True):
            finite = {k: v for k, v in zip(names, _picks(wrong, specs), strict=True) if _all_finite(v)}
            if p["style"] == "hand" and any(map(_vanishes, finite.values())):
                raise Redraw(f"{mistake} saturates a unit: its Δ comes out as a nonzero below 1e-9")
            if _differs({"answers": finite}, answers, steps):
                name, explanation = mistake_text(mistake, p["notation"])
                draft.misconceptions.append(
                    Canonical(
                        id=mistake,
                        name=name,
                        explanation=explanation,
                        answers=dict(zip(finite, canonical_list(finite.values()), strict=True)),
                    )
                )
        return draft

    @staticmethod
    def _with_loss(values: dict, net: Network, y: list[float], loss: str, quantities: set[str]) -> dict:
        """Forward values plus chain_pass's "L" when it is asked (nothing else reads it)."""
        if "L" not in quantities:
            return values
        return {**values, "L": chain_loss(values[f"A{net.depth}"], y, loss)}

    def draw_target(self, p: dict, draws: Draws) -> list[float]:
        n_out = p["sizes"][-1]
        if p["loss"] == "cross_entropy":
            k = draws.integers(0, n_out, 1)[0]
            return [1.0 if i == k else 0.0 for i in range(n_out)]  # np.eye(n_out)[k]
        if p["loss"] == "nll" or p["output"] == "sigmoid":
            return [float(v) for v in draws.integers(0, 2, n_out)]
        return drawn_values(draws, n_out, p["style"], nonzero=False)

    def check_interesting(self, values: dict, quantities: set[str]) -> None:
        """Redraw when every asked gradient is zero (a dead network says nothing about Δ)."""
        grads = [values[q] for q in quantities if q.startswith(("D", "dW"))]
        if grads and all(np.all(np.abs(g) < 1e-12) for g in grads):
            raise Redraw("all asked gradients vanish")

    def prompt_text(self, p: dict, net: Network, x: list[float], y: list[float]) -> str:
        text, slots = _prompt_layout(
            tuple(net.sizes), p["notation"], activation_sentence(net), p["loss"], fmt(p["lr"]), self.question(p, net)
        )
        return fill(text, [*network_numbers(net, slots), *x, *y])

    def recompute(self, instance: dict, given: dict[str, Any], round_to: int | None = None) -> dict[str, Any]:
        """Expected answers when the student's own earlier values are carried forward (with
        `round_to`, every later intermediate written to that many figures); what is carried is
        `_carried_overrides`'."""
        data = instance["prompt"]["data"]
        net = network_from_dict(data["network"])
        forward_only = _forward_only(data)
        override, _ = self._carried_overrides(data, net, given)
        carried = chain_pass(
            net,
            np.array(data["x"]),
            np.array(data["y"]),
            data["loss"],
            data["lr"],
            override=override,
            round_to=round_to,
            forward_only=forward_only,
        )
        return {
            name: _pick(carried, q, tuple(idx) if idx else None)
            for name, (q, idx) in data["quantities"].items()
        }

    def uncarried(self, instance: dict, given: dict[str, Any]) -> dict[str, str]:
        """The student's values that `recompute` does not build on, each with why (the grader
        adds it to that field's feedback)."""
        data = instance["prompt"]["data"]
        return self._carried_overrides(data, network_from_dict(data["network"]), given)[1]

    @staticmethod
    def _carried_overrides(data: dict, net: Network, given: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The chain quantities error carried forward builds on (the exact ones with the
        student's values put in, field by field in the chain's order), and the fields left out
        with why: an activation value its activation does not give (see _carried_mask), and any
        other value that makes later ones vanish (at most TRIVIAL_SHARE of the right one's size)
        without following from the student's earlier values: a Δ typed as 0 turned every later
        gradient and step into zeros and printed weights (QA)."""
        x, y = np.array(data["x"]), np.array(data["y"])
        # a forward-only question needs no backward pass (nor its errors for an invalid output)
        forward_only = _forward_only(data)
        exact = chain_pass(net, x, y, data["loss"], data["lr"], forward_only=forward_only)
        override: dict[str, np.ndarray] = {}
        left_out: dict[str, str] = {}
        for name, (quantity, idx) in data["quantities"].items():
            if name not in given:
                continue
            value = np.asarray(given[name], dtype=np.float64)
            if not np.all(np.isfinite(value)):
                continue
            where = tuple(idx) if idx else ...
            right = exact[quantity][where]
            if np.size(value) != np.size(right):
                continue
            value = value.reshape(np.shape(right))
            keep = _carried_mask(net, quantity, value)
            if not np.all(keep):
                left_out[name] = UNCARRIED.format(activation=net.layer(int(quantity[1:])).activation.name)
            # (an activation's own value is judged by _carried_mask: a ReLU's 0 stays carried)
            vanishing = keep & (np.abs(right) > 0) & (np.abs(value) <= TRIVIAL_SHARE * np.abs(right))
            vanishing &= not quantity.startswith("A")
            if np.any(vanishing):  # kept only where it follows from the earlier values
                so_far = chain_pass(net, x, y, data["loss"], data["lr"], override=override, forward_only=forward_only)
                follows = np.isclose(value, so_far[quantity][where], rtol=1e-2, atol=1e-12)
                if not np.all(follows | ~vanishing):
                    left_out.setdefault(name, UNFOLLOWED)
                keep = keep & (follows | ~vanishing)
            base = override.setdefault(quantity, exact[quantity].copy())
            base[where] = np.where(keep, value, base[where])
        return override, left_out


@functools.lru_cache(maxsize=256)
def _prompt_layout(
    sizes: tuple[int, ...], notation: str, activations: str, loss: str, lr: str, question: str
) -> tuple[str, tuple]:
    """NetworkKind.prompt_text with SLOTs for the weights (their network_numbers slots), then
    the entries of x, then those of y."""
    described, slots = describe_layout(sizes, notation)
    parts = [
        f"A {'-'.join(map(str, sizes))} feed-forward network has weights {described}.",
        activations,
        f"The input is $x = {bmatrix_slots(sizes[0], 1)}$ with target $y = {bmatrix_slots(sizes[-1], 1)}$; "
        f"the loss is ${loss_latex(loss, notation, sizes)}$ and the learning rate is $\\alpha = {lr}$.",
        question,
    ]
    return " ".join(parts), slots


# --- field construction -------------------------------------------------------------------------


def quantity_asks(net: Network, notation: str, quantity: str, entries=None, depends_on=()) -> list[Ask]:
    """Fields for one chain quantity: whole vectors/matrices in matrix notation, one number per
    neuron or edge in graph notation (`entries` restricts which)."""
    entries = tuple(tuple(idx) for idx in entries) if entries else None
    return list(_quantity_asks(tuple(net.sizes), notation, quantity, entries, tuple(depends_on)))


@functools.lru_cache(maxsize=1024)
def _quantity_asks(sizes: tuple[int, ...], notation: str, quantity: str, entries, depends_on: tuple) -> tuple:
    """quantity_asks' asks, made once per layout: every instance of the layout shares these
    Field objects, which are only read (Field.to_dict gives each instance its own lists)."""
    return tuple(
        (Field(name, label, shape, ftype, depends_on=list(depends_on)), quantity, idx)
        for name, label, shape, ftype, idx in _field_specs(sizes, notation, quantity, entries)
    )


def _field_specs(sizes: tuple[int, ...], notation: str, quantity: str, entries) -> tuple:
    """(name, label, shape, type, entry) of quantity_asks' fields (cached by _quantity_asks)."""
    kind, l = _split(quantity)
    if not 1 <= l < len(sizes):
        raise ValueError(f"layer number must be in 1..{len(sizes) - 1}, got {l}")
    value_shape = (sizes[l - 1], sizes[l]) if kind in ("dW", "Wnew") else (sizes[l], 1)
    if notation == "matrix" and entries:
        return tuple((*_matrix_entry_name(kind, l, idx), (), "number", tuple(idx)) for idx in entries)
    if notation == "matrix":
        label, name = _matrix_label(kind, l)
        shape = (value_shape[0],) if value_shape[1] == 1 else value_shape
        ftype = "vector" if len(shape) == 1 else "matrix"
        if shape == (1,):
            shape, ftype = (), "number"
        return ((name, label, shape, ftype, None),)
    ids = neuron_ids(list(sizes))
    specs = []
    for idx in entries or itertools.product(range(value_shape[0]), range(value_shape[1])):
        name, label = _graph_name(kind, l, idx, ids)
        specs.append((name, label, (), "number", tuple(idx)))
    return tuple(specs)


def _split(quantity: str) -> tuple[str, int]:
    if quantity.endswith("_new"):
        base = quantity[: -len("_new")]
        kind = "W0new" if base.startswith("W0") else "Wnew"
        return kind, int(base[2:] if kind == "W0new" else base[1:])
    for prefix in ("dW0", "dW", "Z", "A", "D"):
        if quantity.startswith(prefix):
            return prefix, int(quantity[len(prefix):])
    raise ValueError(f"unknown quantity {quantity!r}")


def _matrix_label(kind: str, l: int) -> tuple[str, str]:
    return {
        "Z": (f"$Z^{{{l}}}$", f"Z{l}"),
        "A": (f"$A^{{{l}}}$", f"A{l}"),
        "D": (f"$\\partial L/\\partial Z^{{{l}}}$", f"dLdZ{l}"),
        "dW": (f"$\\partial L/\\partial W^{{{l}}}$", f"dLdW{l}"),
        "dW0": (f"$\\partial L/\\partial W_0^{{{l}}}$", f"dLdW0{l}"),
        "Wnew": (f"$W^{{{l}}}$ after the update", f"W{l}_new"),
        "W0new": (f"$W_0^{{{l}}}$ after the update", f"W0{l}_new"),
    }[kind]


def _matrix_entry_name(kind: str, l: int, idx: tuple[int, int]) -> tuple[str, str]:
    """Name and label of one entry of W^l's gradient or update in matrix notation, 1-based as
    the printed matrices (∂L/∂W^1_{2,1}: a matrix question named it ∂J/∂w_{2,4}, a unit
    number its prompt never shows)."""
    r, c = idx[0] + 1, idx[1] + 1
    if kind == "dW":
        return f"dLdW{l}_{r}_{c}", f"$\\partial L/\\partial W^{{{l}}}_{{{r},{c}}}$"
    if kind == "Wnew":
        return f"W{l}_{r}_{c}_new", f"$W^{{{l}}}_{{{r},{c}}}$ after the update"
    raise ValueError(f"no single-entry field for {kind!r} in matrix notation")


# Field name and label of a per-unit quantity of unit j (str.format templates).
_UNIT_NAMES = {
    "Z": ("in_{j}", "$in_{{{j}}}$"),
    "A": ("a_{j}", "$a_{{{j}}}$"),
    "D": ("delta_{j}", "$\\Delta_{{{j}}}$"),
    "dW0": ("dJdw_0_{j}", "$\\partial J/\\partial w_{{0,{j}}}$"),
    "W0new": ("w_0_{j}_new", "$w_{{0,{j}}}^{{(t+1)}}$"),
}


def _graph_name(kind: str, l: int, idx: tuple[int, int], ids: list[list[int]]) -> tuple[str, str]:
    r, c = idx
    if kind in _UNIT_NAMES:
        name, label = _UNIT_NAMES[kind]
        j = ids[l][r]
        return name.format(j=j), label.format(j=j)
    i, j = ids[l - 1][r], ids[l][c]
    if kind == "dW":
        return f"dJdw_{i}_{j}", f"$\\partial J/\\partial w_{{{i},{j}}}$"
    return f"w_{i}_{j}_new", f"$w_{{{i},{j}}}^{{(t+1)}}$"


def _pick(values: dict, quantity: str, idx) -> Any:
    value = values[quantity]
    if type(value) is list:  # an n x 1 column from forward_columns
        if idx is not None:
            return value[idx[0]]
        return value[0] if len(value) == 1 else value
    if idx is not None:
        return float(value[tuple(idx)])
    if value.size == 1:
        return float(value.reshape(()))
    return value[:, 0] if value.ndim == 2 and value.shape[1] == 1 else value


def _alternatives(names: list[str], rounded: list[list]) -> dict[str, list]:
    """Each field's value on every rounded path (`_picks` of each), canonical; raw if one is
    not finite, so that `_finish` refuses it where it always has."""
    picked = {name: list(values) for name, values in zip(names, zip(*rounded, strict=True), strict=True)} if rounded else {}
    try:
        flat = canonical_list([v for values in picked.values() for v in values])  # one pass
    except ValueError:
        return picked
    k = len(rounded)
    return Canonical((name, flat[i : i + k]) for name, i in zip(picked, range(0, len(flat), k), strict=True))


def _picks(values: dict, specs: list[tuple[str, Any]]) -> list:
    return [_pick(values, quantity, idx) for quantity, idx in specs]


def _forward_paths(net: Network, transposes: bool = False) -> list[tuple[int | None, str | None]]:
    """(round_to, mistake) of the exact pass, the rounded paths and the forward mistakes
    (`transposes`: W for W^T whenever a square layer has more than one unit)."""
    paths = [(None, None), *((k, None) for k in ROUNDED_PATHS), (None, "forgot_bias")]
    return paths + [(None, "w_not_transposed")] if transposes or transpose_matters(net) else paths


def _square_layer(net: Network) -> bool:
    """Whether some W^l is square with more than one row: W^l then gives other numbers than
    (W^l)^T going forward, whatever the other layers' sizes."""
    return any(layer.W.shape[0] == layer.W.shape[1] > 1 for layer in net.layers)


def _all_finite(value: Any) -> bool:
    """np.all(np.isfinite(value)) for a float, a list of floats or an array."""
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(math.isfinite(v) for v in value)
    return bool(np.all(np.isfinite(value)))


# Error carried forward builds on a student's activation value only where the activation gives
# it with a slope of at least this share of its steepest: a sigmoid's 0 or 1 (or 1e-12) zeroes
# g'(in_j), and with it every Δ, gradient and step after it, so typed zeros and the printed
# weights earned 14 of backprop_chain's 17 fields (QA). A ReLU's 0 is a value it gives (for a
# negative in_j) and stays carried: an honest slip there is followed as before.
CARRIED_SLOPE_SHARE = 1e-4
# A student's value at most this share of the right one's size is carried only where it follows
# from their earlier values (a ReLU unit their own slip zeroed): otherwise it is a shortcut.
TRIVIAL_SHARE = 1e-3
UNFOLLOWED = (
    "This value does not follow from your earlier answers and makes the later ones vanish, so later "
    "answers are judged against the right values, not carried forward from it."
)
UNCARRIED = (
    "The {activation} activation does not give this value (or only where its slope is practically 0), "
    "so later answers are judged against the right values, not carried forward from it."
)


def _forward_only(data: dict) -> bool:
    """Whether a question asks only forward values (and the loss): no backward pass is needed."""
    return all(q.startswith(("Z", "A")) or q == "L" for q, _ in data["quantities"].values())


def _carried_mask(net: Network, quantity: str, value: np.ndarray) -> np.ndarray:
    """Entry by entry, whether error carried forward may build on the student's `value` of an
    activation quantity ("A{l}"); other quantities are always carried."""
    value = np.asarray(value, dtype=np.float64)
    if not quantity.startswith("A") or not quantity[1:].isdigit() or int(quantity[1:]) < 1:
        return np.ones(value.shape, dtype=bool)
    activation = net.layer(int(quantity[1:])).activation
    name = activation.name
    with np.errstate(all="ignore"):
        if name in ("sigmoid", "softmax"):  # slope a(1 - a), at most 1/4
            return value * (1.0 - value) >= 0.25 * CARRIED_SLOPE_SHARE
        if name == "tanh":  # slope 1 - a², at most 1
            return 1.0 - value * value >= CARRIED_SLOPE_SHARE
        if name == "relu":
            return value >= 0.0
        if name == "softplus":
            return value > 0.0
        if name == "elu":
            return value > -float(activation.params.get("a", 1.0))
        if name == "step":
            return (value == 0.0) | (value == 1.0)
    return np.ones(value.shape, dtype=bool)  # identity, leaky ReLU: any value


def _vanishes(value: Any) -> bool:
    """Whether some entry is nonzero yet below NOISE_CEILING (1e-9): a hand instance's
    mistake only gets that through a saturated unit (the wrong forward pass of 2-2-1's
    transpose mistake, σ(20)), which hand draws promise not to have."""
    entries = np.ravel(np.asarray(value, dtype=np.float64))
    return bool(np.any((entries != 0.0) & (np.abs(entries) < NOISE_CEILING)))


def _entries(value: Any) -> list[float]:
    """The entries of an n x 1 quantity: the list itself, or the array's column as a list."""
    return value if type(value) is list else value[:, 0].tolist()


@functools.lru_cache(maxsize=256)
def _forward_step_layout(l: int, f: str, n: int) -> str:
    """The LaTeX of a layer's forward step, with SLOTs for Z^l's then A^l's n entries."""
    column = bmatrix_slots(n, 1)
    return f"Z^{{{l}}} = (W^{{{l}}})^T A^{{{l - 1}}} + W_0^{{{l}}} = {column},\\;A^{{{l}}} = {f}(Z^{{{l}}}) = {column}"


def _differs(misconception: dict, answers: dict, steps: dict | None = None) -> bool:
    """Whether the mistake changes at least one asked answer beyond the default tolerance, or
    an updated weight beyond what its step allows (`steps`: field -> w^(t), base.step_close)."""
    steps = steps or {}
    return any(
        not _close(v, answers[k], DEFAULT_TOLERANCE) or (k in steps and not step_close(v, answers[k], steps[k]))
        for k, v in misconception["answers"].items()
    )


def _with_steps(asks: list[Ask], net: Network) -> list[Field]:
    """The asked fields, each updated weight's with its value before the step (step_from): an
    update is graded on its change too, which is often smaller than the tolerance."""
    fields = []
    for f, quantity, idx in asks:
        if quantity.endswith("_new"):
            kind, l = _split(quantity)
            layer = net.layer(l)
            start = layer.W0 if kind == "W0new" else layer.W
            f = dataclasses.replace(f, step_from=canonical(_pick({quantity: start}, quantity, idx)))
        fields.append(f)
    return fields


# --- worked solutions ---------------------------------------------------------------------------


def solution_steps(net: Network, notation: str, values: dict, asked: set[str], loss: str, lr: float) -> list[dict]:
    """The board work up to the last asked quantity: forward, loss, Δ, gradients, updates, in
    the question's notation (graph: per unit and edge, as the CS 457 notes and the prompt write it).

    The steps come canonical (see Canonical); with a non-finite value they come plain, for
    `_finish` to refuse as it always has.
    """
    build = _graph_solution_steps if notation == "graph" else _solution_steps
    try:
        return build(net, values, asked, loss, lr, canonical_step)
    except ValueError:
        return build(net, values, asked, loss, lr, step)


def _solution_steps(net: Network, values: dict, asked: set[str], loss: str, lr: float, step) -> list[dict]:
    L = net.depth
    steps = []
    needs_backward = any(not (q.startswith(("Z", "A")) or q == "L") for q in asked)
    for l, layer in enumerate(net.layers, start=1):
        z, a = _entries(values[f"Z{l}"]), _entries(values[f"A{l}"])
        text = _forward_step_layout(l, layer.activation.latex(), len(z))
        steps.append(step(f"Layer {l} forward", fill(text, z + a), Z=z, A=a))
    if "L" in asked or needs_backward:
        steps.append(step("Loss", f"{get_loss(loss).latex()} = {fmt(values['L'])}", L=float(values["L"])))
    if not needs_backward:
        return steps
    steps.append(
        step(
            "Output Δ",
            f"\\Delta^{{{L}}} = \\partial L/\\partial Z^{{{L}}} = {latex_matrix(values[f'D{L}'])}",
            delta=values[f"D{L}"][:, 0],
        )
    )
    for l in range(L - 1, 0, -1):
        steps.append(
            step(
                f"Layer {l} Δ",
                f"\\Delta^{{{l}}} = f'(Z^{{{l}}}) \\odot W^{{{l + 1}}} \\Delta^{{{l + 1}}} = {latex_matrix(values[f'D{l}'])}",
                delta=values[f"D{l}"][:, 0],
            )
        )
    if any(q.startswith(("dW", "W")) for q in asked):
        for l in range(1, L + 1):
            steps.append(
                step(
                    f"Layer {l} gradients",
                    f"\\partial L/\\partial W^{{{l}}} = A^{{{l - 1}}} (\\Delta^{{{l}}})^T = {latex_matrix(values[f'dW{l}'])},\\;"
                    f"\\partial L/\\partial W_0^{{{l}}} = \\Delta^{{{l}}}",
                    dW=values[f"dW{l}"],
                    dW0=values[f"dW0{l}"][:, 0],
                )
            )
    if any(q.endswith("_new") for q in asked):
        for l in range(1, L + 1):
            steps.append(
                step(
                    f"Layer {l} update",
                    f"W^{{{l}}} \\leftarrow W^{{{l}}} - {fmt(lr)}\\,\\partial L/\\partial W^{{{l}}} = {latex_matrix(values[f'W{l}_new'])}",
                    W=values[f"W{l}_new"],
                    W0=values[f"W0{l}_new"][:, 0],
                )
            )
    return steps


def _graph_solution_steps(net: Network, values: dict, asked: set[str], loss: str, lr: float, step) -> list[dict]:
    """_solution_steps in graph notation: in_j, a_j, Δ_j, ∂J/∂w_{i,j} and w_{i,j}^{(t+1)} of
    every unit and edge, with the same titles and values (only the LaTeX differs)."""
    L, sizes = net.depth, tuple(net.sizes)
    steps = []
    needs_backward = any(not (q.startswith(("Z", "A")) or q == "L") for q in asked)
    for l, layer in enumerate(net.layers, start=1):
        z, a = _entries(values[f"Z{l}"]), _entries(values[f"A{l}"])
        text = _graph_forward_layout(sizes, l, layer.activation.latex(), layer.activation.name == "softmax")
        steps.append(step(f"Layer {l} forward", fill(text, z + a), Z=z, A=a))
    if "L" in asked or needs_backward:
        steps.append(step("Loss", f"{loss_latex(loss, 'graph', sizes)} = {fmt(values['L'])}", L=float(values["L"])))
    if not needs_backward:
        return steps
    delta = _entries(values[f"D{L}"])
    steps.append(step("Output Δ", fill(_graph_delta_layout(sizes, L), delta), delta=values[f"D{L}"][:, 0]))
    for l in range(L - 1, 0, -1):
        text = fill(_graph_delta_layout(sizes, l), _entries(values[f"D{l}"]))
        steps.append(step(f"Layer {l} Δ", text, delta=values[f"D{l}"][:, 0]))
    if any(q.startswith(("dW", "W")) for q in asked):
        for l in range(1, L + 1):
            dW, dW0 = values[f"dW{l}"], values[f"dW0{l}"]
            text = fill(_graph_gradient_layout(sizes, l), _by_unit(dW, dW0))
            steps.append(step(f"Layer {l} gradients", text, dW=dW, dW0=dW0[:, 0]))
    if any(q.endswith("_new") for q in asked):
        for l in range(1, L + 1):
            W, W0 = values[f"W{l}_new"], values[f"W0{l}_new"]
            biases = f"W0{l}_new" in asked  # as the matrix steps, a bias only when it is asked
            text = fill(_graph_update_layout(sizes, l, fmt(lr), biases), _by_unit(W, W0 if biases else None))
            steps.append(step(f"Layer {l} update", text, W=W, W0=W0[:, 0]))
    return steps


def _by_unit(W: np.ndarray, W0: np.ndarray | None) -> list[float]:
    """The entries of a layer's W (and W_0) unit by unit, as the graph layouts list the edges:
    for every unit j, w_{0,j} (if W0 is given) and then w_{i,j} for every sender i."""
    out = []
    for c in range(W.shape[1]):
        if W0 is not None:
            out.append(float(W0[c, 0]))
        out += W[:, c].tolist()
    return out


@functools.lru_cache(maxsize=256)
def _graph_forward_layout(sizes: tuple[int, ...], l: int, f: str, softmax: bool) -> str:
    """Layer l's every in_j, then every a_j = f(in_j) (a softmax needs all in_j first), with a
    SLOT for each value, in that order."""
    ids = neuron_ids(list(sizes))
    inputs, outputs = [], []
    total = " + ".join(f"e^{{in_{{{k}}}}}" for k in ids[l])
    for j in ids[l]:
        terms = " + ".join([f"w_{{0,{j}}}", *(f"w_{{{i},{j}}} a_{{{i}}}" for i in ids[l - 1])])
        inputs.append(f"in_{{{j}}} = {terms} = {SLOT}")
        output = f"e^{{in_{{{j}}}}} / ({total})" if softmax else f"{f}(in_{{{j}}})"
        outputs.append(f"a_{{{j}}} = {output} = {SLOT}")
    return r",\;".join(inputs + outputs)


@functools.lru_cache(maxsize=256)
def _graph_delta_layout(sizes: tuple[int, ...], l: int) -> str:
    """Every Δ_j of layer l, with a SLOT for each: ∂J/∂in_j at the output, the notes'
    recursion g'(in_j) Σ_j' w_{j,j'} Δ_j' in a hidden layer."""
    ids = neuron_ids(list(sizes))
    units = []
    for j in ids[l]:
        if l == len(sizes) - 1:
            units.append(rf"\Delta_{{{j}}} = \partial J/\partial in_{{{j}}} = {SLOT}")
            continue
        terms = [rf"w_{{{j},{k}}} \Delta_{{{k}}}" for k in ids[l + 1]]
        total = terms[0] if len(terms) == 1 else f"({' + '.join(terms)})"
        units.append(rf"\Delta_{{{j}}} = g'(in_{{{j}}})\,{total} = {SLOT}")
    return r",\;".join(units)


@functools.lru_cache(maxsize=256)
def _graph_gradient_layout(sizes: tuple[int, ...], l: int) -> str:
    """∂J/∂w_{0,j} = Δ_j and ∂J/∂w_{i,j} = Δ_j a_i of layer l's edges, a SLOT each (_by_unit's order)."""
    ids = neuron_ids(list(sizes))
    terms = []
    for j in ids[l]:
        terms.append(rf"\partial J/\partial w_{{0,{j}}} = \Delta_{{{j}}} = {SLOT}")
        terms += [rf"\partial J/\partial w_{{{i},{j}}} = \Delta_{{{j}}} a_{{{i}}} = {SLOT}" for i in ids[l - 1]]
    return r",\;".join(terms)


@functools.lru_cache(maxsize=256)
def _graph_update_layout(sizes: tuple[int, ...], l: int, lr: str, biases: bool) -> str:
    """w_{i,j}^{(t+1)} ← w_{i,j}^{(t)} − α ∂J/∂w_{i,j} of layer l's edges (w_{0,j} too with
    `biases`), a SLOT each (_by_unit's order)."""
    ids = neuron_ids(list(sizes))
    terms = []
    for j in ids[l]:
        for i in ([0] if biases else []) + ids[l - 1]:
            w = f"w_{{{i},{j}}}"
            terms.append(rf"{w}^{{(t+1)}} \leftarrow {w}^{{(t)}} - {lr}\,\partial J/\partial {w} = {SLOT}")
    return r",\;".join(terms)


# --- the kinds ----------------------------------------------------------------------------------


class ForwardMLP(NetworkKind):
    """Every in_j and a_j (Z^l and A^l), in order. Chained: a later value is also graded against
    `recompute`, what it is from the student's own earlier values (a_j from their in_j, a layer
    from their previous layer), so one slip in layer 1 does not zero the layers after it."""

    id = "forward_mlp"
    # v5: chained, every field depends on the ones before it (error carried forward; QA: a slip
    # in layer 1 zeroed every later layer), and W for W^T is a misconception for every square
    # layer of more than one unit (2-2-1's W^1 had none)
    # v6: in graph notation the worked solution is written per unit and edge (in_j, a_j, Δ_j,
    # g'(in_j), ∂J/∂w_{i,j}) and W for W^T is explained with w_{i,j}
    # v7: every mistake's name and explanation in the question's notation (matrix: Z^l, A^l,
    # W^l, Δ^l; chain.MISTAKES / GRAPH_MISTAKES), and the graph loss written over the output
    # units' a_k, (y - a_5)^2, not L(g, y) (g is the activation in graph notation)
    version = 7
    title = "Forward pass through a network"
    description = "Compute every pre-activation and activation of a small MLP for one input."
    topic = "forward"
    params = (*NetworkKind.params, Param("ask", "choice", "all", "which values to ask", ("all", "output")))
    asks_draw = False
    chained = True

    def asks(self, p, net, rng):
        asks: list[Ask] = []
        layers = range(1, net.depth + 1) if p["ask"] == "all" else [net.depth]
        for l in layers:
            for quantity in (f"Z{l}", f"A{l}"):
                depends_on = [f.name for f, _, _ in asks] if self.chained else ()
                asks += quantity_asks(net, p["notation"], quantity, depends_on=depends_on)
        return asks

    def question(self, p, net):
        what = "every $in_j$ and $a_j$" if p["notation"] == "graph" else "every $Z^l$ and $A^l$"
        return f"Compute {what} of the forward pass." if p["ask"] == "all" else "Compute the output."


class ForwardLayer(ForwardMLP):
    id = "forward_layer"
    # One layer: not chained (a_j is not carried from a wrong in_j), so its instances stay as
    # they were; the transpose rule changes nothing with two sizes (chain.transpose_matters).
    # v5 (forward_neuron too): in graph notation the worked solution is written per unit and edge
    # (in_j, a_j, Δ_j, g'(in_j), ∂J/∂w_{i,j}) and W for W^T is explained with w_{i,j}
    # v6 (forward_neuron too): as ForwardMLP v7
    version = 6
    chained = False
    title = "Forward pass through one layer"
    description = "Pre-activations and activations of one fully connected layer."
    params = tuple(sizes_param([3, 2]) if q.name == "sizes" else q for q in ForwardMLP.params)

    def check_params(self, p):
        super().check_params(p)
        if len(p["sizes"]) != 2:
            raise ParamError("parameter 'sizes' must be two numbers (inputs, units) for one layer")


class ForwardNeuron(ForwardLayer):
    id = "forward_neuron"
    title = "Forward pass of one neuron"
    description = "in_j = Σ w_{i,j} a_i and a_j = g(in_j) of a single neuron (002's logistic unit)."
    params = tuple(sizes_param([2, 1]) if q.name == "sizes" else q for q in ForwardMLP.params)

    def check_params(self, p):
        super().check_params(p)
        if p["sizes"][1] != 1:
            raise ParamError("parameter 'sizes' must end in 1 for a single neuron, e.g. 2,1")


class LossValue(NetworkKind):
    id = "loss_value"
    # v2: the worked solution stops at the loss; v3: cancelled sums are 0 (NetworkKind); v4: no
    # misconception passes as a rounded-path answer (NetworkKind v3)
    # v5: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    # v6: chained, the loss depends on the output (error carried forward: the loss of the
    # student's own output is right), and W for W^T is a misconception for every square layer
    # of more than one unit (as ForwardMLP v5)
    # v7: in graph notation the worked solution is written per unit and edge (in_j, a_j, Δ_j,
    # g'(in_j), ∂J/∂w_{i,j}) and W for W^T is explained with w_{i,j}
    # v8: as ForwardMLP v7
    version = 8
    title = "Loss of a prediction"
    description = "Forward pass to the output, then the loss value (squared, NLL or cross-entropy)."
    topic = "loss"
    chained = True

    asks_draw = False

    def asks(self, p, net, rng):
        out = quantity_asks(net, p["notation"], f"A{net.depth}")
        loss = Field("L", "$\\mathcal{L}$", (), "number", depends_on=[f.name for f, _, _ in out])
        return [*out, (loss, "L", None)]

    def question(self, p, net):
        return "Compute the network's output and the loss $\\mathcal{L}$."


class OutputDelta(NetworkKind):
    id = "output_delta"
    # v5: W for W^T going forward on a square layer of more than one unit is a misconception,
    # carried into Δ (2-2-1's W^1; QA: graded 0 without being named), and in graph notation
    # the worked solution is written per unit and edge as ForwardMLP v6
    # v6: as ForwardMLP v7, and the matrix question asks Δ^L = ∂L/∂Z^L (it was Δ_j = ∂J/∂in_j)
    version = 6
    title = "Output-layer Δ"
    description = "Δ_j = ∂L/∂in_j of the output units (base case of backpropagation)."

    asks_draw = False

    def asks(self, p, net, rng):
        return quantity_asks(net, p["notation"], f"D{net.depth}")

    def question(self, p, net):
        if p["notation"] == "matrix":
            L = net.depth
            return f"Compute $\\Delta^{{{L}}} = \\partial L/\\partial Z^{{{L}}}$ of the output layer."
        return "Compute $\\Delta_j = \\partial J/\\partial in_j$ for the output unit(s)."


class HiddenDelta(NetworkKind):
    id = "hidden_delta"
    version = 7
    # v5: leaving out g'(in_j), Δ_j = Σ_j' w_{j,j'} Δ_j', is a misconception (QA: graded 0
    # without being named)
    # v6: W for W^T going forward is a misconception on 2-2-1's W^1 too (as OutputDelta v5), and
    # in graph notation the worked solution is written per unit and edge as ForwardMLP v6
    # v7: as ForwardMLP v7, and the matrix question asks Δ^l = ∂L/∂Z^l (it was Δ_j)
    title = "Hidden-layer Δ"
    description = "Δ_j = g'(in_j) Σ w_{j,j'} Δ_j' of the last hidden layer (the recursive case)."

    def check_params(self, p):
        super().check_params(p)
        if len(p["sizes"]) < 3:
            raise ParamError("parameter 'sizes' needs a hidden layer, e.g. 2,2,1")

    asks_draw = False

    def asks(self, p, net, rng):
        return quantity_asks(net, p["notation"], f"D{net.depth - 1}")

    def question(self, p, net):
        if p["notation"] == "matrix":
            l = net.depth - 1
            return f"Compute $\\Delta^{{{l}}} = \\partial L/\\partial Z^{{{l}}}$ of the last hidden layer."
        return "Compute $\\Delta_j$ for every unit of the last hidden layer."


class LayerChoiceKind(NetworkKind):
    """A network kind that asks about one chosen layer."""

    params = (*NetworkKind.params, Param("layer", "int", 1, "layer asked about (1 = first)", minimum=1, maximum=6))


class WeightGradient(LayerChoiceKind):
    id = "weight_gradient"
    # v5: leaving out g'(in_j) in the hidden Δ_j (forgot_gprime, as HiddenDelta's) is a
    # misconception wherever an asked value is computed from a hidden Δ, carried into the earlier
    # Δ, the gradients and the updates (QA: graded 0 without being named); W for W^T going forward
    # on 2-2-1's W^1 too (as OutputDelta v5); and the graph-notation worked solution as
    # ForwardMLP v6
    # v6: as ForwardMLP v7
    # v7: a matrix-notation question names its weight as the printed matrices do, ∂L/∂W^l_{r,c}
    # (field dLdW{l}_{r}_{c}); it said ∂J/∂w_{i,j} with unit numbers the prompt never shows
    version = 7
    title = "Gradient of one weight"
    description = "∂J/∂w_{i,j} = Δ_j a_i for one chosen weight."

    def asks(self, p, net, rng):
        l = p["layer"]
        W = net.layer(l).W
        idx = (int(rng.integers(W.shape[0])), int(rng.integers(W.shape[1])))
        return quantity_asks(net, p["notation"], f"dW{l}", entries=[idx])

    def question(self, p, net):
        return "Compute the partial derivative asked below."


class LayerGradient(LayerChoiceKind):
    id = "layer_gradient"
    # v5: as WeightGradient v5; v6: as ForwardMLP v7
    version = 6
    title = "Gradient of a whole layer"
    description = "∂L/∂W^l = A^{l-1} (Δ^l)^T and ∂L/∂W_0^l = Δ^l for one layer."

    asks_draw = False

    def asks(self, p, net, rng):
        l = p["layer"]
        asks = quantity_asks(net, p["notation"], f"dW{l}")
        return asks + quantity_asks(net, p["notation"], f"dW0{l}") if p["bias"] else asks

    def question(self, p, net):
        return "Compute the gradient of the loss with respect to every weight and bias of the layer asked."


class SgdUpdate(LayerChoiceKind):
    id = "sgd_update"
    # v5: an updated weight is graded on its change too (Field.step_from, base.step_close): the
    # weight before the step passed as right whenever the step was below the 1 % tolerance
    # v6: as WeightGradient v5; v7: as ForwardMLP v7; v8: as WeightGradient v7 (W^l_{r,c} after
    # the update, field W{l}_{r}_{c}_new)
    version = 8
    title = "One SGD update"
    description = "w ← w − α Δ_j a_i for one weight or a whole layer, after one example."
    params = (
        *LayerChoiceKind.params,
        Param("target", "choice", "weight", "update one weight or a whole layer", ("weight", "layer")),
    )

    def asks(self, p, net, rng):
        l = p["layer"]
        if p["target"] == "layer":
            asks = quantity_asks(net, p["notation"], f"W{l}_new")
            return asks + quantity_asks(net, p["notation"], f"W0{l}_new") if p["bias"] else asks
        W = net.layer(l).W
        idx = (int(rng.integers(W.shape[0])), int(rng.integers(W.shape[1])))
        return quantity_asks(net, p["notation"], f"W{l}_new", entries=[idx])

    def question(self, p, net):
        return "Perform one stochastic gradient descent step on this example and give the updated value(s)."


class BackpropChain(NetworkKind):
    """Forward pass -> loss -> output Δ -> hidden Δ -> gradients -> update, as one chain.

    A later part is also graded against `recompute`: what it should be if the student's own
    earlier answers were right, so one early slip does not zero every later part.
    """

    id = "backprop_chain"
    version = 7  # v5: as SgdUpdate's; v6: as WeightGradient v5; v7: as ForwardMLP v7
    title = "Backpropagation, step by step"
    description = "Multi-part: activations, loss, every Δ, the gradients and one update; errors are carried forward."
    chained = True

    def check_params(self, p):
        super().check_params(p)
        if len(p["sizes"]) < 3:
            raise ParamError("parameter 'sizes' needs a hidden layer, e.g. 2,2,1")

    asks_draw = False

    def asks(self, p, net, rng):
        notation, L = p["notation"], net.depth
        asks: list[Ask] = []
        for l in range(1, L + 1):
            asks += quantity_asks(net, notation, f"A{l}", depends_on=[f.name for f, _, _ in asks])
        forward_names = [f.name for f, _, _ in asks]
        asks.append((Field("L", "$\\mathcal{L}$", (), "number", depends_on=forward_names[-net.sizes[-1]:]), "L", None))
        for l in range(L, 0, -1):
            asks += quantity_asks(net, notation, f"D{l}", depends_on=forward_names)
        for l in range(1, L + 1):
            asks += quantity_asks(net, notation, f"dW{l}", depends_on=forward_names)
        asks += quantity_asks(net, notation, "W1_new")
        return asks

    def question(self, p, net):
        return (
            "Run one step of backpropagation: give every activation, the loss, every Δ, the gradient "
            "of every weight, and the first layer's weights after one SGD step."
        )


KINDS = (ForwardNeuron, ForwardLayer, ForwardMLP, LossValue, OutputDelta, HiddenDelta, WeightGradient, LayerGradient, SgdUpdate, BackpropChain)
