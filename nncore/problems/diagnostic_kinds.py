"""Kinds about training problems and the tricks against them: dead ReLUs, vanishing gradients
along a chain, collapsing linear nets, parameter counts, dropout, batch normalisation and
residual connections.

Every reference answer comes from `nncore.diagnostics` (or `nncore.network`); misconceptions are
the same computation with one typical slip, attached only where the slip changes an answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.cancellation import cancelled
from nncore.diagnostics import (
    batch_centred,
    batch_norm,
    dead_relu_units,
    dropout,
    linear_collapse,
    linear_collapse_through,
    parameter_count,
    residual_gradient,
    sigmoid_derivative_bound,
    vanishing_gradient_product,
)
from nncore.network import Network, forward, make_network
from nncore.notation import neuron_ids
from nncore.problems.base import (
    DEFAULT_TOLERANCE,
    Draft,
    Field,
    Param,
    ParamError,
    ProblemKind,
    Redraw,
    canonical,
    step,
)
from nncore.problems.common import (
    KINK_MARGIN,
    NOTATION_PARAM,
    STYLE_PARAM,
    activation_derivative_from_output,
    activation_sentence,
    check_calculator_friendly,
    describe_network,
    draw_network,
    draw_values,
    fmt,
    latex_matrix,
    network_diagram,
    round_sig,
)

ROUNDED_PATHS = (3, 4)  # significant figures of the calculator paths graders also accept
TOPIC = "diagnostics"
EXACT_COUNT = {"rtol": 0.0, "atol": 1e-9}  # whole-number answers: only the count itself is right
TANH_SATURATION = 2.5  # |in_j| above this leaves tanh'(in_j) = 1 - a_j^2 < 0.03, lost to rounding a_j

BIAS_PARAM = Param("bias", "bool", True, "whether units have biases w_{0,j}")


def _sizes_param(default: list[int], help: str) -> Param:
    return Param("sizes", "int_list", default, help, minimum=1, maximum=6)


# --- shared helpers -----------------------------------------------------------------------------


def _same(a: Any, b: Any, tol: dict = DEFAULT_TOLERANCE) -> bool:
    """Whether a misconception's answer equals the reference within tolerance (as base grades)."""
    a, b = canonical(a), canonical(b)
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if (isinstance(a, list) and a and isinstance(a[0], str)) or (
        isinstance(b, list) and b and isinstance(b[0], str)
    ):
        return sorted(a) == sorted(b)
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        return False
    return bool(np.all(np.abs(x - y) <= tol["atol"] + tol["rtol"] * np.abs(y)))


def add_if_differs(draft: Draft, id: str, name: str, explanation: str, wrong: dict) -> None:
    """Attach a misconception when it changes at least one asked field; others say nothing here."""
    changed = {
        k: v
        for k, v in wrong.items()
        if k in draft.answers and not _same(v, draft.answers[k], draft.tolerance)
    }
    if changed:
        draft.add_misconception(id, name, explanation, changed)


def check_no_near_kink(net: Network, trace) -> None:
    """Redraw when a ReLU pre-activation is 0 up to rounding (e.g. 0.7·2 − 1·2 + 0.6 = −1e-16).

    Same margin as `check_calculator_friendly` (KINK_MARGIN), applied here also to the draws
    that skip its saturation check.
    """
    for l, layer in enumerate(net.layers, start=1):
        if layer.activation.name in ("relu", "leaky_relu") and np.any(np.abs(trace.Z[l]) < KINK_MARGIN):
            raise Redraw(f"pre-activation on the kink (up to rounding) in layer {l}")


def _hand_or_random(rng: np.random.Generator, style: str, hand: list[float], low: float, high: float) -> float:
    """One number: from a calculator-friendly list (hand) or a 2-decimal float in [low, high]."""
    if style == "hand":
        return float(hand[int(rng.integers(len(hand)))])
    return float(np.round(rng.uniform(low, high), 2))


def _vector_field(name: str, label: str, n: int) -> Field:
    """A number field for n = 1, a vector field otherwise."""
    return Field(name, label, (), "number") if n == 1 else Field(name, label, (n,), "vector")


def _p(x: float, digits: int = 4) -> str:
    """A number as a factor in a product: negatives in parentheses, as written on the board."""
    text = fmt(x, digits)
    return f"({text})" if text.startswith("-") else text


def _sum_latex(values) -> str:
    """v_1 + v_2 - v_3 ... with the signs folded in."""
    out = fmt(values[0])
    for v in values[1:]:
        out += f" - {fmt(-v)}" if v < 0 else f" + {fmt(v)}"
    return out


def _flat(value: np.ndarray) -> float | np.ndarray:
    """A 1-entry array as a float, otherwise the array flattened to a vector."""
    value = np.asarray(value, dtype=np.float64)
    return float(value.reshape(())) if value.size == 1 else value.reshape(-1)


# --- dead ReLU units ----------------------------------------------------------------------------


