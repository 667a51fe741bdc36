"""Module exercises with the MIT 6.390 homework interface: Linear, Tanh, ReLU, SoftMax, NLL and
Sequential, tested by scripts of calls (construct, inject weights, forward, backward, sgd_step,
class_fun, sgd with a scripted example order) whose expectations come from the engine.

Linear's gradients are SUMS over the batch (dLdW = A dLdZ^T), while nncore.network.backward
returns batch means, so the batch means are multiplied by the batch size b.
"""

from __future__ import annotations

import numpy as np

from nncore.activations import get_activation
from nncore.losses import get_loss
from nncore.network import (
    Gradients,
    Network,
    backpropagate,
    combined_delta,
    forward,
    make_network,
)
from nncore.problems.base import Param, Redraw, step
from nncore.problems.code import values as v
from nncore.problems.code.kind import (
    CODE_PARAMS,
    Bug,
    CodeKind,
    assign,
    case,
    case_rate,
    draw_until,
    fixed_rate_bug,
    get,
    method,
    new,
    off_kink,
    one_hot_columns,
    values,
)
from nncore.problems.code.module_sources import ENTRY, REFERENCE, interface
from nncore.problems.code.module_sources import starter as module_starter
from nncore.problems.common import check_no_tie, latex_matrix
from nncore.softmax import predicted_class, probabilities
from nncore.updates import apply_gradients, train

LRATE_PARAM = Param(
    "lrate", "float", 0.1, "learning rate of the first case (the others use 2, 1/2, 4 and 1/4 times it in turn, divided instead where that leaves the range)",
    minimum=1e-4, maximum=1.0,
)
MIN_GAP = 0.1  # relu pre-activations and softmax winners are at least this far from a tie

# --- the bugs (edits of module_sources.REFERENCE) ---------------------------------------------------

BUGS = {
    b.id: b
    for b in (
        Bug("linear_bias_not_summed", "Bias gradient kept per example (n x b)",
            "dLdW0 = Σ over the batch of dLdZ: sum over axis 1 with keepdims, giving n x 1.",
            (("self.dLdW0 = np.sum(dLdZ, axis=1, keepdims=True)", "self.dLdW0 = dLdZ"),)),
        Bug("linear_bias_mean", "Averaged the bias gradient over the batch",
            "Like dLdW = A dLdZ^T, which sums over the batch, dLdW0 sums dLdZ over the batch.",
            (("self.dLdW0 = np.sum(dLdZ, axis=1, keepdims=True)", "self.dLdW0 = np.mean(dLdZ, axis=1, keepdims=True)"),)),
        Bug("linear_plus_update", "Updated with + instead of −",
            "Gradient descent steps against the gradient: W ← W − lrate · dLdW.",
            (("self.W = self.W - lrate * self.dLdW", "self.W = self.W + lrate * self.dLdW"),
             ("self.W0 = self.W0 - lrate * self.dLdW0", "self.W0 = self.W0 + lrate * self.dLdW0"))),
        Bug("relu_no_mask", "ReLU backward passes the gradient through unmasked",
            "ReLU'(z) = 0 for z < 0: dLdZ = dLdA ⊙ [Z > 0].",
            (("return dLdA * (self.A > 0)", "return dLdA"),)),
        Bug("relu_mutates_input", "ReLU backward zeroes the caller's array in place",
            "dLdA[mask] = 0 changes the array passed in; multiply into a new array instead.",
            (("        return dLdA * (self.A > 0)\n", "        dLdA[self.A <= 0] = 0.0\n        return dLdA\n"),)),
        Bug("tanh_g_instead_of_gprime", "Tanh backward multiplies by tanh(Z) instead of its derivative",
            "tanh'(z) = 1 − tanh(z)², so dLdZ = dLdA ⊙ (1 − A²).",
            (("return dLdA * (1.0 - self.A ** 2)", "return dLdA * self.A"),)),
        Bug("softmax_unstable", "SoftMax exponentiates the raw logits",
            "exp(1000) overflows and inf/inf is NaN; subtract each column's maximum first.",
            (("E = np.exp(Z - np.max(Z, axis=0, keepdims=True))", "E = np.exp(Z)"),)),
        Bug("class_fun_ignores_argument", "class_fun uses the last forward output instead of its argument",
            "class_fun(Ypred) must classify the Ypred it is given, not what forward computed last.",
            (("        return E / np.sum(E, axis=0, keepdims=True)\n",
              "        self.Ypred = E / np.sum(E, axis=0, keepdims=True)\n        return self.Ypred\n"),
             ("return np.argmax(Ypred, axis=0)", "return np.argmax(self.Ypred, axis=0)"))),
        Bug("class_fun_wrong_axis", "class_fun takes the argmax over the batch",
            "Each column is one example: the class is the argmax over axis 0 (the classes).",
            (("return np.argmax(Ypred, axis=0)", "return np.argmax(Ypred, axis=1)"),)),
        Bug("nll_backward_sign", "NLL backward returns Y − Ypred",
            "∂L/∂Z for softmax with NLL is Ypred − Y.",
            (("return self.Ypred - self.Y", "return self.Y - self.Ypred"),)),
        Bug("sgd_full_batch", "sgd uses the whole data set every iteration",
            "Stochastic gradient descent uses ONE random example per iteration: i = np.random.randint(N).",
            (("            i = np.random.randint(N)\n            Xt = X[:, i:i + 1]\n            Yt = Y[:, i:i + 1]\n",
              "            Xt = X\n            Yt = Y\n"),)),
        Bug("sgd_cyclic_order", "sgd visits the examples in order",
            "Each iteration draws its example at random with np.random.randint(N).",
            (("i = np.random.randint(N)", "i = it % N"),)),
        Bug("backward_not_reversed", "Sequential.backward runs the modules front to back",
            "The gradient flows from the loss back to the input: call backward in reverse order.",
            (("for m in self.modules[::-1]:", "for m in self.modules:"),)),
    )
}

