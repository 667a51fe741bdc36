"""Function exercises: forward pass, Δ recursion, one SGD step, softmax, softmax + cross-entropy,
input gradient with FGSM, and a computational graph's backward pass (003's f(x)).

Each case is one call of the student's function; every expectation comes from the engine
(nncore.network, nncore.updates, nncore.softmax, nncore.adversarial, nncore.autodiff).
"""

from __future__ import annotations

import numpy as np

from nncore.adversarial import fgsm as engine_fgsm
from nncore.autodiff import graph_from_spec
from nncore.network import Network, backward, forward, make_network
from nncore.problems.base import Param, step
from nncore.problems.code import values as v
from nncore.problems.code.function_sources import REFERENCE, SIGNATURE, starter
from nncore.problems.code.kind import (
    CODE_PARAMS,
    Bug,
    CodeKind,
    call,
    case,
    case_rate,
    draw_until,
    fixed_rate_bug,
    off_kink,
    one_hot_columns,
    values,
)
from nncore.problems.common import latex_matrix
from nncore.softmax import cross_entropy, cross_entropy_gradient, probabilities
from nncore.updates import sgd_step as engine_sgd_step

ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")
ACTIVATION_PARAM = Param(
    "activation", "choice", "mixed",
    "activation of the cases: one name for all, or mixed (cases cycle relu, tanh, sigmoid, identity)",
    ("mixed", *ACTIVATIONS),
)
MIN_SIGNAL = 1e-3  # a gradient this small cannot tell a correct implementation from a buggy one


def case_activation(p: dict, index: int) -> str:
    """The activation of the index-th case: the chosen one, or cycling for 'mixed'."""
    return ACTIVATIONS[index % len(ACTIVATIONS)] if p["activation"] == "mixed" else p["activation"]


def activation_sentence(p: dict, ncases: int) -> str:
    """The prompt's word on which activations the `ncases` cases pass (QA: 'identity' came only in
    a hidden case of the Δ and SGD kinds, whose prompts never named it, and cost right code a case)."""
    if p["activation"] != "mixed":
        return f" Every test case passes `activation='{p['activation']}'`."
    passed = [name for name in ACTIVATIONS if name in {case_activation(p, i) for i in range(ncases)}]
    names = ", ".join(f"`'{name}'`" for name in passed[:-1]) + f" and `'{passed[-1]}'`"
    identity = " ($f(z) = z$, $f'(z) = 1$)" if "identity" in passed else ""
    return f" The test cases pass `activation` as {names}{identity}, each in some case."


def random_sizes(rng: np.random.Generator, min_layers: int = 1) -> list[int]:
    """[n_0, ..., n_L] with 1..3 layers (at least min_layers) of 1..4 units."""
    depth = int(rng.integers(min_layers, 4))
    return [int(n) for n in rng.integers(1, 5, size=depth + 1)]


def draw_network(rng: np.random.Generator, sizes: list[int], activations, hand: bool) -> Network:
    weights = [values(rng, (sizes[l - 1], sizes[l]), hand) for l in range(1, len(sizes))]
    biases = [values(rng, (sizes[l], 1), hand) for l in range(1, len(sizes))]
    return make_network(weights, biases, activations)


def weights_of(net: Network) -> tuple[dict, dict]:
    """Tagged lists [W^1..W^L] and [W_0^1..W_0^L]."""
    return v.arrays([layer.W for layer in net.layers]), v.arrays([layer.W0 for layer in net.layers])


def relu_safe(net: Network, X: np.ndarray) -> bool:
    """No pre-activation of a ReLU layer within the kink margin (ReLU'(0) is a convention)."""
    trace = forward(net, X)
    return off_kink(z for z, layer in zip(trace.Z[1:], net.layers, strict=True)
                    if layer.activation.name == "relu")


def square_asymmetric(net: Network) -> bool:
    """Some layer has a square, non-symmetric W, so W and W^T give different numbers."""
    return any(layer.W.shape[0] == layer.W.shape[1] and not np.allclose(layer.W, layer.W.T)
               for layer in net.layers)


def forward_steps(net: Network, X: np.ndarray) -> list[dict]:
    """Worked forward pass: Z^l and A^l of every layer."""
    trace = forward(net, X)
    return [
        step(
            f"Layer {l}",
            f"Z^{{{l}}} = (W^{{{l}}})^T A^{{{l - 1}}} + W_0^{{{l}}} = {latex_matrix(trace.Z[l])},\\; "
            f"A^{{{l}}} = f(Z^{{{l}}}) = {latex_matrix(trace.A[l])}",
            Z=trace.Z[l], A=trace.A[l],
        )
        for l in range(1, net.depth + 1)
    ]


def implementation_step(reference: str) -> dict:
    return step("Reference implementation", r"\text{see the code}", source=reference)


# --- forward pass ----------------------------------------------------------------------------------