class DeadRelu(ProblemKind):
    """Which hidden ReLU units of a small net are dead on a small data set?"""

    id = "dead_relu"
    # v2: engine sums that cancel to rounding noise are 0 (nncore.network); v3: only the hidden
    # units are offered (not the output unit), each labelled as the notes write it ($a^{1}_{2}$,
    # $a_{3}$) instead of its id; the matrix prompt writes a unit's pre-activation z^l_c
    version = 3
    title = "Dead ReLU units"
    description = (
        "Given a small ReLU network and 2-4 examples, pick the hidden units whose pre-activation "
        "is negative on every example (ReLU' = 0 there, so their weights never get a gradient)."
    )
    topic = TOPIC
    params = (
        _sizes_param([2, 3, 1], "units per layer, inputs first; hidden layers use ReLU (e.g. 2,3,1)"),
        Param("examples", "int", 3, "number of examples in the data set", minimum=2, maximum=4),
        Param("output", "choice", "identity", "activation of the output units", ("identity", "relu")),
        NOTATION_PARAM,
        STYLE_PARAM,
        BIAS_PARAM,
    )
    no_instance_hint = (
        "without biases a unit whose inputs are all 0 on an example sits exactly at ReLU's kink, "
        "and a unit negative on every example zeroes what it feeds; set bias to true or use wider "
        "hidden layers (3 or more units)"
    )

    def check_params(self, p: dict) -> None:
        if len(p["sizes"]) < 3:
            raise ParamError("parameter 'sizes' needs at least one hidden layer, e.g. 2,3,1")
        if sum(p["sizes"][1:-1]) < 2:
            raise ParamError(
                "parameter 'sizes' needs at least 2 hidden units in total (one dead, one alive)"
            )
        if not p["bias"] and p["sizes"][0] == 1 and len(p["sizes"]) == 3:
            raise ParamError(
                "parameter 'bias' must be true for one input and one hidden layer: without biases "
                "in_j = w_{1,j} x has the sign pattern of x for every unit, so no unit is negative "
                "on some examples but not all"
            )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        sizes, notation, B = p["sizes"], p["notation"], p["examples"]
        depth = len(sizes) - 1
        net = draw_network(rng, sizes, ["relu"] * (depth - 1) + [p["output"]], p["style"], p["bias"])
        X = draw_values(rng, (sizes[0], B), p["style"])
        trace = forward(net, X)
        check_calculator_friendly(net, trace)
        check_no_near_kink(net, trace)
        if p["output"] == "relu" and np.all(trace.Z[depth] < 0):
            raise Redraw("dead output: no weight at all gets a gradient (000), every unit looks dead")
        dead = dead_relu_units(net, X)
        hidden = [(l, c) for l in range(1, depth) for c in range(sizes[l])]
        if not dead or len(dead) == len(hidden):
            raise Redraw("no dead unit, or every hidden unit dead")
        negative_somewhere = [(l, c) for l, c in hidden if np.any(trace.Z[l][c] < 0)]
        if len(negative_somewhere) == len(dead):
            raise Redraw("no unit that is negative on some but not all examples")

        ids = neuron_ids(sizes)

        def unit_id(l: int, c: int) -> str:
            return f"a_{ids[l][c]}" if notation == "graph" else f"A{l}_{c + 1}"

        def unit_latex(l: int, c: int) -> str:
            return f"a_{{{ids[l][c]}}}" if notation == "graph" else f"a^{{{l}}}_{{{c + 1}}}"

        # Only hidden units: the question asks which hidden units are dead, and a dead output
        # unit is redrawn above (a choice that is never right would only be a trap).
        choices = [{"id": unit_id(l, c), "label": f"${unit_latex(l, c)}$"} for l, c in hidden]
        answer = [unit_id(u.layer, u.index) for u in dead]
        field = Field("dead", "dead hidden units", (), "choices", choices=choices)
        draft = Draft(
            text=self._text(p, net, X, [unit_latex(l, c) for l, c in hidden]),
            data={
                "network": net.to_dict(),
                "examples": X.T,
                "notation": notation,
                "units": {unit_id(l, c): [l, c, ids[l][c]] for l, c in hidden},
            },
            fields=[field],
            answers={"dead": answer},
            solution=self._solution(net, trace, notation, unit_latex, dead, answer),
            diagram=network_diagram(net, notation),
        )
        add_if_differs(
            draft,
            "negative_on_some_example",
            "Called a unit dead when it is negative on only some examples",
            "A unit is dead only if its pre-activation is negative on EVERY example; one positive "
            "example gives its weights a gradient.",
            {"dead": [unit_id(l, c) for l, c in negative_somewhere]},
        )
        return draft

    def _text(self, p: dict, net: Network, X: np.ndarray, units: list[str]) -> str:
        sizes = "-".join(map(str, net.sizes))
        examples = ", ".join(
            f"$x^{{({e + 1})}} = {latex_matrix(X[:, e])}$" for e in range(X.shape[1])
        )
        if p["notation"] == "graph":
            rule = (
                "A hidden ReLU unit $j$ is dead on this data set if $in_j < 0$ on every example: "
                "then $g'(in_j) = 0$, so $\\Delta_j = 0$ and none of its weights $w_{i,j}$ gets a gradient."
            )
        else:
            rule = (
                "A hidden ReLU unit $a^l_c$ is dead on this data set if its pre-activation $z^l_c < 0$ "
                "on every example: then $\\mathrm{ReLU}'(z^l_c) = 0$ and none of its weights gets a gradient."
            )
        return " ".join(
            [
                f"A {sizes} network has weights {describe_network(net, p['notation'])}.",
                activation_sentence(net),
                f"The data set has {X.shape[1]} examples: {examples}.",
                rule,
                f"Which of the hidden units {', '.join(f'${u}$' for u in units)} are dead?",
            ]
        )

    def _solution(self, net: Network, trace, notation: str, unit_latex, dead, answer: list[str]) -> list[dict]:
        steps = []
        ids = neuron_ids(net.sizes)
        for l in range(1, net.depth):
            Z = trace.Z[l]
            if notation == "graph":
                rows = r",\; ".join(
                    f"in_{{{j}}} = ({', '.join(fmt(v) for v in Z[c])}),\\; "
                    f"a_{{{j}}} = ({', '.join(fmt(v) for v in trace.A[l][c])})"
                    for c, j in enumerate(ids[l])
                )
                latex = f"\\text{{on examples }} 1..{Z.shape[1]}:\\; {rows}"
            else:
                latex = (
                    f"Z^{{{l}}} = (W^{{{l}}})^T A^{{{l - 1}}} + W_0^{{{l}}} = {latex_matrix(Z)}"
                    f"\\;\\text{{(one column per example)}},\\; A^{{{l}}} = \\mathrm{{ReLU}}(Z^{{{l}}}) = "
                    f"{latex_matrix(trace.A[l])}"
                )
            steps.append(step(f"Layer {l} pre-activations on every example", latex, Z=Z, A=trace.A[l]))
            verdicts = []
            for c in range(net.sizes[l]):
                z = Z[c]
                if np.all(z < 0):
                    verdicts.append(f"{unit_latex(l, c)}: \\text{{negative on every example: dead}}")
                else:
                    e = int(np.flatnonzero(z > 0)[0]) + 1
                    verdicts.append(f"{unit_latex(l, c)}: \\text{{positive on example {e}: alive}}")
            steps.append(step(f"Layer {l} verdicts", r",\; ".join(verdicts)))
        units = ", ".join(unit_latex(u.layer, u.index) for u in dead)
        steps.append(step("Dead hidden units", f"\\{{{units}\\}}", dead=answer))
        return steps


# --- vanishing gradient along a chain -----------------------------------------------------------