PART_BUGS = {
    "linear": ("linear_bias_not_summed", "linear_bias_mean", "linear_plus_update"),
    "activations": ("relu_no_mask", "relu_mutates_input", "tanh_g_instead_of_gprime"),
    "softmax_nll": ("softmax_unstable", "class_fun_ignores_argument", "class_fun_wrong_axis", "nll_backward_sign"),
}
PART_BUGS["sequential"] = (
    *PART_BUGS["linear"], *PART_BUGS["activations"], *PART_BUGS["softmax_nll"],
    "sgd_full_batch", "sgd_cyclic_order", "backward_not_reversed",
)


# --- single-module cases ---------------------------------------------------------------------------------


def linear_case(rng, name, kind, note, m, n, b, hand, lrate) -> dict:
    """Linear(m, n) with injected W, W0: forward, backward, the stored gradients, sgd_step."""
    W, W0 = values(rng, (m, n), hand), values(rng, (n, 1), hand)
    A, dLdZ = values(rng, (m, b), hand), values(rng, (n, b), hand)
    net = make_network([W], [W0], "identity")
    trace = forward(net, A)
    grads = backpropagate(net, trace, dLdZ)
    summed = Gradients(grads.delta, [None, grads.dW[1] * b], [None, grads.dW0[1] * b], grads.dA)
    updated = apply_gradients(net, summed, lrate).layer(1)
    return case(name, kind, note, [
        new("lin", "Linear", v.integer(m), v.integer(n)),
        assign("lin", "W", v.array(W)),
        assign("lin", "W0", v.array(W0)),
        method("lin", "forward", v.array(A), expect=v.array(trace.Z[1])),
        method("lin", "backward", v.array(dLdZ), expect=v.array(grads.dA[0])),
        get("lin", "dLdW", v.array(summed.dW[1])),
        get("lin", "dLdW0", v.array(summed.dW0[1])),
        method("lin", "sgd_step", v.number(lrate)),
        get("lin", "W", v.array(updated.W)),
        get("lin", "W0", v.array(updated.W0)),
    ])


def activation_case(rng, name, kind, note, cls, K, b, hand) -> dict:
    """Tanh() or ReLU(): forward(Z), then backward(dLdA); ReLU inputs have both signs."""
    act = get_activation("tanh" if cls == "Tanh" else "relu")

    def ok(Z):
        return cls == "Tanh" or (off_kink([Z]) and np.any(Z < 0) and np.any(Z > 0))

    Z = draw_until(rng, lambda r: values(r, (K, b), hand), ok, name)
    dLdA = values(rng, (K, b), hand)
    return case(name, kind, note, [
        new("act", cls),
        method("act", "forward", v.array(Z), expect=v.array(act(Z))),
        method("act", "backward", v.array(dLdA), expect=v.array(act.backward(Z, dLdA))),
    ])


