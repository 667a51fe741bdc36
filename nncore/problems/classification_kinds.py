"""Kinds about classification outputs and the input: softmax (001), softmax + cross-entropy
gradient, input gradients ∂L/∂x, FGSM perturbations and the smallest label-flipping ε.

Classes are shown to students 1-based ("class 1" .. "class K"), as choice ids "1".."K"; the
engine works 0-based.
"""

from __future__ import annotations

import numpy as np

from nncore import adversarial, softmax
from nncore.cancellation import snap_to_zero
from nncore.network import backpropagate, forward, make_network
from nncore.notation import neuron_ids
from nncore.problems.base import Draft, Field, Param, ParamError, ProblemKind, Redraw, step
from nncore.problems.common import (
    ELEMENTWISE,
    NOTATION_PARAM,
    STYLE_PARAM,
    activation_sentence,
    check_calculator_friendly,
    check_no_tie,
    describe_network,
    draw_network,
    draw_values,
    fmt,
    latex_matrix,
    network_diagram,
)

CLASSES_PARAM = Param("classes", "int", 4, "number of classes K", minimum=2, maximum=8)


def _class_choices(k: int) -> list[str]:
    return [str(i + 1) for i in range(k)]


def _draw_logits(rng: np.random.Generator, k: int, style: str) -> np.ndarray:
    """Logits like 001's (1.3, 5.1, 2.2, 0.7, 1.1): one decimal in [-2, 6] by hand."""
    if style == "hand":
        return rng.integers(-20, 61, size=k) / 10.0
    return np.round(rng.uniform(-4.0, 6.0, size=k), 2)


class SoftmaxProbabilities(ProblemKind):
    id = "softmax_probabilities"
    # v2: a draw where a misconception's answer, written to 3 or 4 significant figures as a
    # student types it, would be credited is redrawn (ProblemKind._finish)
    version = 3
    # v3: the prompt says the classes are numbered 1 to K, and a 0-based class (the index
    # np.argmax gives) is a misconception (QA: graded 0 without being named)
    title = "Softmax probabilities and the predicted class"
    description = "g = softmax(z) for a logit vector, and argmax (001's K-class output layer)."
    topic = "softmax"
    params = (CLASSES_PARAM, STYLE_PARAM)

    def build(self, p, rng):
        z = _draw_logits(rng, p["classes"], p["style"])
        check_no_tie(z.reshape(-1, 1), gap=0.2)
        g = softmax.probabilities(z)
        label = str(softmax.predicted_class(z) + 1)
        exp_z = np.exp(z)
        draft = Draft(
            text=(
                f"The last layer of a {p['classes']}-class network outputs the logits "
                f"$z = {latex_matrix(z)}$ and uses the softmax activation "
                r"$g_k = e^{z_k} / \sum_i e^{z_i}$. The classes are numbered 1 to "
                f"{p['classes']}: class $k$ has logit $z_k$ and probability $g_k$. "
                "Give the probabilities $g$ and the predicted class."
            ),
            data={"z": z},
            fields=[
                Field("g", "$g = \\mathrm{softmax}(z)$", (p["classes"],), "vector"),
                Field(
                    "class", "predicted class", (), "choice", choices=_class_choices(p["classes"])
                ),
            ],
            answers={"g": g, "class": label},
            solution=[
                step("Exponentiate", f"e^{{z}} = {latex_matrix(exp_z)}", exp_z=exp_z),
                step(
                    "Normalise",
                    f"\\sum_i e^{{z_i}} = {fmt(exp_z.sum())},\\; g = {latex_matrix(g)}",
                    g=g,
                ),
                step("Predict", f"\\arg\\max_k g_k = {label}", predicted=label),
            ],
        )
        draft.add_misconception(
            "softmax_not_normalised",
            "Softmax without normalisation",
            "Each e^{z_k} must be divided by Σ_i e^{z_i} so the probabilities sum to 1.",
            {"g": exp_z},
        )
        if abs(z.sum()) > 1e-9:
            draft.add_misconception(
                "normalised_logits",
                "Normalised the logits instead of their exponentials",
                "softmax divides e^{z_k} by Σ_i e^{z_i}; z_k / Σ_i z_i is not a probability.",
                {"g": z / z.sum()},
            )
        if label != "1":  # counted from 0, class 1 would be "0": not an option to choose
            draft.add_misconception(
                "zero_based_class",
                "Counted the classes from 0",
                "The classes are numbered from 1, as z_1, …, z_K and g_1, …, g_K are: the largest g_k "
                "is class k. Counting from 0, as a Python index such as np.argmax does, names the "
                "class one below it.",
                {"class": str(int(label) - 1)},
            )
        return draft