class VanishingGradient(ProblemKind):
    """002 lecture 07-3d: Δ_2 of a chain network is a product of g'(in_j) w_{j,j+1} factors."""

    id = "vanishing_gradient"
    # v2: engine sums that cancel to rounding noise are 0 (nncore.network), and no misconception
    # passes as a rounded-path answer (ProblemKind._finish)
    version = 3
    # v3: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    title = "Vanishing gradient along a chain"
    description = (
        "A chain network (every layer one unit) with sigmoid or tanh units: the factors "
        "g'(in_j) w_{j,j+1}, the output Δ, their product Δ_2 and ∂J/∂w_{1,2} = Δ_2 a_1."
    )
    topic = TOPIC
    params = (
        Param("depth", "int", 4, "number of layers L (units 2..L+1 after input neuron 1)", minimum=2, maximum=6),
        Param("activation", "choice", "sigmoid", "activation of every unit", ("sigmoid", "tanh")),
        STYLE_PARAM,
        Param("bias", "bool", False, "whether units have biases w_{0,j} (002's chain has none)"),
    )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        L, act = p["depth"], p["activation"]
        sizes = [1] * (L + 1)
        net = draw_network(rng, sizes, [act] * L, p["style"], p["bias"])
        x = draw_values(rng, (1,), p["style"])
        y = np.array([float(rng.integers(0, 2))]) if act == "sigmoid" else np.array([float(rng.choice([-1, 1]))])
        trace = forward(net, x)
        check_calculator_friendly(net, trace)  # no saturated unit
        if act == "tanh" and any(abs(trace.Z[l][0, 0]) > TANH_SATURATION for l in range(1, L + 1)):
            raise Redraw("saturated tanh unit: 1 - a^2 is lost to rounding")
        cp = vanishing_gradient_product(net, x, y, "squared")
        a = np.array([float(trace.A[l][0, 0]) for l in range(L + 1)])  # a_1 = x, a_2, ..., a_{L+1}
        z = np.array([float(trace.Z[l][0, 0]) for l in range(1, L + 1)])
        out = cp.neurons[-1]

        fields: list[Field] = []
        answers: dict[str, Any] = {}
        for k, j in enumerate(cp.neurons[:-1]):
            fields.append(Field(f"factor_{j}", f"$g'(in_{{{j}}})\\,w_{{{j},{j + 1}}}$", (), "number"))
            answers[f"factor_{j}"] = float(cp.factors[k])
        fields.append(Field(f"delta_{out}", f"$\\Delta_{{{out}}}$", (), "number"))
        answers[f"delta_{out}"] = cp.output_factor
        fields.append(Field("delta_2", "$\\Delta_2$", (), "number"))
        answers["delta_2"] = cp.product
        fields.append(Field("dJdw_1_2", "$\\partial J/\\partial w_{1,2}$", (), "number"))
        answers["dJdw_1_2"] = cp.first_weight_gradient

        draft = Draft(
            text=self._text(p, net, x, y, out),
            data={
                "network": net.to_dict(),
                "x": x,
                "y": y,
                "loss": "squared",
                "neurons": list(cp.neurons),
            },
            fields=fields,
            answers=answers,
            solution=self._solution(net, cp, a, z, act, out),
            diagram=network_diagram(net, "graph", x, y),
        )
        for k in ROUNDED_PATHS:
            for name, value in _chain_answers(act, round_sig(a, k), cp.weights, y[0], round_to=k).items():
                draft.alternatives.setdefault(name, []).append(value)

        def wrong(**kw: Any) -> dict:
            return _chain_answers(act, a, cp.weights, y[0], **kw)

        if act == "sigmoid":
            add_if_differs(
                draft,
                "sigma_prime_is_sigma",
                "Took σ' = σ",
                "The logistic derivative is σ'(in_j) = σ(in_j)(1 − σ(in_j)) = a_j(1 − a_j), not a_j.",
                wrong(mistake="g_for_gprime"),
            )
        else:
            add_if_differs(
                draft,
                "g_instead_of_gprime",
                "Used g(in_j) instead of g'(in_j)",
                "Each factor multiplies by the derivative tanh'(in_j) = 1 − a_j², not by a_j.",
                wrong(mistake="g_for_gprime"),
            )
        add_if_differs(
            draft,
            "no_factor_2",
            "Dropped the factor 2 of the squared loss",
            "∂/∂a (y − a)² = −2(y − a): the output Δ keeps the factor 2.",
            wrong(mistake="no_factor_2"),
        )
        add_if_differs(
            draft,
            "sign_error",
            "Sign of −2(y − a) flipped",
            "∂/∂a (y − a)² = −2(y − a), not +2(y − a): the inner derivative of (y − a) is −1.",
            wrong(mistake="sign_error"),
        )
        add_if_differs(
            draft,
            "forgot_output_gprime",
            "Forgot the factor g'(in) of the output unit",
            f"Δ_{out} = g'(in_{out})·(−2(y − a_{out})): the output unit's own derivative is a factor too.",
            wrong(mistake="no_output_gprime"),
        )
        add_if_differs(
            draft,
            "forgot_a1",
            "Gave Δ_2 for ∂J/∂w_{1,2}",
            "∂J/∂w_{1,2} = Δ_2 a_1: multiply by the input a_1 = x on the weight's other end.",
            {"dJdw_1_2": cp.product},
        )
        return draft

    def _text(self, p: dict, net: Network, x: np.ndarray, y: np.ndarray, out: int) -> str:
        g = "\\sigma(t) = 1/(1 + e^{-t})" if p["activation"] == "sigmoid" else "\\tanh(t)"
        return " ".join(
            [
                f"A chain network has input neuron 1 and units 2, ..., {out}, each feeding only the next, "
                f"with weights {_chain_weights(net)}.",
                f"Every unit uses $g(t) = {g}$.",
                f"The input is $a_1 = x = {fmt(x[0])}$, the target $y = {fmt(y[0])}$, and "
                f"$J(\\mathbf{{w}}) = (y - a_{{{out}}})^2$.",
                "As in the notes, $\\Delta_2 = [g'(in_2)w_{2,3}]\\cdots"
                f"[g'(in_{{{out}}})(-2(y - a_{{{out}}}))]$.",
                f"Give each factor $g'(in_j)w_{{j,j+1}}$ for $j = 2, ..., {out - 1}$, the output "
                f"$\\Delta_{{{out}}}$, the product $\\Delta_2$ and $\\partial J/\\partial w_{{1,2}}$.",
            ]
        )

    def _solution(self, net: Network, cp, a: np.ndarray, z: np.ndarray, act: str, out: int) -> list[dict]:
        steps = []
        for k, j in enumerate(cp.neurons):
            bias = net.layer(k + 1).W0[0, 0]
            bias_text = f" + {_p(bias)}" if bias != 0 else ""
            bias_name = f" + w_{{0,{j}}}" if bias != 0 else ""
            steps.append(
                step(
                    f"Forward: neuron {j}",
                    f"in_{{{j}}} = w_{{{j - 1},{j}}} a_{{{j - 1}}}{bias_name} = {_p(net.layer(k + 1).W[0, 0])}"
                    f" \\cdot {_p(a[k])}{bias_text} = {fmt(z[k])},\\; a_{{{j}}} = g(in_{{{j}}}) = {fmt(a[k + 1])}",
                    in_=z[k],
                    a=a[k + 1],
                )
            )
        prime = "a_{j}(1 - a_{j})" if act == "sigmoid" else "1 - a_{j}^2"
        steps.append(
            step(
                "Output Δ",
                f"\\Delta_{{{out}}} = g'(in_{{{out}}})(-2(y - a_{{{out}}})) = {_p(cp.derivatives[-1])}"
                f" \\cdot {_p(cp.loss_gradient)} = {fmt(cp.output_factor)}",
                delta=cp.output_factor,
            )
        )
        for k, j in enumerate(cp.neurons[:-1]):
            steps.append(
                step(
                    f"Factor of neuron {j}",
                    f"g'(in_{{{j}}}) = {prime.replace('{j}', '{' + str(j) + '}')} = {fmt(cp.derivatives[k])},\\;"
                    f"g'(in_{{{j}}})\\,w_{{{j},{j + 1}}} = {_p(cp.derivatives[k])} \\cdot {_p(cp.weights[k])}"
                    f" = {fmt(cp.factors[k])}",
                    derivative=cp.derivatives[k],
                    factor=cp.factors[k],
                )
            )
        product = " \\cdot ".join(f"({fmt(f)})" for f in cp.factors)
        steps.append(step("Δ_2 is the product", f"\\Delta_2 = {product} = {fmt(cp.product)}", delta_2=cp.product))
        steps.append(
            step(
                "Gradient of the first weight",
                f"\\partial J/\\partial w_{{1,2}} = \\Delta_2 a_1 = {_p(cp.product)} \\cdot {_p(a[0])}"
                f" = {fmt(cp.first_weight_gradient)}",
                gradient=cp.first_weight_gradient,
            )
        )
        if act == "sigmoid":
            k = net.depth
            steps.append(
                step(
                    "Why it vanishes",
                    f"\\sigma'(t) \\le 0.25,\\text{{ so the {k} derivatives contribute at most }} 0.25^{{{k}}} = "
                    f"{fmt(sigmoid_derivative_bound(k), 3)}",
                    bound=sigmoid_derivative_bound(k),
                )
            )
        return steps


def _chain_weights(net: Network) -> str:
    """w_{j-1,j} (and w_{0,j} when the chain has biases) of a chain network."""
    terms = []
    for l, layer in enumerate(net.layers, start=1):
        j = l + 1
        if np.any(layer.W0 != 0):
            terms.append(f"w_{{0,{j}}} = {fmt(layer.W0[0, 0])}")
        terms.append(f"w_{{{j - 1},{j}}} = {fmt(layer.W[0, 0])}")
    return "$" + r",\; ".join(terms) + "$"