def softmax_case(rng, name, kind, note, K, b, hand, large=False) -> dict:
    """SoftMax(): forward(Z), backward(dLdZ) passes dLdZ on, class_fun of a DIFFERENT Ypred."""
    Z = values(rng, (K, b), hand)
    if large:
        Z[:2, 0] = [1000.0, 0.0]

    def draw_other(r):
        return np.round(probabilities(values(r, (K, b), hand)), 4)

    def ok(Yp):
        try:
            check_no_tie(Yp, gap=0.01)
        except Redraw:
            return False
        return bool(np.any(predicted_class(Yp) != predicted_class(Z)))

    Ypred = draw_until(rng, draw_other, ok, name)
    dLdZ = values(rng, (K, b), hand)
    return case(name, kind, note, [
        new("sm", "SoftMax"),
        method("sm", "forward", v.array(Z), expect=v.array(probabilities(Z))),
        method("sm", "backward", v.array(dLdZ), expect=v.array(dLdZ)),
        method("sm", "class_fun", v.array(Ypred), expect=v.int_array(predicted_class(Ypred))),
    ])


def nll_case(rng, name, kind, note, K, b, hand) -> dict:
    """NLL(): forward(Ypred, Y) is the loss summed over the batch, backward() is Ypred - Y."""
    Ypred = draw_until(rng, lambda r: np.round(probabilities(values(r, (K, b), hand)), 4),
                       lambda g: bool(np.all(g > 0)), name)
    Y = one_hot_columns(rng, K, b)
    loss = get_loss("cross_entropy")
    return case(name, kind, note, [
        new("nll", "NLL"),
        method("nll", "forward", v.array(Ypred), v.array(Y), expect=v.number(np.sum(loss.value(Ypred, Y)))),
        method("nll", "backward", expect=v.array(combined_delta(loss, Ypred, Y))),
    ])


# --- Sequential cases --------------------------------------------------------------------------------------


def draw_sequential(rng, sizes: list[int], hidden: str, hand: bool) -> Network:
    """Linear layers with `hidden` activations and a softmax output, as a Network."""
    weights = [values(rng, (sizes[l - 1], sizes[l]), hand) for l in range(1, len(sizes))]
    biases = [values(rng, (sizes[l], 1), hand) for l in range(1, len(sizes))]
    return make_network(weights, biases, [hidden] * (len(sizes) - 2) + ["softmax"])


def sequential_setup(net: Network) -> list[dict]:
    """Steps building Sequential([Linear, act, ..., Linear, SoftMax], NLL()) with net's weights;
    the Linear modules are l1, l2, ... so their weights can be read afterwards."""
    steps, names = [], []
    for l, layer in enumerate(net.layers, start=1):
        steps += [
            new(f"l{l}", "Linear", v.integer(layer.n_in), v.integer(layer.n_out)),
            assign(f"l{l}", "W", v.array(layer.W)),
            assign(f"l{l}", "W0", v.array(layer.W0)),
        ]
        names.append(f"l{l}")
        act = {"relu": "ReLU", "tanh": "Tanh", "softmax": "SoftMax"}[layer.activation.name]
        steps.append(new(f"f{l}", act))
        names.append(f"f{l}")
    steps.append(new("loss", "NLL"))
    steps.append(new("net", "Sequential", v.items([v.var(n) for n in names]), v.var("loss")))
    return steps


def weight_checks(net: Network) -> list[dict]:
    """Read W and W0 of every Linear l1, l2, ... and compare them with net's layers."""
    return [s for l, layer in enumerate(net.layers, start=1)
            for s in (get(f"l{l}", "W", v.array(layer.W)), get(f"l{l}", "W0", v.array(layer.W0)))]


def hidden_off_kink(net: Network, X: np.ndarray) -> bool:
    """No ReLU pre-activation of any column of X near the kink."""
    trace = forward(net, X)
    return off_kink(z for z, layer in zip(trace.Z[1:], net.layers, strict=True)
                    if layer.activation.name == "relu")