class CodeMlpForward(CodeKind):
    id = "code_mlp_forward"
    version = 5  # v2: engine sums that cancel to rounding noise are 0 (nncore.network); v3: a draw a typical bug passes (every case within tolerance) is redrawn (forgot_bias, relu, rtol 0.1, atol 0.01, no random cases: seed 497); v4: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v5: the rules say how much printed output feedback shows
    title = "Code: forward pass of an MLP"
    description = "Write forward(Ws, W0s, X, activation) returning A^L for a batch of columns (MIT notation)."
    params = (*CODE_PARAMS, ACTIVATION_PARAM)
    entry = ("forward",)
    signature = SIGNATURE["forward"]
    starter = starter("forward")
    reference = REFERENCE["forward"]
    bugs = (
        Bug("w_not_transposed", "Used W instead of W^T",
            "W^l is n_{l-1} x n_l, so Z^l = (W^l)^T A^{l-1} + W_0^l needs the transpose.",
            (("Z = W.T @ A + W0", "Z = W @ A + W0"),)),
        Bug("forgot_bias", "Forgot the bias W_0",
            "Every layer adds its bias: Z^l = (W^l)^T A^{l-1} + W_0^l.",
            (("Z = W.T @ A + W0", "Z = W.T @ A"),)),
        Bug("no_output_activation", "Left the output layer linear",
            "The activation is applied in every layer, the last one included: A^L = f(Z^L).",
            (("for W, W0 in zip(Ws, W0s):", "for l, (W, W0) in enumerate(zip(Ws, W0s)):"),
             ("        A = activate(Z, activation)\n",
              "        A = activate(Z, activation) if l < len(Ws) - 1 else Z\n"))),
    )

    def bugs_for(self, p):
        if p["activation"] == "identity":
            return tuple(b for b in self.bugs if b.id != "no_output_activation")
        return self.bugs

    def make_cases(self, p, rng):
        plans = [
            ("small_1", "small", [2, 2, 1], 1, True, "one example through a 2-2-1 network"),
            ("edge_batch", "edge", [3, 4, 2], 3, False,
             "a batch of 3 columns, non-square weights, negative pre-activations at the output"),
            ("edge_square", "edge", [2, 2, 2], 2, False,
             "square weight matrices: W and W^T differ only in their numbers"),
        ]
        plans += [(f"random_{i + 1}", "random", None, None, False, "random network and batch")
                  for i in range(p["random_cases"])]
        cases = []
        for index, (name, kind, sizes, B, hand, note) in enumerate(plans):
            act = case_activation(p, index)

            def draw(r, sizes=sizes, B=B, hand=hand, act=act):
                s = sizes or random_sizes(r)
                b = B or int(r.integers(1, 5))
                return draw_network(r, s, act, hand), values(r, (s[0], b), hand)

            def ok(drawn, name=name):
                net, X = drawn
                trace = forward(net, X)
                if not relu_safe(net, X):
                    return False
                if name == "edge_batch" and net.layers[-1].activation.name == "relu":
                    return bool(np.any(trace.Z[-1] < -0.1))
                return name != "edge_square" or square_asymmetric(net)

            net, X = draw_until(rng, draw, ok, name)
            Ws, W0s = weights_of(net)
            expected = forward(net, X).output
            cases.append(case(name, kind, f"{note} ({act})",
                              [call("forward", Ws, W0s, v.array(X), v.text(act), expect=v.array(expected))]))
        return cases

    def task(self, p):
        return (
            "Implement `forward(Ws, W0s, X, activation)`: the forward pass of a fully connected network in "
            "the MIT notation. Layer $l$ has $W^l$ (`Ws[l-1]`, $n_{l-1} \\times n_l$) and $W_0^l$ "
            "(`W0s[l-1]`, $n_l \\times 1$) and computes $Z^l = (W^l)^T A^{l-1} + W_0^l$, "
            "$A^l = f(Z^l)$ with $A^0 = X$ ($n_0 \\times B$, one column per example). The activation "
            "$f$ is given by name (`'relu'`, `'tanh'`, `'sigmoid'` or `'identity'`) and is used in "
            "every layer, the output layer included. Return $A^L$ ($n_L \\times B$)."
        )

    def solution(self, p, cases):
        first = cases[0]["steps"][0]
        net = make_network([np.array(w["value"]) for w in first["args"][0]["value"]],
                           [np.array(w["value"]) for w in first["args"][1]["value"]],
                           first["args"][3]["value"])
        X = np.array(first["args"][2]["value"])
        return [
            step("Layer by layer", r"Z^l = (W^l)^T A^{l-1} + W_0^l,\quad A^l = f(Z^l),\quad A^0 = X,\quad g = A^L"),
            step("Batches for free", r"A^{l-1} \text{ holds one column per example, so the same matrix product handles the whole batch}"),
            *forward_steps(net, X),
            implementation_step(self.reference),
        ]


# --- the Δ recursion ---------------------------------------------------------------------------------