def _chain_answers(
    act: str,
    a: np.ndarray,
    weights: np.ndarray,
    y: float,
    *,
    mistake: str | None = None,
    round_to: int | None = None,
) -> dict[str, float]:
    """The chain's answers written through a_1..a_{L+1}, with an optional slip or rounding.

    Used for misconception variants and rounded calculator paths; references come from
    `vanishing_gradient_product`.
    """

    def r(v):
        return round_sig(v, round_to) if round_to else np.asarray(v, dtype=np.float64)

    units = a[1:]
    if mistake == "g_for_gprime":
        derivatives = units.copy()
    else:
        derivatives = r(activation_derivative_from_output(act, units, {}))
    loss_gradient = -2.0 * (y - units[-1])
    if mistake == "no_factor_2":
        loss_gradient /= 2.0
    if mistake == "sign_error":
        loss_gradient = -loss_gradient
    output = loss_gradient if mistake == "no_output_gprime" else r(derivatives[-1] * loss_gradient)
    factors = r(derivatives[:-1] * weights)
    product = float(np.prod(factors) * output)
    if round_to:
        product = float(round_sig(product, round_to))
    out_neuron = len(a)
    answers = {f"factor_{j}": float(f) for j, f in zip(range(2, out_neuron), factors, strict=True)}
    answers[f"delta_{out_neuron}"] = float(output)
    answers["delta_2"] = product
    answers["dJdw_1_2"] = product * float(a[0])
    return answers


# --- a network of linear units collapses --------------------------------------------------------


class LinearCollapse(ProblemKind):
    """003: a network of linear units is a single linear unit; find its weights."""

    id = "linear_collapse"
    # v2: sums that cancel to rounding noise are exactly 0 (nncore.cancellation); v3: in the
    # worked solution's rows too (seed 6 showed W = [0.1, 1.11e-16] through layer 2)
    # v4: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    # v5: the graph prompt writes a linear unit g(in_j) = in_j (φ(x) = x reused x, the input),
    # and the graph solution builds the tilde weights w̃_{i,j} layer by layer and ends in
    # a_k = w̃_{0,k} + Σ_i w̃_{i,k} x_i (it was W^l matrices and g = W^T x + W_0)
    # v6: misconception explanations in the question's notation (graph: w̃_{0,j}, w_{h,j}; they were
    # W^l and W_0 in both), and without biases the matrix solution has no W_0 (it ended in + W_0)
    version = 6
    title = "A network of linear units is one linear unit"
    description = (
        "Every unit uses the identity activation: give the single layer (W, W_0) that computes the "
        "same function, W = W^1 W^2 ... W^L and W_0 built up layer by layer."
    )
    topic = TOPIC
    params = (
        _sizes_param([2, 2, 1], "units per layer, inputs first (e.g. 2,2,1 as in 003)"),
        NOTATION_PARAM,
        STYLE_PARAM,
        BIAS_PARAM,
    )

    def check_params(self, p: dict) -> None:
        if len(p["sizes"]) < 3:
            raise ParamError("parameter 'sizes' needs at least two layers to collapse, e.g. 2,2,1")
        if len(p["sizes"]) > 5:
            raise ParamError("parameter 'sizes' may have at most 4 layers (5 numbers) for a hand exercise")

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        sizes, notation = p["sizes"], p["notation"]
        L = len(sizes) - 1
        net = draw_network(rng, sizes, ["identity"] * L, p["style"], p["bias"])
        W_eq, W0_eq = linear_collapse(net)
        fields, answers = self._fields(sizes, notation, W_eq, W0_eq, p["bias"])
        draft = Draft(
            text=self._text(p, net),
            data={"network": net.to_dict(), "notation": notation, "bias": p["bias"]},
            fields=fields,
            answers=answers,
            solution=self._solution(net, notation, p["bias"]),
            diagram=network_diagram(net, notation),
        )
        Ws = [layer.W for layer in net.layers]
        reversed_product = _chain_product(Ws[::-1])
        if reversed_product is not None and reversed_product.shape == W_eq.shape:
            add_if_differs(
                draft,
                "product_wrong_order",
                *_COLLAPSE_MISTAKES[notation]["product_wrong_order"],
                self._fields(sizes, notation, reversed_product, W0_eq, p["bias"])[1],
            )
        if p["bias"]:
            add_if_differs(
                draft,
                "last_bias_only",
                *_COLLAPSE_MISTAKES[notation]["last_bias_only"],
                self._fields(sizes, notation, W_eq, net.layers[-1].W0, True)[1],
            )
            if all(n == sizes[-1] for n in sizes[1:]):
                summed = sum(layer.W0 for layer in net.layers)
                add_if_differs(
                    draft,
                    "biases_not_transformed",
                    *_COLLAPSE_MISTAKES[notation]["biases_not_transformed"],
                    self._fields(sizes, notation, W_eq, summed, True)[1],
                )
        return draft

    def _fields(self, sizes, notation, W_eq, W0_eq, bias: bool) -> tuple[list[Field], dict]:
        n0, nL = sizes[0], sizes[-1]
        W_eq = np.asarray(W_eq, dtype=np.float64)
        W0_eq = np.asarray(W0_eq, dtype=np.float64).reshape(-1)
        if notation == "matrix":
            if nL == 1:
                fields = [_vector_field("W_eq", "$W$ (equivalent single layer)", n0)]
                answers = {"W_eq": _flat(W_eq)}
            else:
                fields = [Field("W_eq", "$W$ (equivalent single layer)", (n0, nL), "matrix")]
                answers = {"W_eq": W_eq}
            if bias:
                fields.append(_vector_field("W0_eq", "$W_0$ (equivalent single layer)", nL))
                answers["W0_eq"] = _flat(W0_eq)
            return fields, answers
        ids = neuron_ids(sizes)
        fields, answers = [], {}
        for c, k in enumerate(ids[-1]):
            if bias:
                fields.append(Field(f"wt_0_{k}", f"$\\tilde w_{{0,{k}}}$", (), "number"))
                answers[f"wt_0_{k}"] = float(W0_eq[c])
            for r, i in enumerate(ids[0]):
                fields.append(Field(f"wt_{i}_{k}", f"$\\tilde w_{{{i},{k}}}$", (), "number"))
                answers[f"wt_{i}_{k}"] = float(W_eq[r, c])
        return fields, answers

    def _text(self, p: dict, net: Network) -> str:
        sizes = "-".join(map(str, net.sizes))
        if p["notation"] == "graph":
            ids = neuron_ids(net.sizes)
            ask = (
                f"Every unit is linear, $g(in_j) = in_j$, so the network computes the same as a single "
                f"linear layer from inputs {', '.join(map(str, ids[0]))} to outputs "
                f"{', '.join(map(str, ids[-1]))}: $a_k = "
                + ("\\tilde w_{0,k} + " if p["bias"] else "")
                + "\\sum_i \\tilde w_{i,k} x_i$. Give every $\\tilde w_{i,k}$."
            )
        else:
            ask = (
                "Every unit is linear, $f(z) = z$, so the network computes $g = W^T x"
                + (" + W_0" if p["bias"] else "")
                + "$ for a single layer. Give $W$"
                + (" and $W_0$." if p["bias"] else ".")
            )
        return f"A {sizes} network has weights {describe_network(net, p['notation'])}. {ask}"

    def _solution(self, net: Network, notation: str, bias: bool = True) -> list[dict]:
        steps = []
        for l, (W, W0) in enumerate(linear_collapse_through(net), start=1):
            first = l == 1
            if notation == "graph":
                latex = _graph_collapse_step(net.sizes, l, W, W0, bias)
            elif first:
                latex = f"W = W^{{1}} = {latex_matrix(W)}"
                latex += f",\\; W_0 = W_0^{{1}} = {latex_matrix(W0)}" if bias else ""
            else:
                latex = f"W \\leftarrow W\\,W^{{{l}}} = {latex_matrix(W)}"
                latex += f",\\; W_0 \\leftarrow (W^{{{l}}})^T W_0 + W_0^{{{l}}} = {latex_matrix(W0)}" if bias else ""
            steps.append(step(f"Through layer {l}", latex, W=W.copy(), W0=W0[:, 0].copy()))
        steps.append(step("Conclusion", f"\\text{{a network of linear units is a single linear unit (003): }} {_collapsed(notation, bias)}"))
        return steps