def forward_backward_case(rng, name, kind, note, sizes, hidden, b, hand, lrate) -> dict:
    """net.forward(X), net.backward(delta) with an arbitrary delta = dL/dZ^L, the Linear
    gradients, then net.sgd_step(lrate) and the new weights."""
    net, X = draw_until(
        rng, lambda r: (draw_sequential(r, sizes, hidden, hand), values(r, (sizes[0], b), hand)),
        lambda d: hidden_off_kink(*d), name)
    delta = values(rng, (sizes[-1], b), hand)
    trace = forward(net, X)
    grads = backpropagate(net, trace, delta)
    summed = Gradients(grads.delta, [None] + [g * b for g in grads.dW[1:]],
                       [None] + [g * b for g in grads.dW0[1:]], grads.dA)
    updated = apply_gradients(net, summed, lrate)
    steps = sequential_setup(net)
    steps.append(method("net", "forward", v.array(X), expect=v.array(trace.output)))
    steps.append(method("net", "backward", v.array(delta)))
    for l in range(1, net.depth + 1):
        steps += [get(f"l{l}", "dLdW", v.array(summed.dW[l])), get(f"l{l}", "dLdW0", v.array(summed.dW0[l]))]
    steps.append(method("net", "sgd_step", v.number(lrate)))
    return case(name, kind, note, steps + weight_checks(updated))


def sgd_case(rng, name, kind, note, sizes, hidden, N, iters, lrate, hand=False) -> dict:
    """net.sgd(X, Y, iters, lrate) with a scripted example order; the final weights."""

    def draw(r):
        net = draw_sequential(r, sizes, hidden, hand)
        X, Y = values(r, (sizes[0], N), hand), one_hot_columns(r, sizes[-1], N)
        order = [int(i) for i in r.integers(0, N, size=iters)]
        return net, X, Y, order

    def ok(drawn):
        net, X, Y, order = drawn
        if order == [t % N for t in range(iters)] or len(set(order)) < 2:
            return False
        record = train(net, X, Y, "cross_entropy", lrate, iters, order=order)
        return all(hidden_off_kink(record.networks[t], X[:, [order[t]]]) for t in range(iters))

    net, X, Y, order = draw_until(rng, draw, ok, name)
    final = train(net, X, Y, "cross_entropy", lrate, iters, order=order).final
    steps = sequential_setup(net)
    steps.append(method("net", "sgd", v.array(X), v.array(Y), v.integer(iters), v.number(lrate), randint=order))
    return case(name, kind, note, steps + weight_checks(final))


CLASS_TASK = {
    "Linear": (
        "`Linear(m, n)` holds $W$ ($m \\times n$) and $W_0$ ($n \\times 1$): `forward(A)` returns "
        "$Z = W^T A + W_0$; `backward(dLdZ)` stores `dLdW` $= A\\, (\\partial L/\\partial Z)^T$ "
        "($m \\times n$) and `dLdW0` $= \\sum_{\\text{batch}} \\partial L/\\partial Z$ ($n \\times 1$) "
        "and returns $\\partial L/\\partial A = W\\, \\partial L/\\partial Z$; `sgd_step(lrate)` "
        "subtracts `lrate` times the stored gradients."
    ),
    "Tanh": (
        "`Tanh.forward(Z)` returns $\\tanh Z$ entrywise and `backward(dLdA)` returns "
        "$\\partial L/\\partial Z = \\partial L/\\partial A \\odot (1 - \\tanh^2 Z)$."
    ),
    "ReLU": (
        "`ReLU.forward(Z)` returns $\\max(0, Z)$ entrywise and `backward(dLdA)` returns "
        "$\\partial L/\\partial Z = \\partial L/\\partial A \\odot [Z > 0]$."
    ),
    "SoftMax": (
        "`SoftMax.forward(Z)` is the column-wise softmax and must not overflow (a column $(1000, 0)$ "
        "gives $(1, 0)$); `backward(dLdZ)` receives $\\partial L/\\partial Z$ itself and returns it; "
        "`class_fun(Ypred)` returns the argmax over axis 0 of its argument (one class index per "
        "column)."
    ),
    "NLL": (
        "`NLL.forward(Ypred, Y)` returns the scalar $-\\sum Y \\log \\hat Y$ summed over classes and "
        "batch, and `backward()` returns $\\hat Y - Y$, the gradient with respect to the softmax "
        "input."
    ),
    "Sequential": (
        "`Sequential(modules, loss).sgd(X, Y, iters, lrate)` runs `iters` steps of STOCHASTIC "
        "gradient descent: each iteration draws one example index with `i = np.random.randint(N)` "
        "($N$ = columns of $X$; call it exactly this way, once per iteration: the tests script "
        "the indices it returns), then runs forward on column $i$, the loss, backward through the "
        "modules in reverse order, and `sgd_step`."
    ),
}