class SoftmaxCrossEntropyGradient(ProblemKind):
    id = "softmax_ce_gradient"
    # v2: a draw where a misconception's answer, written to 3 or 4 significant figures as a
    # student types it, would be credited is redrawn (ProblemKind._finish)
    version = 2
    title = "Softmax + cross-entropy gradient"
    description = "L = -log g_y and ∂L/∂z = g - y for the one-hot target y."
    topic = "softmax"
    params = (CLASSES_PARAM, STYLE_PARAM)

    def build(self, p, rng):
        k = p["classes"]
        z = _draw_logits(rng, k, p["style"])
        target = int(rng.integers(k))
        y = np.eye(k)[target]
        g = softmax.probabilities(z)
        loss = softmax.cross_entropy(z, target)
        grad = softmax.cross_entropy_gradient(z, target)
        draft = Draft(
            text=(
                f"A {k}-class network outputs logits $z = {latex_matrix(z)}$ with a softmax output "
                f"layer. The true class is {target + 1} (one-hot $y = {latex_matrix(y)}$). Give the "
                r"cross-entropy loss $\mathcal{L} = -\sum_k y_k \log g_k$ and its gradient "
                r"$\partial \mathcal{L}/\partial z$."
            ),
            data={"z": z, "y": y, "target_class": target + 1},
            fields=[
                Field("L", "$\\mathcal{L}$", (), "number"),
                Field("dLdz", "$\\partial \\mathcal{L}/\\partial z$", (k,), "vector"),
            ],
            answers={"L": loss, "dLdz": grad},
            solution=[
                step("Softmax", f"g = {latex_matrix(g)}", g=g),
                step("Loss", f"\\mathcal{{L}} = -\\log g_{{{target + 1}}} = {fmt(loss)}", L=loss),
                step(
                    "Gradient",
                    f"\\partial \\mathcal{{L}}/\\partial z = g - y = {latex_matrix(grad)}",
                    dLdz=grad,
                ),
            ],
        )
        draft.add_misconception(
            "sign_flip",
            "Gradient y − g instead of g − y",
            "∂L/∂z = g − y: the loss falls as z_y grows.",
            {"dLdz": -grad},
        )
        wrt_g = np.where(y > 0, -1.0 / g, 0.0)
        draft.add_misconception(
            "gradient_wrt_probabilities",
            "Differentiated with respect to g, not z",
            "∂L/∂g_y = −1/g_y; through the softmax Jacobian this becomes ∂L/∂z = g − y.",
            {"dLdz": wrt_g},
        )
        draft.add_misconception(
            "forgot_target", "Forgot to subtract y", "∂L/∂z = g − y, not g.", {"dLdz": g}
        )
        draft.add_misconception(
            "log_base_10",
            "Used log base 10",
            "The cross-entropy uses the natural log.",
            {"L": -np.log10(g[target])},
        )
        return draft