class CodeDeltas(CodeKind):
    id = "code_deltas"
    version = 5  # v2: engine sums that cancel to rounding noise are 0 (nncore.network); v3: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v4: the rules say how much printed output feedback shows; v5: the prompt and the starter name the activations the cases pass (QA: 'identity' came only in a hidden case)
    title = "Code: the Δ recursion of backpropagation"
    description = "Write deltas(Ws, W0s, X, Y, activation) returning every Δ^l = ∂L/∂Z^l for the squared loss."
    params = (*CODE_PARAMS, ACTIVATION_PARAM)
    entry = ("deltas",)
    signature = SIGNATURE["deltas"]
    starter = starter("deltas")
    reference = REFERENCE["deltas"]
    bugs = (
        Bug("no_factor_2", "Dropped the factor 2 of the squared loss",
            "∂/∂g (g − y)² = 2(g − y): the factor 2 stays in Δ^L and in every Δ^l.",
            (("D[-1] = 2.0 * (As[-1] - Y)", "D[-1] = (As[-1] - Y)"),)),
        Bug("sign_error", "Used y − g instead of g − y",
            "∂/∂g (g − y)² = 2(g − y), not 2(y − g).",
            (("D[-1] = 2.0 * (As[-1] - Y)", "D[-1] = 2.0 * (Y - As[-1])"),)),
        Bug("w_transposed_backward", "Used (W^{l+1})^T going backward",
            "Going forward uses (W^l)^T, so going backward uses W^{l+1} as is: "
            "∂L/∂A^l = W^{l+1} Δ^{l+1}.",
            (("(Ws[l + 1] @ D[l + 1])", "(Ws[l + 1].T @ D[l + 1])"),)),
        Bug("g_instead_of_gprime", "Used f(Z^l) instead of f'(Z^l)",
            "Δ^l multiplies by the derivative f'(Z^l) of the activation, not its value.",
            (("D[l] = derivative(Zs[l], activation)", "D[l] = activate(Zs[l], activation)"),)),
    )

    def make_cases(self, p, rng):
        plans = [
            ("small_1", "small", [2, 2, 1], 1, True, "one example through a 2-2-1 network"),
            ("edge_batch", "edge", [3, 2, 4, 2], 3, False, "three layers, non-square weights, a batch of 3"),
            ("edge_square", "edge", [2, 2, 2], 2, False, "square weights: W and W^T differ only in their numbers"),
        ]
        plans += [(f"random_{i + 1}", "random", None, None, False, "random network and batch")
                  for i in range(p["random_cases"])]
        cases = []
        for index, (name, kind, sizes, B, hand, note) in enumerate(plans):
            act = case_activation(p, index)

            def draw(r, sizes=sizes, B=B, hand=hand, act=act):
                s = sizes or random_sizes(r, min_layers=2)
                b = B or int(r.integers(1, 5))
                net = draw_network(r, s, act, hand)
                return net, values(r, (s[0], b), hand), values(r, (s[-1], b), hand)

            def ok(drawn, name=name):
                net, X, Y = drawn
                if not relu_safe(net, X):
                    return False
                delta = backward(net, forward(net, X), Y, "squared").delta
                if any(np.max(np.abs(d)) < MIN_SIGNAL for d in delta[1:]):
                    return False
                return name != "edge_square" or square_asymmetric(net)

            net, X, Y = draw_until(rng, draw, ok, name)
            Ws, W0s = weights_of(net)
            delta = backward(net, forward(net, X), Y, "squared").delta[1:]
            cases.append(case(name, kind, f"{note} ({act})", [
                call("deltas", Ws, W0s, v.array(X), v.array(Y), v.text(act), expect=v.arrays(delta))
            ]))
        return cases

    def task(self, p):
        return (
            "Implement `deltas(Ws, W0s, X, Y, activation)`: backpropagation's $\\Delta^l = \\partial "
            "\\mathcal{L}/\\partial Z^l$ for every layer, in the MIT notation ($W^l$ is "
            "$n_{l-1} \\times n_l$, $Z^l = (W^l)^T A^{l-1} + W_0^l$, $A^l = f(Z^l)$, $A^0 = X$). The "
            "loss is $\\mathcal{L} = \\sum_k (g_k - y_k)^2$ with $g = A^L$ (no $\\tfrac12$), every layer "
            "uses the named activation, and each column of $X$, $Y$ is one example. Start from "
            "$\\Delta^L = 2(A^L - Y) \\odot f'(Z^L)$ and recurse $\\Delta^l = f'(Z^l) \\odot "
            "W^{l+1} \\Delta^{l+1}$. Return the list $[\\Delta^1, \\ldots, \\Delta^L]$, "
            "$\\Delta^l$ of shape $n_l \\times B$. Take ReLU$'(z) = 1$ for $z > 0$ and $0$ for $z < 0$ "
            "(the cases avoid $z = 0$)." + activation_sentence(p, 3 + p["random_cases"])
        )

    def solution(self, p, cases):
        args = cases[0]["steps"][0]["args"]
        net = make_network([np.array(w["value"]) for w in args[0]["value"]],
                           [np.array(w["value"]) for w in args[1]["value"]], args[4]["value"])
        X, Y = np.array(args[2]["value"]), np.array(args[3]["value"])
        delta = backward(net, forward(net, X), Y, "squared").delta
        L = net.depth
        steps = [
            step("Output layer", r"\Delta^L = \frac{\partial \mathcal{L}}{\partial A^L} \odot f'(Z^L) = 2(A^L - Y) \odot f'(Z^L)"),
            step("Recursion", r"\Delta^l = f'(Z^l) \odot \left(W^{l+1} \Delta^{l+1}\right),\quad l = L-1, \ldots, 1"),
            *forward_steps(net, X),
        ]
        steps += [step(f"Δ of layer {l}", f"\\Delta^{{{l}}} = {latex_matrix(delta[l])}", delta=delta[l])
                  for l in range(L, 0, -1)]
        return [*steps, implementation_step(self.reference)]


# --- one SGD step ---------------------------------------------------------------------------------------


LR_PARAM = Param("lr", "float", 0.1, "learning rate of the first case (the others use 2, 1/2, 4 and 1/4 times it in turn, divided instead where that leaves the range)",
                 minimum=1e-4, maximum=10.0)
EPS_PARAM = Param("eps", "float", 0.1, "FGSM step ε of the first case (the others use 2, 1/2, 4 and 1/4 times it in turn, divided instead where that leaves the range)",
                  minimum=1e-3, maximum=1.0)