# --- the kinds ------------------------------------------------------------------------------------------------


def part_bugs(part: str) -> tuple[Bug, ...]:
    """The bugs a module exercise's cases are built to catch."""
    return tuple(BUGS[b] for b in PART_BUGS[part])


class ModuleKind(CodeKind):
    """A module exercise: the classes of one part of the MIT homework."""


    def task(self, p):
        names = [f"`{c}`" for c in self.entry]
        classes = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        parts = [
            f"Implement {classes} with the MIT 6.390 module interface shown in the signature. Data are "
            "columns: an activation $A$ is features $\\times$ batch $b$, one column per example.",
            *(CLASS_TASK[c] for c in self.entry),
        ]
        if "Linear" in self.entry:
            parts.append("The tests construct each `Linear`, then set `W` and `W0` directly, so keep "
                         "the weights in those attributes.")
        return " ".join(parts)

    def solution(self, p, cases):
        return [*self.explain(cases), step("Reference implementation", r"\text{see the code}", source=self.reference)]

    def bugs_for(self, p):
        """The part's bugs, and with a learning rate the fixed-rate ones: Linear.sgd_step, and
        Sequential.sgd passing a number to sgd_step, each with the first case's rate written in."""
        if "lrate" not in p:
            return self.bugs
        fixed = repr(p["lrate"])
        extra = [fixed_rate_bug("linear_fixed_lrate", "lrate", p["lrate"], (
            ("self.W = self.W - lrate * self.dLdW", f"self.W = self.W - {fixed} * self.dLdW"),
            ("self.W0 = self.W0 - lrate * self.dLdW0", f"self.W0 = self.W0 - {fixed} * self.dLdW0"),
        ))]
        if "Sequential" in self.entry:
            extra.append(fixed_rate_bug("sgd_fixed_lrate", "lrate", p["lrate"], (
                ("self.sgd_step(lrate)", f"self.sgd_step({fixed})"),
            )))
        return (*self.bugs, *extra)

    def explain(self, cases: list[dict]) -> list[dict]:
        raise NotImplementedError


class CodeLinearModule(ModuleKind):
    id = "code_linear_module"
    version = 5  # v2: engine sums that cancel to rounding noise are 0 (nncore.network); v3: a draw a typical bug passes (every case within tolerance) is redrawn (linear_plus_update, rtol 0.1, lrate 1e-4: 35 of 40 seeds); v4: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v5: the rate argument differs from case to case (case_rate), so code with a fixed number in its place fails (QA: it scored full marks), and the rules say how much printed output feedback shows
    title = "Code: the Linear module"
    description = "Write Linear(m, n) with forward, backward (dLdW, dLdW0 summed over the batch) and sgd_step."
    params = (*CODE_PARAMS, LRATE_PARAM)
    entry = ENTRY["linear"]
    signature = interface("linear")
    starter = module_starter("linear")
    reference = REFERENCE["linear"]
    bugs = part_bugs("linear")

    def make_cases(self, p, rng):
        def lr(index):
            return case_rate(LRATE_PARAM, p["lrate"], index)

        cases = [
            linear_case(rng, "small_1", "small", "one column through Linear(2, 3)", 2, 3, 1, True, lr(0)),
            linear_case(rng, "edge_batch", "edge", "a batch of 4 columns through Linear(3, 2)", 3, 2, 4, False, lr(1)),
        ]
        for i in range(p["random_cases"]):
            m, n, b = (int(k) for k in rng.integers(1, 5, size=3))
            cases.append(linear_case(rng, f"random_{i + 1}", "random", "random sizes and batch",
                                     m, n, b + 1, False, lr(2 + i)))
        return cases

    def explain(self, cases):
        return [
            step("Forward", r"Z = W^T A + W_0 \quad (n \times b)"),
            step("Backward", r"\frac{\partial L}{\partial W} = A \left(\frac{\partial L}{\partial Z}\right)^T,\; \frac{\partial L}{\partial W_0} = \sum_{\text{columns}} \frac{\partial L}{\partial Z} \;(n \times 1),\; \frac{\partial L}{\partial A} = W \frac{\partial L}{\partial Z}"),
            step("Update", r"W \leftarrow W - \eta \frac{\partial L}{\partial W},\; W_0 \leftarrow W_0 - \eta \frac{\partial L}{\partial W_0}"),
            _example_step(cases[0]),
        ]