class _InputKind(ProblemKind):
    """A small net and one example, for questions about the input x."""

    topic = "adversarial"
    params = (
        Param(
            "sizes", "int_list", [2, 2, 1], "units per layer, inputs first", minimum=1, maximum=5
        ),
        Param("hidden", "choice", "sigmoid", "activation of hidden units", ELEMENTWISE),
        Param(
            "output",
            "choice",
            "sigmoid",
            "output activation (sigmoid: binary label g >= 0.5)",
            ("sigmoid", "identity"),
        ),
        NOTATION_PARAM,
        STYLE_PARAM,
    )

    def check_params(self, p):
        if len(p["sizes"]) < 2 or p["sizes"][-1] != 1:
            raise ParamError(
                "parameter 'sizes' must have at least two entries and end in 1 (a binary classifier)"
            )

    def draw(self, p, rng):
        sizes = p["sizes"]
        activations = [p["hidden"]] * (len(sizes) - 2) + [p["output"]]
        net = draw_network(rng, sizes, activations, p["style"])
        x = draw_values(rng, (sizes[0],), p["style"])
        check_calculator_friendly(net, forward(net, x))
        return net, x

    def net_text(self, p, net, x):
        return (
            f"A {'-'.join(map(str, net.sizes))} network has weights {describe_network(net, p['notation'])}. "
            f"{activation_sentence(net)} The input is $x = {latex_matrix(x)}$."
        )


class InputGradient(_InputKind):
    id = "input_gradient"
    version = 4  # v2: engine sums that cancel to rounding noise are 0 (nncore.network)
    # v3: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    # v4: in graph notation the output is the unit's a_k, not g (the activation there), in the
    # prompt, solution (∂L/∂x_i = Σ_j w_{i,j} Δ_j) and misconceptions; matrix misconceptions say f'(Z^l)
    title = "Gradient of the loss with respect to the input"
    description = "∂L/∂x by backpropagating one step further than the weights (squared loss)."

    def build(self, p, rng):
        net, x = self.draw(p, rng)
        y = (
            float(rng.integers(0, 2))
            if p["output"] == "sigmoid"
            else float(draw_values(rng, (1,), p["style"])[0])
        )
        dx = adversarial.input_gradient(net, x, [y], "squared")
        if np.all(np.abs(dx) < 1e-6):
            raise Redraw("vanishing input gradient")
        trace = forward(net, x)
        grad_g = -2.0 * (y - trace.output)
        no_derivatives = make_network(
            [layer.W for layer in net.layers], [layer.W0 for layer in net.layers], "identity"
        )
        dx_no_fprime = backpropagate(no_derivatives, trace, grad_g, grad_g).dA[0][:, 0]
        # the output: g in matrix notation, the output unit's a_k in graph notation (g is the
        # activation function there)
        graph = p["notation"] == "graph"
        out = f"a_{{{neuron_ids(net.sizes)[-1][0]}}}" if graph else "g"
        draft = Draft(
            text=self.net_text(p, net, x)
            + f" The target is $y = {fmt(y)}$ and the loss is $(y - {out})^2$. Give $\\partial \\mathcal{{L}}/\\partial x$.",
            data={
                "network": net.to_dict(),
                "x": x,
                "y": [y],
                "loss": "squared",
                "notation": p["notation"],
            },
            fields=[
                Field("dLdx", "$\\partial \\mathcal{L}/\\partial x$", (net.sizes[0],), "vector")
            ],
            answers={"dLdx": dx},
            solution=[
                step("Forward", f"{out} = {fmt(trace.output[0, 0])}", g=trace.output[:, 0]),
                step(
                    "Output",
                    f"\\partial \\mathcal{{L}}/\\partial {out} = -2(y - {out}) = {fmt(grad_g[0, 0])}",
                ),
                step(
                    "Backpropagate to the input",
                    (
                        "\\partial \\mathcal{L}/\\partial x_i = \\sum_j w_{i,j} \\Delta_j:\\; \\partial \\mathcal{L}/\\partial x"
                        if graph
                        else "\\partial \\mathcal{L}/\\partial x = W^1 \\Delta^1"
                    )
                    + f" = {latex_matrix(dx)}",
                    dLdx=dx,
                ),
            ],
            diagram=network_diagram(net, p["notation"], x, [y]),
        )
        out = out.replace("{", "").replace("}", "")  # plain text: a_5
        draft.add_misconception(
            "sign_error", f"Sign of −2(y − {out}) flipped", f"∂/∂{out} (y − {out})² = −2(y − {out}).", {"dLdx": -dx}
        )
        draft.add_misconception(
            "forgot_activation_derivative",
            "Left out the g'(in_j) factors" if graph else "Left out the f'(Z^l) factors",
            ("Every unit" if graph else "Every layer") + " on the way back multiplies by the derivative of its activation.",
            {"dLdx": dx_no_fprime},
        )
        draft.add_misconception(
            "no_factor_2",
            "Dropped the factor 2",
            f"∂/∂{out} (y − {out})² keeps its factor 2.",
            {"dLdx": dx / 2},
        )
        return draft