class CodeSgdStep(CodeKind):
    id = "code_sgd_step"
    version = 6  # v2: engine sums that cancel to rounding noise are 0 (nncore.network); v3: a draw a typical bug passes (every case within tolerance) is redrawn (forgot_bias_update, rtol 0.1, no random cases: 9 of 301 seeds); v4: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v5: the rate argument differs from case to case (case_rate), so code with a fixed number in its place fails (QA: it scored full marks), and the rules say how much printed output feedback shows; v6: the prompt and the starter name the activations the cases pass (QA: 'identity' came only in a hidden case)
    title = "Code: one SGD step"
    description = "Write sgd_step(Ws, W0s, x, y, activation, lr) returning new weights after one example."
    params = (*CODE_PARAMS, ACTIVATION_PARAM, LR_PARAM)
    entry = ("sgd_step",)
    signature = SIGNATURE["sgd_step"]
    starter = starter("sgd_step")
    reference = REFERENCE["sgd_step"]
    bugs = (
        Bug("plus_update", "Updated with + instead of −",
            "Gradient descent steps against the gradient: W ← W − α ∂L/∂W.",
            (("W - lr * (A @ d.T)", "W + lr * (A @ d.T)"), ("W0 - lr * d", "W0 + lr * d"))),
        Bug("forgot_bias_update", "Did not update the biases",
            "W_0^l is a parameter too: W_0^l ← W_0^l − α Δ^l.",
            (("new_W0s = [W0 - lr * d for W0, d in zip(W0s, D)]", "new_W0s = [W0.copy() for W0 in W0s]"),)),
        Bug("mutates_inputs", "Updated the caller's arrays in place",
            "W -= ... changes the arrays the caller passed in; return new arrays instead.",
            (("    new_Ws = [W - lr * (A @ d.T) for W, A, d in zip(Ws, As[:-1], D)]\n"
              "    new_W0s = [W0 - lr * d for W0, d in zip(W0s, D)]\n",
              "    for W, W0, A, d in zip(Ws, W0s, As[:-1], D):\n"
              "        W -= lr * (A @ d.T)\n"
              "        W0 -= lr * d\n"
              "    new_Ws, new_W0s = Ws, W0s\n"),)),
    )

    def bugs_for(self, p):
        fixed = repr(p["lr"])
        return (*self.bugs, fixed_rate_bug("fixed_learning_rate", "lr", p["lr"], (
            ("new_Ws = [W - lr * (A @ d.T)", f"new_Ws = [W - {fixed} * (A @ d.T)"),
            ("new_W0s = [W0 - lr * d", f"new_W0s = [W0 - {fixed} * d"),
        )))

    def make_cases(self, p, rng):
        plans = [
            ("small_1", "small", [2, 2, 1], True, "one example through a 2-2-1 network"),
            ("edge_nonsquare", "edge", [3, 2, 2], False, "non-square first layer"),
            ("edge_deep", "edge", [2, 3, 3, 1], False, "three layers"),
        ]
        plans += [(f"random_{i + 1}", "random", None, False, "random network and example")
                  for i in range(p["random_cases"])]
        cases = []
        for index, (name, kind, sizes, hand, note) in enumerate(plans):
            act = case_activation(p, index)
            lr = case_rate(LR_PARAM, p["lr"], index)

            def draw(r, sizes=sizes, hand=hand, act=act):
                s = sizes or random_sizes(r)
                return draw_network(r, s, act, hand), values(r, (s[0], 1), hand), values(r, (s[-1], 1), hand)

            def ok(drawn):
                net, x, y = drawn
                if not relu_safe(net, x):
                    return False
                grads = backward(net, forward(net, x), y, "squared")
                return (max(np.max(np.abs(g)) for g in grads.dW[1:]) > MIN_SIGNAL
                        and max(np.max(np.abs(g)) for g in grads.dW0[1:]) > MIN_SIGNAL)

            net, x, y = draw_until(rng, draw, ok, name)
            Ws, W0s = weights_of(net)
            new_net, _ = engine_sgd_step(net, x, y, "squared", lr)
            cases.append(case(name, kind, f"{note} ({act})", [
                call("sgd_step", Ws, W0s, v.array(x), v.array(y), v.text(act), v.number(lr),
                     expect=v.pair(*weights_of(new_net)))
            ]))
        return cases

    def task(self, p):
        return (
            "Implement `sgd_step(Ws, W0s, x, y, activation, lr)`: one stochastic gradient descent step on "
            "one example $x$ ($n_0 \\times 1$) with target $y$ ($n_L \\times 1$), in the MIT notation "
            "($W^l$ is $n_{l-1} \\times n_l$, $Z^l = (W^l)^T A^{l-1} + W_0^l$, $A^l = f(Z^l)$ in every "
            "layer). The loss is $\\mathcal{L} = \\sum_k (g_k - y_k)^2$ (no $\\tfrac12$). With "
            "$\\partial \\mathcal{L}/\\partial W^l = A^{l-1} (\\Delta^l)^T$ and "
            "$\\partial \\mathcal{L}/\\partial W_0^l = \\Delta^l$, return `(new_Ws, new_W0s)`: new lists "
            "of new arrays $W^l - \\alpha\\, \\partial \\mathcal{L}/\\partial W^l$ and $W_0^l - \\alpha\\, "
            "\\Delta^l$, every gradient computed from the weights before the step. Do not modify `Ws`, "
            "`W0s` or their arrays. ReLU$'(z)$ is 1 for $z > 0$ and 0 for $z < 0$." + activation_sentence(p, 3 + p["random_cases"])
        )

    def solution(self, p, cases):
        args = cases[0]["steps"][0]["args"]
        net = make_network([np.array(w["value"]) for w in args[0]["value"]],
                           [np.array(w["value"]) for w in args[1]["value"]], args[4]["value"])
        x, y = np.array(args[2]["value"]), np.array(args[3]["value"])
        grads = backward(net, forward(net, x), y, "squared")
        new_net, _ = engine_sgd_step(net, x, y, "squared", p["lr"])
        steps = [
            step("Gradients", r"\frac{\partial \mathcal{L}}{\partial W^l} = A^{l-1} (\Delta^l)^T,\quad \frac{\partial \mathcal{L}}{\partial W_0^l} = \Delta^l"),
            step("Update", r"W^l \leftarrow W^l - \alpha \frac{\partial \mathcal{L}}{\partial W^l},\quad W_0^l \leftarrow W_0^l - \alpha \Delta^l \text{ (all gradients first)}"),
            *forward_steps(net, x),
        ]
        for l in range(1, net.depth + 1):
            steps.append(step(
                f"Layer {l} gradient and update",
                f"\\partial \\mathcal{{L}}/\\partial W^{{{l}}} = {latex_matrix(grads.dW[l])},\\; "
                f"W^{{{l}}} \\leftarrow {latex_matrix(new_net.layer(l).W)}",
                dW=grads.dW[l], dW0=grads.dW0[l], W=new_net.layer(l).W, W0=new_net.layer(l).W0,
            ))
        return [*steps, implementation_step(self.reference)]