class CodeActivationModules(ModuleKind):
    id = "code_activation_modules"
    version = 3  # v2: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v3: the rules say how much printed output feedback shows
    title = "Code: Tanh and ReLU modules"
    description = "Write the Tanh and ReLU modules: forward stores what backward needs, backward returns dLdZ."
    entry = ENTRY["activations"]
    signature = interface("activations")
    starter = module_starter("activations")
    reference = REFERENCE["activations"]
    bugs = part_bugs("activations")


    def make_cases(self, p, rng):
        cases = [
            activation_case(rng, "small_tanh", "small", "Tanh on one column", "Tanh", 3, 1, True),
            activation_case(rng, "small_relu", "small", "ReLU on one column with both signs", "ReLU", 3, 1, True),
            activation_case(rng, "edge_relu_batch", "edge", "ReLU on a batch with negative entries", "ReLU", 3, 4, False),
            activation_case(rng, "edge_tanh_batch", "edge", "Tanh on a batch", "Tanh", 2, 3, False),
        ]
        for i in range(p["random_cases"]):
            K, b = (int(k) for k in rng.integers(1, 5, size=2))
            cls = ("ReLU", "Tanh")[i % 2]
            cases.append(activation_case(rng, f"random_{i + 1}", "random", f"random {cls} input",
                                         cls, K + 1, b, False))
        return cases

    def explain(self, cases):
        return [
            step("Tanh", r"A = \tanh Z,\quad \frac{\partial L}{\partial Z} = \frac{\partial L}{\partial A} \odot (1 - A^2)"),
            step("ReLU", r"A = \max(0, Z),\quad \frac{\partial L}{\partial Z} = \frac{\partial L}{\partial A} \odot [Z > 0]"),
            _example_step(cases[1]),
        ]


class CodeSoftmaxNllModules(ModuleKind):
    id = "code_softmax_nll_modules"
    version = 3  # v2: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v3: the rules say how much printed output feedback shows
    title = "Code: SoftMax and NLL modules"
    description = "Write SoftMax (stable forward, pass-through backward, class_fun) and the NLL loss module."
    entry = ENTRY["softmax_nll"]
    signature = interface("softmax_nll")
    starter = module_starter("softmax_nll")
    reference = REFERENCE["softmax_nll"]
    bugs = part_bugs("softmax_nll")


    def make_cases(self, p, rng):
        cases = [
            softmax_case(rng, "small_softmax", "small", "three classes, one column", 3, 1, True),
            nll_case(rng, "small_nll", "small", "three classes, one column", 3, 1, True),
            softmax_case(rng, "edge_softmax_large", "edge", "a column of logits (1000, 0) in a batch of 3",
                         2, 3, False, large=True),
            softmax_case(rng, "edge_softmax_batch", "edge", "four classes, a batch of 2", 4, 2, False),
            nll_case(rng, "edge_nll_batch", "edge", "a batch of 4 columns", 3, 4, False),
        ]
        for i in range(p["random_cases"]):
            K, b = int(rng.integers(2, 5)), int(rng.integers(1, 5))
            if i % 2 == 0:
                cases.append(softmax_case(rng, f"random_{i + 1}", "random", "random logits", K, b, False))
            else:
                cases.append(nll_case(rng, f"random_{i + 1}", "random", "random predictions", K, b, False))
        return cases

    def explain(self, cases):
        return [
            step("SoftMax", r"\hat Y = \frac{e^{Z - \max Z}}{\sum_k e^{Z_k - \max Z}} \text{ per column};\; \text{class} = \arg\max_k \hat Y_k"),
            step("NLL", r"L = -\sum_{k, i} Y_{ki} \log \hat Y_{ki},\quad \frac{\partial L}{\partial Z} = \hat Y - Y"),
            _example_step(cases[0]),
        ]