class Fgsm(_InputKind):
    id = "fgsm"
    version = 4  # v2: engine sums that cancel to rounding noise are 0 (nncore.network)
    # v3: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    # v4: in graph notation the label rule and the solution name the output unit's a_k, not g
    # (the activation there), as InputGradient v4
    title = "Fast gradient sign method"
    description = "x' = x + ε sign(∂L/∂x) and the label the net gives x'."

    def build(self, p, rng):
        net, x = self.draw(p, rng)
        label = adversarial.predicted_label(net, x)
        eps = float(
            rng.choice([0.1, 0.2, 0.5, 1.0])
            if p["style"] == "hand"
            else np.round(rng.uniform(0.05, 1.0), 2)
        )
        result = adversarial.fgsm(net, x, [float(label)], "squared", eps)
        if np.any(result.gradient == 0):
            raise Redraw("a zero input gradient has no sign")
        descent = x - result.perturbation
        graph = p["notation"] == "graph"
        out = f"a_{{{neuron_ids(net.sizes)[-1][0]}}}" if graph else "g"
        rule = adversarial.label_rule(net, f"${out}$" if graph else out)
        draft = Draft(
            text=self.net_text(p, net, x)
            + f" It predicts label {label} ({rule}). An attacker applies FGSM with "
            f"$\\epsilon = {fmt(eps)}$ to the squared loss against that label. Give $x' = x + \\epsilon\\,\\mathrm{{sign}}(\\nabla_x \\mathcal{{L}})$ "
            "and the label the network gives $x'$.",
            data={
                "network": net.to_dict(),
                "x": x,
                "y": [float(label)],
                "eps": eps,
                "loss": "squared",
                "notation": p["notation"],
            },
            fields=[
                Field("x_adv", "$x'$", (net.sizes[0],), "vector"),
                Field("label", "label of $x'$", (), "choice", choices=["0", "1"]),
            ],
            answers={"x_adv": result.x_adv, "label": str(result.label)},
            solution=[
                step(
                    "Input gradient",
                    f"\\nabla_x \\mathcal{{L}} = {latex_matrix(result.gradient)}",
                    gradient=result.gradient,
                ),
                step(
                    "Perturbation",
                    f"r = \\epsilon\\,\\mathrm{{sign}}(\\nabla_x \\mathcal{{L}}) = {latex_matrix(result.perturbation)}",
                    r=result.perturbation,
                ),
                step(
                    "New label",
                    f"x' = {latex_matrix(result.x_adv)},\\; {out}(x') = {fmt(result.output[0])} \\Rightarrow {result.label}",
                    label=result.label,
                ),
            ],
            diagram=network_diagram(net, p["notation"], x),
        )
        draft.add_misconception(
            "descended",
            "Stepped against the gradient",
            "FGSM increases the loss: x + ε sign(∇), not x − ε sign(∇).",
            {"x_adv": descent},
        )
        draft.add_misconception(
            "gradient_not_sign",
            "Used ε∇ instead of ε sign(∇)",
            "FGSM moves every input by exactly ε: it uses only the gradient's sign.",
            {"x_adv": x + eps * result.gradient},
        )
        return draft