# --- softmax ----------------------------------------------------------------------------------------------

LARGE_COLUMNS = np.array([[500.0, -1000.0, 0.0], [500.0, -1001.0, 0.0], [499.0, -1002.0, 0.0]])


class CodeSoftmax(CodeKind):
    id = "code_softmax"
    version = 3  # v2: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v3: the rules say how much printed output feedback shows
    title = "Code: a numerically stable softmax"
    description = "Write softmax(Z) over the columns of a K x B logit matrix; [1000, 0] must not give NaN."
    entry = ("softmax",)
    signature = SIGNATURE["softmax"]
    starter = starter("softmax")
    reference = REFERENCE["softmax"]
    bugs = (
        Bug("unstable", "Exponentiated the raw logits",
            "exp(1000) overflows to inf and inf/inf is NaN; subtract each column's maximum first "
            "(softmax(z) = softmax(z − c)).",
            (("E = np.exp(Z - np.max(Z, axis=0, keepdims=True))", "E = np.exp(Z)"),)),
        Bug("wrong_axis", "Normalised over the wrong axis",
            "Each column is one example: sum over the K classes (axis 0), not over the batch.",
            (("np.sum(E, axis=0, keepdims=True)", "np.sum(E, axis=1, keepdims=True)"),)),
        Bug("mutates_input", "Shifted the caller's logits in place",
            "Z -= max changes the caller's array; compute Z - max into a new array.",
            (("    E = np.exp(Z - np.max(Z, axis=0, keepdims=True))\n",
              "    Z -= np.max(Z, axis=0, keepdims=True)\n    E = np.exp(Z)\n"),)),
    )

    def make_cases(self, p, rng):
        cases = []
        small = values(rng, (3, 1), True)
        cases.append(case("small_1", "small", "three classes, one example",
                          [call("softmax", v.array(small), expect=v.array(probabilities(small)))]))
        big = np.array([[1000.0], [0.0]])
        cases.append(case("edge_large_logit", "edge", "logits [1000, 0]: exp(1000) overflows",
                          [call("softmax", v.array(big), expect=v.array(probabilities(big)))]))
        batch = np.hstack([values(rng, (3, 1), False), LARGE_COLUMNS])
        cases.append(case("edge_batch", "edge",
                          "four columns: ordinary, large and close, very negative, all equal",
                          [call("softmax", v.array(batch), expect=v.array(probabilities(batch)))]))
        for i in range(p["random_cases"]):
            K, B = int(rng.integers(2, 6)), int(rng.integers(1, 5))
            Z = np.round(rng.uniform(-5.0, 5.0, size=(K, B)), 2)
            cases.append(case(f"random_{i + 1}", "random", "random logits",
                              [call("softmax", v.array(Z), expect=v.array(probabilities(Z)))]))
        return cases

    def task(self, p):
        return (
            "Implement `softmax(Z)` for a $K \\times B$ matrix of logits, one column per example: "
            "$\\mathrm{softmax}(z)_k = e^{z_k} / \\sum_i e^{z_i}$ for each column $z$. Return a "
            "$K \\times B$ array. It must work for any finite logits: $z = (1000, 0)$ gives "
            "$(1, 0)$, not NaN (use $\\mathrm{softmax}(z) = \\mathrm{softmax}(z - \\max_i z_i)$)."
        )

    def solution(self, p, cases):
        Z = np.array(cases[0]["steps"][0]["args"][0]["value"])
        shifted = Z - Z.max(axis=0)
        return [
            step("Shift invariance", r"\frac{e^{z_k - c}}{\sum_i e^{z_i - c}} = \frac{e^{z_k}}{\sum_i e^{z_i}} \text{ for any } c;\; c = \max_i z_i \text{ makes every exponent} \le 0"),
            step("Example", f"z - \\max z = {latex_matrix(shifted)},\\; \\mathrm{{softmax}}(z) = {latex_matrix(probabilities(Z))}",
                 shifted=shifted, g=probabilities(Z)),
            step("Large logits", r"z = (1000, 0):\; e^{1000} = \infty \text{ and } \infty/\infty = \mathrm{NaN};\; \text{shifted: } (e^0, e^{-1000}) / (1 + e^{-1000}) = (1, 0)"),
            implementation_step(self.reference),
        ]


# --- softmax + cross-entropy -------------------------------------------------------------------------------