def _graph_collapse_step(sizes: list[int], l: int, W: np.ndarray, W0: np.ndarray, bias: bool) -> str:
    """The tilde weights from the inputs to every unit j of layer l, w̃_{i,j} (and w̃_{0,j} with
    `bias`), and the rule that gives them from layer l − 1's, as the graph prompt writes them."""
    ids = neuron_ids(sizes)
    if l == 1:
        rule = "\\tilde w_{i,j} = w_{i,j}"
    else:
        rule = "\\tilde w_{i,j} = \\sum_h \\tilde w_{i,h} w_{h,j}"
        rule += ",\\; \\tilde w_{0,j} = w_{0,j} + \\sum_h \\tilde w_{0,h} w_{h,j}" if bias else ""
    values = []
    for c, j in enumerate(ids[l]):
        if bias:
            values.append(f"\\tilde w_{{0,{j}}} = {fmt(W0[c, 0])}")
        values += [f"\\tilde w_{{{i},{j}}} = {fmt(W[r, c])}" for r, i in enumerate(ids[0])]
    return f"{rule}:\\; " + ",\\; ".join(values)


def _collapsed(notation: str, bias: bool) -> str:
    """The single linear unit the network equals, in the question's notation (graph: as its
    prompt writes it, over the tilde weights from the inputs x_i)."""
    if notation == "graph":
        return "a_k = " + ("\\tilde w_{0,k} + " if bias else "") + "\\sum_i \\tilde w_{i,k} x_i"
    return "g = W^T x" + (" + W_0" if bias else "")


# linear_collapse's misconceptions (name, explanation) in each notation: the matrix prompt's
# W = W^1 ⋯ W^L and W_0, the graph prompt's tilde weights w̃_{i,k} (003's example, 2-2-1,
# numbered 1-5 in graph notation).
_COLLAPSE_MISTAKES = {
    "matrix": {
        "product_wrong_order": (
            "Multiplied the weight matrices in the wrong order",
            "With Z^l = (W^l)^T A^{l−1}, the equivalent weights are W = W^1 W^2 ⋯ W^L "
            "(n_0 × n_L), not W^L ⋯ W^1.",
        ),
        "last_bias_only": (
            "Kept only the last layer's bias",
            "Earlier biases pass through the later layers: W_0 ← (W^l)^T W_0 + W_0^l at every "
            "layer (003: W_0 = W^2_{0,1} + W^1_{0,1} W^2_{1,1} + W^1_{0,2} W^2_{2,1}).",
        ),
        "biases_not_transformed": (
            "Added the biases without passing them through the later weights",
            "A bias of layer l is multiplied by the weights of every later layer before it "
            "reaches the output: W_0 ← (W^l)^T W_0 + W_0^l.",
        ),
    },
    "graph": {
        "product_wrong_order": (
            "Combined the layers' weights in the wrong order",
            "The tilde weights follow the edges forward from the inputs: w̃_{i,j} = Σ_h w̃_{i,h} w_{h,j}, "
            "layer 1 first, so w̃_{i,k} sums the products of the weights along every path from input i "
            "to output k; starting from the output layer pairs edges that form no path.",
        ),
        "last_bias_only": (
            "Kept only the last layer's bias",
            "Earlier biases pass through the later layers: w̃_{0,j} = w_{0,j} + Σ_h w̃_{0,h} w_{h,j} "
            "at every layer (003: w̃_{0,5} = w_{0,5} + w_{0,3} w_{3,5} + w_{0,4} w_{4,5}).",
        ),
        "biases_not_transformed": (
            "Added the biases without passing them through the later weights",
            "A bias w_{0,h} of an earlier unit h is multiplied by the weights of the edges after it "
            "before it reaches the output: w̃_{0,j} = w_{0,j} + Σ_h w̃_{0,h} w_{h,j}.",
        ),
    },
}


def _chain_product(matrices: list[np.ndarray]) -> np.ndarray | None:
    """M_1 M_2 ... M_k if the shapes chain, else None."""
    out = matrices[0]
    for M in matrices[1:]:
        if out.shape[1] != M.shape[0]:
            return None
        out = out @ M
    return out


# --- parameter count ----------------------------------------------------------------------------