class SmallestFlippingEpsilon(ProblemKind):
    id = "min_flip_epsilon"
    version = 3  # v2: forgot_bias's margin w^T x that cancels to rounding noise is 0 (seed 951: 1.4e-16)
    # v3: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    title = "Smallest perturbation that flips a linear classifier"
    description = "For a linear score s = w·x + w_0, the least ε in ℓ∞ (m/‖w‖₁) and ℓ2 (m/‖w‖₂)."
    topic = "adversarial"
    params = (Param("inputs", "int", 2, "number of inputs", minimum=1, maximum=6), STYLE_PARAM)

    def build(self, p, rng):
        n = p["inputs"]
        w = draw_values(rng, (n,), p["style"])
        w0 = float(draw_values(rng, (1,), p["style"])[0])
        x = draw_values(rng, (n,), p["style"])
        net = make_network([w.reshape(n, 1)], [[w0]], "identity")
        score = float(w @ x + w0)
        if abs(score) < 0.1:
            raise Redraw("x sits on the decision boundary")
        inf = adversarial.smallest_flipping_epsilon(net, x, "inf")
        two = adversarial.smallest_flipping_epsilon(net, x, "2")
        if not (inf.flipped and two.flipped):
            raise Redraw("engine could not confirm the flip")
        margin = abs(score)
        draft = Draft(
            text=(
                f"A linear classifier has score $s(x) = w^T x + w_0$ with $w = {latex_matrix(w)}$, $w_0 = {fmt(w0)}$, "
                f"and predicts label 1 when $s(x) \\ge 0$. For $x = {latex_matrix(x)}$, give the smallest "
                r"$\epsilon$ such that some perturbation $r$ with $\|r\|_\infty \le \epsilon$ (resp. $\|r\|_2 \le \epsilon$) changes the label."
            ),
            data={"w": w, "w0": w0, "x": x, "network": net.to_dict()},
            fields=[
                Field("eps_inf", "$\\epsilon$ for $\\ell_\\infty$", (), "number"),
                Field("eps_2", "$\\epsilon$ for $\\ell_2$", (), "number"),
            ],
            answers={"eps_inf": inf.epsilon, "eps_2": two.epsilon},
            solution=[
                step("Margin", f"|s(x)| = {fmt(margin)}", margin=margin),
                step(
                    "ℓ∞",
                    f"\\epsilon_\\infty = |s(x)| / \\|w\\|_1 = {fmt(margin)} / {fmt(np.abs(w).sum())} = {fmt(inf.epsilon)}",
                    eps_inf=inf.epsilon,
                ),
                step(
                    "ℓ2",
                    f"\\epsilon_2 = |s(x)| / \\|w\\|_2 = {fmt(margin)} / {fmt(np.linalg.norm(w))} = {fmt(two.epsilon)}",
                    eps_2=two.epsilon,
                ),
            ],
        )
        if n > 1:  # with one input ‖w‖₁ = ‖w‖₂, so swapping them changes nothing
            draft.add_misconception(
                "swapped_norms",
                "Swapped the dual norms",
                "An ℓ∞ budget moves every coordinate by ε, so the score moves by ε‖w‖₁; an ℓ2 budget by ε‖w‖₂.",
                {"eps_inf": margin / np.linalg.norm(w), "eps_2": margin / np.abs(w).sum()},
            )
        if abs(w0) > 0:
            unbiased = abs(float(snap_to_zero(w @ x, np.abs(w) @ np.abs(x))))  # 0.3 - 0.3: 0, not 1e-16
            draft.add_misconception(
                "forgot_bias",
                "Left w_0 out of the margin",
                "The distance to the boundary uses the whole score w^T x + w_0.",
                {"eps_inf": unbiased / np.abs(w).sum(), "eps_2": unbiased / np.linalg.norm(w)},
            )
        return draft


KINDS = (
    SoftmaxProbabilities,
    SoftmaxCrossEntropyGradient,
    InputGradient,
    Fgsm,
    SmallestFlippingEpsilon,
)