class CodeSoftmaxCrossEntropy(CodeKind):
    id = "code_softmax_xent_grad"
    version = 3  # v2: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v3: the rules say how much printed output feedback shows
    title = "Code: softmax cross-entropy and its gradient"
    description = "Write softmax_cross_entropy(Z, Y) returning the per-example loss and ∂L/∂Z = softmax(Z) − Y."
    entry = ("softmax_cross_entropy",)
    signature = SIGNATURE["softmax_cross_entropy"]
    starter = starter("softmax_cross_entropy")
    reference = REFERENCE["softmax_cross_entropy"]
    bugs = (
        Bug("naive_log_softmax", "Took log of a naively computed softmax",
            "exp(1000) overflows and log(0) = −inf; use log softmax(z) = z − max z − log Σ exp(z − max z).",
            (("log_probs = shifted - log_norm",
              "log_probs = np.log(np.exp(Z) / np.sum(np.exp(Z), axis=0, keepdims=True))"),)),
        Bug("gradient_without_target", "Returned softmax(Z) as the gradient",
            "∂L/∂Z = softmax(Z) − Y: the target is subtracted.",
            (("return L, np.exp(log_probs) - Y", "return L, np.exp(log_probs)"),)),
        Bug("gradient_sign", "Returned Y − softmax(Z)",
            "∂L/∂z_k = g_k − y_k; Y − g is the negative gradient.",
            (("return L, np.exp(log_probs) - Y", "return L, Y - np.exp(log_probs)"),)),
        Bug("loss_summed_over_batch", "Summed the loss over the batch",
            "L holds one loss per example (a 1 x B row), not their total.",
            (("L = -np.sum(Y * log_probs, axis=0, keepdims=True)", "L = -np.sum(Y * log_probs)"),)),
    )

    def make_cases(self, p, rng):
        def one(name, kind, note, Z, Y):
            L = np.asarray(cross_entropy(Z, Y)).reshape(1, -1)
            return case(name, kind, note, [call("softmax_cross_entropy", v.array(Z), v.array(Y),
                                                expect=v.pair(v.array(L), v.array(cross_entropy_gradient(Z, Y))))])

        cases = [one("small_1", "small", "three classes, one example",
                     values(rng, (3, 1), True), one_hot_columns(rng, 3, 1))]
        big = np.array([[1000.0], [0.0]])
        cases.append(one("edge_large_logit", "edge", "logits [1000, 0] with target class 1: the loss is 1000",
                         big, np.array([[0.0], [1.0]])))
        batch = np.hstack([values(rng, (3, 1), False), LARGE_COLUMNS])
        targets = np.hstack([one_hot_columns(rng, 3, 1), np.eye(3)[:, [2, 0, 1]]])
        cases.append(one("edge_batch", "edge", "four columns: ordinary, large, very negative, all equal",
                         batch, targets))
        for i in range(p["random_cases"]):
            K, B = int(rng.integers(2, 6)), int(rng.integers(1, 5))
            Z = np.round(rng.uniform(-5.0, 5.0, size=(K, B)), 2)
            cases.append(one(f"random_{i + 1}", "random", "random logits and targets", Z,
                             one_hot_columns(rng, K, B)))
        return cases

    def task(self, p):
        return (
            "Implement `softmax_cross_entropy(Z, Y)` for logits $Z$ ($K \\times B$) and one-hot targets "
            "$Y$ ($K \\times B$), one column per example. Return `(L, dLdZ)`: $L$ is a $1 \\times B$ "
            "array with the loss $\\mathcal{L} = -\\sum_k y_k \\log \\mathrm{softmax}(z)_k$ of each column, "
            "and $\\partial \\mathcal{L}/\\partial Z = \\mathrm{softmax}(Z) - Y$ ($K \\times B$). Both "
            "must stay finite for logits such as $(1000, 0)$: compute "
            "$\\log \\mathrm{softmax}(z) = z - \\max z - \\log \\sum_i e^{z_i - \\max z}$."
        )

    def solution(self, p, cases):
        args = cases[0]["steps"][0]["args"]
        Z, Y = np.array(args[0]["value"]), np.array(args[1]["value"])
        return [
            step("Log-sum-exp", r"\log \mathrm{softmax}(z)_k = z_k - m - \log \sum_i e^{z_i - m},\quad m = \max_i z_i"),
            step("Gradient", r"\frac{\partial \mathcal{L}}{\partial z_k} = \mathrm{softmax}(z)_k - y_k"),
            step("Example", f"\\mathcal{{L}} = {float(cross_entropy(Z, Y)[0]):.6g},\\; "
                            f"\\partial \\mathcal{{L}}/\\partial z = {latex_matrix(cross_entropy_gradient(Z, Y))}",
                 L=cross_entropy(Z, Y), dLdZ=cross_entropy_gradient(Z, Y)),
            step("Large logits", r"z = (1000, 0),\; y = (0, 1):\; \mathcal{L} = 1000,\; \partial\mathcal{L}/\partial z = (1, -1)"),
            implementation_step(self.reference),
        ]


# --- input gradient and FGSM -----------------------------------------------------------------------------------