class ParameterCount(ProblemKind):
    """Weights and biases of a fully connected architecture."""

    id = "parameter_count"
    # v2: counts are exact (the default 1 % tolerance took 124 for 123, and with large layers a
    # forgotten bias term, 66406 for 66771, passed as right and its misconception was dropped),
    # and a misconception that would pass as what a student types is redrawn (ProblemKind._finish)
    version = 2
    title = "Number of parameters of a network"
    description = (
        "From the layer sizes n_0, ..., n_L: Σ n_{l-1} n_l weights, Σ n_l biases and their total."
    )
    topic = TOPIC
    params = (
        Param("depth", "int", 3, "number of layers L (weight matrices)", minimum=1, maximum=6),
        STYLE_PARAM,
        BIAS_PARAM,
    )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        high = 11 if p["style"] == "hand" else 257
        sizes = [int(n) for n in rng.integers(1, high, size=p["depth"] + 1)]
        if p["style"] == "random" and max(sizes) < 20:
            raise Redraw("a 'random' architecture should have a wide layer")
        n_params = parameter_count(sizes, bias=p["bias"])
        n_weights = parameter_count(sizes, bias=False)
        n_biases = n_params - n_weights
        fields = [Field("n_weights", "number of weights", (), "number")]
        answers: dict[str, Any] = {"n_weights": n_weights}
        if p["bias"]:
            fields.append(Field("n_biases", "number of biases", (), "number"))
            answers["n_biases"] = n_biases
        fields.append(Field("n_params", "total number of parameters", (), "number"))
        answers["n_params"] = n_params
        draft = Draft(
            text=self._text(sizes, p["bias"]),
            data={"sizes": sizes, "bias": p["bias"]},
            fields=fields,
            answers=answers,
            solution=self._solution(sizes, p["bias"], n_weights, n_biases, n_params),
            tolerance=dict(EXACT_COUNT),
        )
        if p["bias"]:
            add_if_differs(
                draft,
                "forgot_biases",
                "Forgot the biases",
                "Every unit outside the input layer has a bias w_{0,j} (a column W_0^l of n_l "
                "entries); it is a parameter too.",
                {"n_params": n_weights},
            )
            per_input = sum(sizes[:-1])
            add_if_differs(
                draft,
                "biases_per_input",
                "Counted one bias per layer input instead of per unit",
                "W_0^l has one entry per unit of layer l (n_l), not per input (n_{l−1}).",
                {"n_biases": per_input, "n_params": n_weights + per_input},
            )
        else:
            add_if_differs(
                draft,
                "added_biases",
                "Added biases the network does not have",
                "These units have no bias, so only the weights W^l count.",
                {"n_params": parameter_count(sizes, bias=True)},
            )
        add_if_differs(
            draft,
            "counted_nodes",
            "Counted units instead of parameters",
            "Parameters sit on the connections: layer l has n_{l−1}·n_l weights (plus n_l biases), "
            "not n_l of them.",
            {"n_params": sum(sizes), "n_weights": sum(sizes)},
        )
        return draft

    def _text(self, sizes: list[int], bias: bool) -> str:
        hidden = sizes[1:-1]
        if hidden:
            layers = f"hidden layers of {', '.join(map(str, hidden))} units and "
        else:
            layers = ""
        bias_text = (
            "every unit has a bias $w_{0,j}$ (the column $W_0^l$)"
            if bias
            else "no unit has a bias"
        )
        ask = "How many weights, biases and parameters in total does it have?" if bias else (
            "How many weights and parameters in total does it have?"
        )
        return (
            f"A fully connected feed-forward network has $n_0 = {sizes[0]}$ inputs, {layers}"
            f"{sizes[-1]} output unit{'s' if sizes[-1] > 1 else ''} (sizes {'-'.join(map(str, sizes))}); "
            f"{bias_text}. $W^l$ is $n_{{l-1}} \\times n_l$. {ask}"
        )

    def _solution(self, sizes, bias, n_weights, n_biases, n_params) -> list[dict]:
        terms = " + ".join(f"{a} \\cdot {b}" for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        steps = [step("Weights", f"\\sum_l n_{{l-1}} n_l = {terms} = {n_weights}", n_weights=n_weights)]
        if bias:
            steps.append(
                step("Biases", f"\\sum_l n_l = {' + '.join(map(str, sizes[1:]))} = {n_biases}", n_biases=n_biases)
            )
            steps.append(step("Total", f"{n_weights} + {n_biases} = {n_params}", n_params=n_params))
        else:
            steps.append(step("Total", f"\\text{{no biases: }} {n_params}", n_params=n_params))
        return steps


# --- dropout ------------------------------------------------------------------------------------


DRAWN_P_DROP = (0.2, 0.25, 0.3, 0.4)  # p when the question does not set it: never 1 - p = p
MIN_P_DROP = 0.05


class Dropout(ProblemKind):
    """Apply a given dropout mask to a layer's activations, with or without rescaling."""

    id = "dropout"
    # v2: a draw where a misconception's answer, written to 3 or 4 significant figures as a
    # student types it, would be credited is redrawn (ProblemKind._finish); v3: p is drawn from
    # DRAWN_P_DROP unless set (at the old default 0.5 dividing by p gave the right answer), and
    # the prompt no longer hands out the factor 1/(1 - p)
    version = 3
    title = "Dropout on one layer"
    description = (
        "Activations, a keep/drop mask and the drop probability p: the layer's output, kept "
        "units rescaled by 1/(1 - p) under inverted dropout (002)."
    )
    topic = TOPIC
    params = (
        Param("units", "int", 5, "units in the layer", minimum=2, maximum=10),
        Param(
            "p_drop",
            "float",
            0.0,
            "probability p of dropping a unit, 0.05 to 0.9; 0 (the default) draws it for each "
            "student from 0.2, 0.25, 0.3, 0.4 (at p = 0.5, dividing by p gives the right answer)",
            minimum=0.0,
            maximum=0.9,
        ),
        Param("inverted", "bool", True, "inverted dropout: rescale kept units by 1/(1 - p)"),
        STYLE_PARAM,
    )

    def check_params(self, p: dict) -> None:
        if 0.0 < p["p_drop"] < MIN_P_DROP:
            raise ParamError(
                f"parameter 'p_drop' must be 0 (drawn for each student) or between {MIN_P_DROP} and "
                f"0.9; got {p['p_drop']}"
            )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        n, p_drop, inverted = p["units"], p["p_drop"], p["inverted"]
        if p_drop == 0.0:
            p_drop = float(DRAWN_P_DROP[int(rng.integers(len(DRAWN_P_DROP)))])
        a = np.abs(draw_values(rng, (n,), p["style"]))  # outputs of ReLU/sigmoid units are ≥ 0
        mask = (rng.random(n) >= p_drop).astype(np.float64)
        if mask.all() or not mask.any():
            raise Redraw("mask keeps every unit or none")
        out = dropout(a, mask, p_drop, inverted)
        field = Field("a_out", "layer output after dropout", (n,), "vector")
        rescale = (
            "Use inverted dropout: during training the surviving units are rescaled so that each "
            "unit's expected output is the same as without dropout (nothing is rescaled at test time)."
            if inverted
            else "Do not rescale (plain dropout: the rescaling is done at test time)."
        )
        draft = Draft(
            text=(
                f"A layer's activations are $a = {latex_matrix(a)}$. Dropout with drop probability "
                f"$p = {fmt(p_drop)}$ drew the mask $m = {latex_matrix(mask)}$ (1 = keep, 0 = drop). "
                f"{rescale} Give the layer's output."
            ),
            data={"a": a, "mask": mask, "p_drop": p_drop, "inverted": inverted},
            fields=[field],
            answers={"a_out": out},
            solution=self._solution(a, mask, p_drop, inverted, out),
        )
        kept = a * mask
        if inverted:
            add_if_differs(
                draft,
                "no_rescale",
                "Did not rescale the surviving units",
                "Inverted dropout divides the kept activations by 1 − p so their expected sum is unchanged.",
                {"a_out": kept},
            )
            add_if_differs(
                draft,
                "divided_by_p",
                "Divided by p instead of 1 − p",
                "p is the probability of DROPPING; a unit survives with probability 1 − p, so divide by 1 − p.",
                {"a_out": kept / p_drop},
            )
            add_if_differs(
                draft,
                "scaled_down",
                "Multiplied by 1 − p instead of dividing",
                "Scaling by 1 − p is the test-time rule of plain dropout; inverted dropout divides "
                "during training instead.",
                {"a_out": kept * (1.0 - p_drop)},
            )
        else:
            add_if_differs(
                draft,
                "rescaled",
                "Rescaled although the question uses plain dropout",
                "Plain dropout only zeroes the dropped units during training; the 1 − p scaling "
                "happens at test time.",
                {"a_out": kept / (1.0 - p_drop)},
            )
        add_if_differs(
            draft,
            "mask_inverted",
            "Applied the mask the wrong way round",
            "m_j = 1 means unit j is KEPT; the units with m_j = 0 are the dropped ones and output 0.",
            {"a_out": dropout(a, 1.0 - mask, p_drop, inverted)},
        )
        return draft

    def _solution(self, a, mask, p_drop, inverted, out) -> list[dict]:
        steps = [
            step(
                "Apply the mask",
                f"a \\odot m = {latex_matrix(a * mask)}",
                kept=a * mask,
            )
        ]
        if inverted:
            steps.append(
                step(
                    "Rescale the survivors by the keep probability 1 − p",
                    f"\\frac{{a \\odot m}}{{1 - p}} = \\frac{{1}}{{{fmt(1 - p_drop)}}}\\,(a \\odot m) = {latex_matrix(out)}",
                    out=out,
                )
            )
        return steps


# --- batch normalisation ------------------------------------------------------------------------


class BatchNorm(ProblemKind):
    """002's batch normalisation of one or two units over a mini-batch."""

    id = "batch_norm"
    # v2: sums that cancel to rounding noise are exactly 0 (nncore.cancellation); v3: no
    # misconception passes as a rounded-path answer (ProblemKind._finish)
    version = 4
    # v4: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    title = "Batch normalisation"
    description = (
        "A mini-batch of activations of one or two units: μ, σ² (divided by |B|) and "
        "â = γ (a − μ)/sqrt(ε + σ²) + β."
    )
    topic = TOPIC
    params = (
        Param("units", "int", 1, "number of units normalised (1 or 2)", minimum=1, maximum=2),
        Param("batch", "int", 4, "mini-batch size |B|", minimum=2, maximum=8),
        Param("eps", "float", 0.001, "ε added to σ²", minimum=0.0, maximum=1.0),
        STYLE_PARAM,
    )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        n, B, eps, style = p["units"], p["batch"], p["eps"], p["style"]
        A = draw_values(rng, (n, B), style, nonzero=False)
        gamma = np.array([_hand_or_random(rng, style, [0.5, 1.5, 2, 2.5, 3], 0.5, 2.0) for _ in range(n)])
        beta = np.array([_hand_or_random(rng, style, [-2, -1, -0.5, 0.5, 1, 2], -1.0, 1.0) for _ in range(n)])
        if np.any(beta == 0) or np.any(gamma == 1):
            raise Redraw("γ = 1 or β = 0 hides whether they were applied")
        if np.any(np.all(A == A[:, :1], axis=1)):  # σ² = 0: redrawn below anyway, but ε = 0 cannot divide
            raise Redraw("constant unit")
        result = batch_norm(A, gamma, beta, eps)
        if np.any(result.var < 0.05):
            raise Redraw("(almost) constant unit: ε would dominate")
        one = n == 1
        if one:
            fields = [
                Field("mu", "$\\mu$", (), "number"),
                Field("var", "$\\sigma^2$", (), "number"),
                Field("a_hat", "$\\hat a^{(e)}$ for $e = 1, ..., |B|$", (B,), "vector"),
            ]
        else:
            fields = [
                Field("mu", "$\\mu_j$ (one per unit)", (n,), "vector"),
                Field("var", "$\\sigma_j^2$ (one per unit)", (n,), "vector"),
                Field("a_hat", "$\\hat a_j^{(e)}$ (rows: units, columns: examples)", (n, B), "matrix"),
            ]

        def pack(mu, var, a_hat) -> dict:
            return {"mu": _flat(mu), "var": _flat(var), "a_hat": a_hat[0] if one else a_hat}

        answers = pack(result.mu, result.var, result.A_hat)
        g, b = gamma.reshape(-1, 1), beta.reshape(-1, 1)
        centred = batch_centred(A, result.mu)
        draft = Draft(
            text=self._text(A, gamma, beta, eps),
            data={"A": A, "gamma": gamma, "beta": beta, "eps": eps},
            fields=fields,
            answers=answers,
            solution=self._solution(A, result, gamma, beta, eps),
        )
        for k in ROUNDED_PATHS:
            denom = round_sig(np.sqrt(eps + result.var), k)
            a_hat = g * round_sig(centred / denom, k) + b
            draft.alternatives.setdefault("a_hat", []).append(a_hat[0] if one else a_hat)
        unbiased = result.var * B / (B - 1)
        add_if_differs(
            draft,
            "unbiased_variance",
            "Divided by |B| − 1 for the variance",
            "Batch normalisation uses the batch's own variance σ² = (1/|B|) Σ_e (a^(e) − μ)².",
            pack(result.mu, unbiased, g * centred / np.sqrt(eps + unbiased) + b),
        )
        add_if_differs(
            draft,
            "forgot_gamma_beta",
            "Forgot γ and β",
            "After normalising, batch normalisation scales by γ and shifts by β: â = γ·(a − μ)/√(ε + σ²) + β.",
            pack(result.mu, result.var, centred / np.sqrt(eps + result.var)),
        )
        add_if_differs(
            draft,
            "divided_by_variance",
            "Divided by σ² instead of √(ε + σ²)",
            "The denominator is the standard deviation √(ε + σ²), not the variance.",
            pack(result.mu, result.var, g * centred / (eps + result.var) + b),
        )
        add_if_differs(
            draft,
            "std_for_variance",
            "Gave σ for σ²",
            "σ² is the mean squared deviation itself; its square root σ is the standard deviation.",
            {"var": _flat(np.sqrt(result.var))},
        )
        return draft

    def _text(self, A, gamma, beta, eps) -> str:
        n, B = A.shape
        if n == 1:
            data = f"the outputs $a^{{(e)}}$ of one unit on a mini-batch of $|B| = {B}$ examples are " + (
                ", ".join(fmt(v) for v in A[0])
            )
            params = f"$\\gamma = {fmt(gamma[0])}$, $\\beta = {fmt(beta[0])}$"
        else:
            data = (
                f"the outputs $a_j^{{(e)}}$ of two units on a mini-batch of $|B| = {B}$ examples are "
                f"unit 1: {', '.join(fmt(v) for v in A[0])}; unit 2: {', '.join(fmt(v) for v in A[1])}"
            )
            params = (
                f"$\\gamma_1 = {fmt(gamma[0])}$, $\\beta_1 = {fmt(beta[0])}$, "
                f"$\\gamma_2 = {fmt(gamma[1])}$, $\\beta_2 = {fmt(beta[1])}$"
            )
        return (
            f"In a network trained with mini-batches, {data}. Batch normalisation replaces each by "
            f"$\\hat a^{{(e)}} = \\gamma \\frac{{a^{{(e)}} - \\mu}}{{\\sqrt{{\\epsilon + \\sigma^2}}}} + \\beta$, "
            f"where $\\mu$ and $\\sigma^2 = \\frac{{1}}{{|B|}}\\sum_e (a^{{(e)}} - \\mu)^2$ are the batch mean "
            f"and variance (per unit), with {params} and $\\epsilon = {fmt(eps)}$. "
            f"Give $\\mu$, $\\sigma^2$ and every $\\hat a^{{(e)}}$."
        )

    def _solution(self, A, result, gamma, beta, eps) -> list[dict]:
        steps = []
        for j in range(A.shape[0]):
            unit = f" (unit {j + 1})" if A.shape[0] > 1 else ""
            row, mu, var = A[j], float(result.mu[j, 0]), float(result.var[j, 0])
            B = row.size
            steps.append(
                step(
                    f"Mean{unit}",
                    f"\\mu = \\frac{{1}}{{{B}}}({_sum_latex(row)}) = {fmt(mu)}",
                    mu=mu,
                )
            )
            squares = " + ".join(f"({fmt(v - mu)})^2" for v in row)
            steps.append(step(f"Variance{unit}", f"\\sigma^2 = \\frac{{1}}{{{B}}}({squares}) = {fmt(var)}", var=var))
            denom = float(np.sqrt(eps + var))
            steps.append(
                step(
                    f"Normalise, scale and shift{unit}",
                    f"\\sqrt{{\\epsilon + \\sigma^2}} = \\sqrt{{{fmt(eps)} + {fmt(var)}}} = {fmt(denom)},\\;"
                    f"\\hat a^{{(e)}} = {_p(gamma[j])}\\,\\frac{{a^{{(e)}} - {_p(mu)}}}{{{fmt(denom)}}} + {_p(beta[j])}"
                    f" = {latex_matrix(result.A_hat[j].reshape(1, -1))}",
                    a_hat=result.A_hat[j],
                )
            )
        return steps


# --- residual connection ------------------------------------------------------------------------


class ResidualGradient(ProblemKind):
    """000: with g = a^1 + ReLU(z^2), w^1 still gets a gradient when z^2 < 0."""

    id = "residual_gradient"
    version = 4  # v2: an output equal to the target up to rounding noise is redrawn (zero loss); v3: engine sums that cancel to rounding noise are 0 (nncore.network)
    # v4: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    title = "Gradient through a residual connection"
    description = (
        "A 1-1-1 ReLU chain with z^2 < 0: ∂L/∂w^1 with the skip connection g = a^1 + ReLU(z^2) "
        "and without it (g = ReLU(z^2), where it is 0)."
    )
    topic = TOPIC
    params = (
        STYLE_PARAM,
        Param("bias", "bool", False, "whether units have biases w_0 (000's examples have none)"),
    )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        style = p["style"]
        W = [draw_values(rng, (1, 1), style) for _ in range(2)]
        biases = [draw_values(rng, (1,), style) for _ in range(2)] if p["bias"] else None
        x = draw_values(rng, (1,), style)
        y = draw_values(rng, (1,), style)
        net = make_network(W, biases, ["relu", "relu"], skips=[False, True])
        trace = forward(net, x)
        check_calculator_friendly(net, trace)
        check_no_near_kink(net, trace)
        z1, z2 = float(trace.Z[1][0, 0]), float(trace.Z[2][0, 0])
        if z1 <= 0:
            raise Redraw("z^1 < 0: the skip path is dead as well")
        if z2 >= 0:
            raise Redraw("the question needs a dead ReLU(z^2)")
        a1, g = float(trace.A[1][0, 0]), float(trace.output[0, 0])
        if cancelled(g - float(y[0]), abs(g) + abs(float(y[0]))):  # e.g. 3 x 0.2 against 0.6
            raise Redraw("zero loss")
        grads = residual_gradient(net, x, y, "squared")
        dw1 = float(grads.with_skip.dW[1][0, 0])
        dw1_plain = float(grads.without_skip.dW[1][0, 0])
        w1, w2 = float(W[0][0, 0]), float(W[1][0, 0])
        xv, yv = float(x[0]), float(y[0])
        fields = [
            Field("g", "$g$ (with the skip connection)", (), "number"),
            Field("dLdw1", "$\\partial \\mathcal{L}/\\partial w^1$ with the skip connection", (), "number"),
            Field("dLdw1_plain", "$\\partial \\mathcal{L}/\\partial w^1$ without it", (), "number"),
        ]
        draft = Draft(
            text=self._text(net, xv, yv, p["bias"]),
            data={"network": net.to_dict(), "x": x, "y": y, "loss": "squared"},
            fields=fields,
            answers={"g": g, "dLdw1": dw1, "dLdw1_plain": dw1_plain},
            solution=self._solution(net, xv, yv, z1, a1, z2, g, dw1, dw1_plain),
            diagram={
                "nodes": [
                    {"id": "x", "label": "x", "value": xv, "role": "input"},
                    {"id": "a1", "label": "a^1", "activation": "relu", "role": "hidden"},
                    {"id": "r2", "label": "\\mathrm{ReLU}(z^2)", "activation": "relu", "role": "hidden"},
                    {"id": "g", "label": "g", "role": "output"},
                ],
                "edges": [
                    {"from": "x", "to": "a1", "label": "w^1", "weight": w1},
                    {"from": "a1", "to": "r2", "label": "w^2", "weight": w2},
                    {"from": "r2", "to": "g", "label": "+", "weight": 1.0, "fixed": True},
                    {"from": "a1", "to": "g", "label": "skip", "weight": 1.0, "fixed": True, "skip": True},
                ],
                "target": [yv],
            },
        )
        two_err = 2.0 * (g - yv)  # ∂L/∂g with the skip
        add_if_differs(
            draft,
            "skip_path_dead",
            "Treated the skip path as dead too",
            "ReLU(z^2) is dead, but g = a^1 + ReLU(z^2) still depends on a^1 through the skip: "
            "∂g/∂a^1 = 1 + ReLU'(z^2) w^2 = 1.",
            {"dLdw1": 0.0},
        )
        add_if_differs(
            draft,
            "forgot_skip_in_forward",
            "Left the skip out of the forward pass",
            "With the skip connection the output is g = a^1 + ReLU(z^2) = a^1 here, not ReLU(z^2) = 0.",
            {"g": float(net.layers[1].activation(trace.Z[2])[0, 0])},  # ReLU(z^2) = 0
        )
        add_if_differs(
            draft,
            "no_factor_2",
            "Dropped the factor 2 of the squared loss",
            "∂/∂g (g − y)² = 2(g − y).",
            {"dLdw1": dw1 / 2.0},
        )
        add_if_differs(
            draft,
            "dead_relu_passes_gradient",
            "Took ReLU'(z^2) = 1 although z^2 < 0",
            "ReLU'(z) = 0 for z < 0: the path through the dead unit carries no gradient.",
            {
                "dLdw1": two_err * (1.0 + w2) * xv,
                "dLdw1_plain": 2.0 * (0.0 - yv) * w2 * xv,
            },
        )
        return draft

    def _text(self, net: Network, x: float, y: float, bias: bool) -> str:
        l1, l2 = net.layers
        weights = f"$w^1 = {fmt(l1.W[0, 0])}$, $w^2 = {fmt(l2.W[0, 0])}$"
        if bias:
            weights += f", $w^1_0 = {fmt(l1.W0[0, 0])}$, $w^2_0 = {fmt(l2.W0[0, 0])}$"
        b1, b2 = (" + w^1_0", " + w^2_0") if bias else ("", "")
        return (
            f"A 1-1-1 ReLU network computes $z^1 = w^1 x{b1}$, $a^1 = \\mathrm{{ReLU}}(z^1)$, "
            f"$z^2 = w^2 a^1{b2}$ with {weights}. With a residual (skip) connection its output is "
            f"$g = a^1 + \\mathrm{{ReLU}}(z^2)$; without it, $g = \\mathrm{{ReLU}}(z^2)$. "
            f"For the data point $(x, y) = ({fmt(x)}, {fmt(y)})$ and the loss "
            f"$\\mathcal{{L}}(g, y) = (g - y)^2$, give $g$ with the skip connection, and "
            f"$\\partial \\mathcal{{L}}/\\partial w^1$ with and without the skip connection."
        )

    def _solution(self, net, x, y, z1, a1, z2, g, dw1, dw1_plain) -> list[dict]:
        w2 = float(net.layers[1].W[0, 0])
        return [
            step("Forward", f"z^1 = {fmt(z1)},\\; a^1 = {fmt(a1)},\\; z^2 = {fmt(z2)} < 0,\\; "
                 f"\\mathrm{{ReLU}}(z^2) = 0", z1=z1, a1=a1, z2=z2),
            step("Output with the skip", f"g = a^1 + \\mathrm{{ReLU}}(z^2) = {fmt(a1)} + 0 = {fmt(g)}", g=g),
            step(
                "Chain rule with the skip",
                f"\\frac{{\\partial \\mathcal{{L}}}}{{\\partial w^1}} = 2(g - y)\\,"
                f"(1 + \\mathrm{{ReLU}}'(z^2) w^2)\\,\\mathrm{{ReLU}}'(z^1)\\,x = 2({fmt(g)} - {_p(y)})"
                f"(1 + 0 \\cdot {_p(w2)}) \\cdot 1 \\cdot {_p(x)} = {fmt(dw1)}",
                dLdw1=dw1,
            ),
            step(
                "Without the skip",
                f"g = \\mathrm{{ReLU}}(z^2) = 0,\\; \\frac{{\\partial \\mathcal{{L}}}}{{\\partial w^1}} = "
                f"2(g - y)\\,\\mathrm{{ReLU}}'(z^2)\\,w^2\\,\\mathrm{{ReLU}}'(z^1)\\,x = "
                f"2(0 - {_p(y)}) \\cdot 0 \\cdot {_p(w2)} \\cdot 1 \\cdot {_p(x)} = {fmt(dw1_plain)}",
                dLdw1_plain=dw1_plain,
            ),
            step(
                "Why it matters",
                "\\text{the skip adds 1 to } \\partial g/\\partial a^1\\text{, so earlier weights still learn "
                "when ReLU}(z^2)\\text{ is dead}",
            ),
        ]


KINDS = (DeadRelu, VanishingGradient, LinearCollapse, ParameterCount, Dropout, BatchNorm, ResidualGradient)