class CodeSequential(ModuleKind):
    id = "code_sequential"
    version = 5  # v2: engine sums that cancel to rounding noise are 0 (nncore.network); v3: a draw a typical bug passes (every case within tolerance) is redrawn (linear_plus_update, rtol 0.1, lrate 1e-4: 19 of 40 seeds); v4: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v5: the rate argument differs from case to case (case_rate), so code with a fixed number in its place fails (QA: it scored full marks), and the rules say how much printed output feedback shows
    title = "Code: the whole module homework (Sequential with SGD)"
    description = "Write Linear, Tanh, ReLU, SoftMax, NLL and Sequential with stochastic sgd (scripted example order)."
    params = (*CODE_PARAMS, LRATE_PARAM)
    entry = ENTRY["sequential"]
    signature = interface("sequential")
    starter = module_starter("sequential")
    reference = REFERENCE["sequential"]
    bugs = part_bugs("sequential")


    def make_cases(self, p, rng):
        def lr(index):
            return case_rate(LRATE_PARAM, p["lrate"], index)

        cases = [
            forward_backward_case(rng, "small_network", "small", "a 2-2-2 ReLU network on one column",
                                  [2, 2, 2], "relu", 1, True, lr(0)),
            linear_case(rng, "edge_linear_batch", "edge", "Linear(3, 2) on a batch of 4", 3, 2, 4, False, lr(1)),
            activation_case(rng, "edge_relu", "edge", "ReLU with negative entries", "ReLU", 3, 2, False),
            activation_case(rng, "edge_tanh", "edge", "Tanh on a batch", "Tanh", 2, 3, False),
            softmax_case(rng, "edge_softmax_large", "edge", "logits (1000, 0) in a batch", 2, 3, False, large=True),
            nll_case(rng, "edge_nll", "edge", "NLL on a batch of 3", 3, 3, False),
            forward_backward_case(rng, "edge_network_batch", "edge", "a 3-4-3 tanh network on a batch of 3",
                                  [3, 4, 3], "tanh", 3, False, lr(2)),
            sgd_case(rng, "edge_sgd", "edge", "6 SGD iterations over 4 examples, scripted order",
                     [2, 3, 2], "relu", 4, 6, lr(3)),
        ]
        for i in range(p["random_cases"]):
            hidden = ("relu", "tanh")[i % 2]
            depth = int(rng.integers(1, 3))
            sizes = [int(rng.integers(2, 4)), *[int(n) for n in rng.integers(2, 5, size=depth)],
                     int(rng.integers(2, 4))]
            N, iters = int(rng.integers(3, 6)), int(rng.integers(3, 8))
            cases.append(sgd_case(rng, f"random_{i + 1}", "random",
                                  f"{iters} SGD iterations over {N} examples ({hidden})",
                                  sizes, hidden, N, iters, lr(4 + i)))
        return cases

    def explain(self, cases):
        return [
            step("Forward", r"A^0 = X,\; Z^l = (W^l)^T A^{l-1} + W_0^l,\; A^l = f^l(Z^l),\; \hat Y = \mathrm{softmax}(Z^L)"),
            step("Backward", r"\frac{\partial L}{\partial Z^L} = \hat Y - Y,\; \text{then each module's backward in reverse order}"),
            step("SGD", r"\text{for each iteration: } i = \text{randint}(N),\; \text{forward, loss, backward, } W \leftarrow W - \eta \frac{\partial L}{\partial W} \text{ on column } i"),
            _example_step(cases[0]),
        ]


def _example_step(c: dict) -> dict:
    """The expected values of a small case, as the board would list them."""
    shown = []
    checks = {}
    for s in c["steps"]:
        expect = s.get("expect")
        if expect is None or expect["type"] not in ("array", "float", "int_array"):
            continue
        label = f"{s['var']}.{s.get('method') or s.get('attr')}"
        value = expect["value"]
        checks[label] = value
        tex_label = label.replace("_", "\\_")
        shown.append(f"\\text{{{tex_label}}} = " + (
            latex_matrix(value) if expect["type"] != "float" else f"{float(value):.6g}"))
    return step(f"Worked case {c['name']}", ",\\; ".join(shown), **checks)


KINDS = (CodeLinearModule, CodeActivationModules, CodeSoftmaxNllModules, CodeSequential)