class CodeFgsm(CodeKind):
    id = "code_fgsm"
    version = 5  # v2: engine sums that cancel to rounding noise are 0 (nncore.network); v3: a draw a typical bug passes (every case within tolerance) is redrawn (raw_gradient, rtol 0.1, no random cases: 9 of 301 seeds); v4: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v5: the rate argument differs from case to case (case_rate), so code with a fixed number in its place fails (QA: it scored full marks), and the rules say how much printed output feedback shows
    title = "Code: input gradient and the fast gradient sign method"
    description = "Write fgsm(Ws, W0s, x, y, activation, eps) returning ∂L/∂x and x + ε sign(∂L/∂x)."
    params = (
        *CODE_PARAMS,
        Param("activation", "choice", "relu", "activation of the hidden layers", ("relu", "tanh", "sigmoid")),
        EPS_PARAM,
    )
    entry = ("fgsm",)
    signature = SIGNATURE["fgsm"]
    starter = starter("fgsm")
    reference = REFERENCE["fgsm"]
    bugs = (
        Bug("minus_sign", "Stepped against the gradient",
            "FGSM increases the loss: x + ε sign(∇_x L), not x − ε sign(∇_x L).",
            (("x + eps * np.sign(dLdx)", "x - eps * np.sign(dLdx)"),)),
        Bug("raw_gradient", "Used the gradient instead of its sign",
            "FGSM moves every input by exactly ε: r = ε sign(∇_x L).",
            (("x + eps * np.sign(dLdx)", "x + eps * dLdx"),)),
        Bug("forgot_activation_derivative", "Left out f'(Z^l) going backward",
            "Every hidden layer multiplies by its activation's derivative: Δ^l = f'(Z^l) ⊙ W^{l+1} Δ^{l+1}.",
            (("D = derivative(Zs[l - 1], activation) * (Ws[l] @ D)", "D = Ws[l] @ D"),)),
    )

    def bugs_for(self, p):
        return (*self.bugs, fixed_rate_bug("fixed_eps", "eps", p["eps"], (
            ("x + eps * np.sign(dLdx)", f"x + {p['eps']!r} * np.sign(dLdx)"),
        )))

    def make_cases(self, p, rng):
        act = p["activation"]
        plans = [
            ("small_1", "small", [2, 2, 2], True, "a 2-2-2 network"),
            ("edge_inactive_unit", "edge", [3, 3, 2], False,
             "a hidden unit with negative pre-activation" if act == "relu" else "a 3-3-2 network"),
            ("edge_deep", "edge", [2, 3, 2, 3], False, "two hidden layers, three classes"),
        ]
        plans += [(f"random_{i + 1}", "random", None, False, "random network and example")
                  for i in range(p["random_cases"])]
        cases = []
        for index, (name, kind, sizes, hand, note) in enumerate(plans):
            eps = case_rate(EPS_PARAM, p["eps"], index)

            def draw(r, sizes=sizes, hand=hand):
                s = sizes or [int(r.integers(2, 5)), *[int(n) for n in r.integers(2, 5, size=int(r.integers(1, 3)))],
                              int(r.integers(2, 4))]
                net = draw_network(r, s, [act] * (len(s) - 2) + ["softmax"], hand)
                x = values(r, (s[0], 1), hand)
                return net, x, one_hot_columns(r, s[-1], 1)

            def ok(drawn, name=name, eps=eps):
                net, x, y = drawn
                if not relu_safe(net, x):
                    return False
                result = engine_fgsm(net, x, y, "cross_entropy", eps)
                if np.min(np.abs(result.gradient)) < MIN_SIGNAL:
                    return False
                if name == "edge_inactive_unit" and act == "relu":
                    return bool(np.any(forward(net, x).Z[1] < -0.1))
                return True

            net, x, y = draw_until(rng, draw, ok, name)
            result = engine_fgsm(net, x, y, "cross_entropy", eps)
            Ws, W0s = weights_of(net)
            cases.append(case(name, kind, note, [
                call("fgsm", Ws, W0s, v.array(x), v.array(y), v.text(act), v.number(eps),
                     expect=v.pair(v.array(result.gradient.reshape(-1, 1)), v.array(result.x_adv.reshape(-1, 1))))
            ]))
        return cases

    def task(self, p):
        return (
            "Implement `fgsm(Ws, W0s, x, y, activation, eps)`. The network uses the MIT notation "
            "($W^l$ is $n_{l-1} \\times n_l$, $Z^l = (W^l)^T A^{l-1} + W_0^l$); its hidden layers use the "
            "named activation and its output layer is softmax, with the cross-entropy loss "
            "$\\mathcal{L} = -\\sum_k y_k \\log g_k$ of the one-hot target $y$ ($K \\times 1$). For the "
            "single example $x$ ($n_0 \\times 1$) return `(dLdx, x_adv)`: the input gradient "
            "$\\partial \\mathcal{L}/\\partial x = W^1 \\Delta^1$ ($n_0 \\times 1$, with "
            "$\\Delta^L = g - y$) and the adversarial example $x + \\varepsilon\\, \\mathrm{sign}"
            "(\\partial \\mathcal{L}/\\partial x)$. ReLU$'(z)$ is 1 for $z > 0$ and 0 for $z < 0$."
        )

    def solution(self, p, cases):
        args = cases[0]["steps"][0]["args"]
        Ws = [np.array(w["value"]) for w in args[0]["value"]]
        net = make_network(Ws, [np.array(w["value"]) for w in args[1]["value"]],
                           [args[4]["value"]] * (len(Ws) - 1) + ["softmax"])
        x, y = np.array(args[2]["value"]), np.array(args[3]["value"])
        result = engine_fgsm(net, x, y, "cross_entropy", p["eps"])
        return [
            step("Backward to the input", r"\Delta^L = g - y,\quad \Delta^l = f'(Z^l) \odot W^{l+1} \Delta^{l+1},\quad \frac{\partial \mathcal{L}}{\partial x} = W^1 \Delta^1"),
            step("FGSM", r"x_{adv} = x + \varepsilon\, \mathrm{sign}\left(\frac{\partial \mathcal{L}}{\partial x}\right)"),
            *forward_steps(net, x),
            step("Example", f"\\partial \\mathcal{{L}}/\\partial x = {latex_matrix(result.gradient)},\\; "
                            f"x_{{adv}} = {latex_matrix(result.x_adv)}",
                 dLdx=result.gradient, x_adv=result.x_adv),
            implementation_step(self.reference),
        ]


# --- a computational graph's backward pass ----------------------------------------------------------------------

GRAPH_003 = [
    {"name": "x", "op": "input"},
    {"name": "a", "op": "pow", "args": ["x", 2]},
    {"name": "b", "op": "exp", "args": ["a"]},
    {"name": "c", "op": "add", "args": ["a", "b"]},
    {"name": "d", "op": "sqrt", "args": ["c"]},
    {"name": "e", "op": "cos", "args": ["c"]},
    {"name": "f", "op": "add", "args": ["d", "e"]},
]


def graph_values(xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f(x), df/dx) of 003's graph at every entry of xs, by nncore.autodiff."""
    graph = graph_from_spec(GRAPH_003)
    results = [graph.evaluate({"x": float(x)}) for x in xs]
    return np.array([r.values["f"] for r in results]), np.array([r.grads["x"] for r in results])


class CodeGraphBackward(CodeKind):
    id = "code_graph_backward"
    version = 4  # v2: a draw a typical bug passes (every case within tolerance) is redrawn (missing_direct_path, rtol 0.1, no random cases: 34 of 301 seeds); v3: the rules say what runs the code (Python's standard library and NumPy 2 only) and the output limit; v4: the rules say how much printed output feedback shows
    title = "Code: backward pass of a computational graph"
    description = "Write f_and_grad(x) for 003's f(x) = √(x² + e^{x²}) + cos(x² + e^{x²}) by forward and backward passes."
    entry = ("f_and_grad",)
    signature = SIGNATURE["f_and_grad"]
    starter = starter("f_and_grad")
    reference = REFERENCE["f_and_grad"]
    bugs = (
        Bug("missing_cos_branch", "Dropped the path through e = cos(c)",
            "c feeds both d and e, so ∂f/∂c sums both paths: ∂f/∂d ∂d/∂c + ∂f/∂e ∂e/∂c.",
            (("df_dc = df_dd * 0.5 / np.sqrt(c) + df_de * (-np.sin(c))", "df_dc = df_dd * 0.5 / np.sqrt(c)"),)),
        Bug("missing_direct_path", "Dropped the direct path a → c",
            "a feeds c directly and through b: ∂f/∂a = ∂f/∂c · 1 + ∂f/∂b · e^a.",
            (("df_da = df_dc * 1.0 + df_db * b", "df_da = df_db * b"),)),
        Bug("cos_derivative_sign", "Took d cos(c)/dc = sin(c)",
            "The derivative of cos is −sin.",
            (("df_de * (-np.sin(c))", "df_de * np.sin(c)"),)),
        Bug("forgot_inner_derivative", "Forgot ∂a/∂x = 2x",
            "The chain rule ends with the local derivative of a = x²: ∂f/∂x = ∂f/∂a · 2x.",
            (("df_dx = df_da * 2.0 * x", "df_dx = df_da"),)),
    )

    def make_cases(self, p, rng):
        def one(name, kind, note, xs):
            f, dfdx = graph_values(xs)
            return case(name, kind, note, [call("f_and_grad", v.array(xs), expect=v.pair(v.array(f), v.array(dfdx)))])

        cases = [
            one("small_1", "small", "x = 2, the example of the notes", np.array([2.0])),
            one("edge_sign_and_zero", "edge", "x = 0, a negative x and a positive x",
                np.array([0.0, float(rng.choice([-1.5, -1.0, -0.5])), float(rng.choice([0.5, 1.0, 1.5]))])),
        ]
        for i in range(p["random_cases"]):
            xs = np.round(rng.uniform(-2.0, 2.0, size=int(rng.integers(1, 6))), 2)
            cases.append(one(f"random_{i + 1}", "random", "random x values", xs))
        return cases

    def task(self, p):
        return (
            "The computational graph $a = x^2$, $b = e^a$, $c = a + b$, $d = \\sqrt{c}$, $e = \\cos c$, "
            "$f = d + e$ computes $f(x) = \\sqrt{x^2 + e^{x^2}} + \\cos(x^2 + e^{x^2})$. Implement "
            "`f_and_grad(x)` for a 1-D array $x$: run the forward pass, then the backward pass from "
            "$\\partial f/\\partial f = 1$ (summing over every path out of a node), and return "
            "`(f, dfdx)`, two 1-D arrays shaped like $x$ with $f(x)$ and $\\partial f/\\partial x$ of "
            "each entry."
        )

    def solution(self, p, cases):
        x = float(cases[0]["steps"][0]["args"][0]["value"][0])
        result = graph_from_spec(GRAPH_003).evaluate({"x": x})
        steps = [step("Forward", f"{s.latex} = {s.value:.6g}", value=s.value)
                 for s in result.steps() if s.op != "input"]
        names = ["f", "e", "d", "c", "b", "a", "x"]
        rules = {
            "c": r"\frac{\partial f}{\partial c} = \frac{\partial f}{\partial d}\frac{1}{2\sqrt{c}} + \frac{\partial f}{\partial e}(-\sin c)",
            "a": r"\frac{\partial f}{\partial a} = \frac{\partial f}{\partial c} \cdot 1 + \frac{\partial f}{\partial b} e^{a}",
            "x": r"\frac{\partial f}{\partial x} = \frac{\partial f}{\partial a} \cdot 2x",
        }
        for n in names:
            rule = rules.get(n, f"\\frac{{\\partial f}}{{\\partial {n}}}")
            steps.append(step(f"Backward ∂f/∂{n}", f"{rule} = {result.grads[n]:.6g}", grad=result.grads[n]))
        return [*steps, implementation_step(self.reference)]


KINDS = (CodeMlpForward, CodeDeltas, CodeSgdStep, CodeSoftmax, CodeSoftmaxCrossEntropy, CodeFgsm, CodeGraphBackward)
