"""Property tests: the engine's gradients on thousands of random networks.

Three independent checks of `nncore.network.backward` on random layered nets (depth 1-4, width
1-6, every activation, every loss, skip connections where the widths allow):
- every dW^l, dW_0^l, Δ^l and ∂L/∂x against central finite differences of the loss (float64);
- the layered engine against the graph engine of `nncore.graphnet` (in_j, a_j, Δ_j, ∂J/∂w_{i,j},
  ∂J/∂x_j) through `to_neuron_network`;
- the notation mapping w_{i,j} <-> W^l_{r,c} and the round trip graph -> matrices -> graph.

Kinks: a draw is assumed away when any finite-difference evaluation moves a ReLU / leaky ReLU /
step / ELU pre-activation to the other side of its kink (or onto it) than in the unperturbed
pass, i.e. when a kink lies within the finite-difference step. Tolerances are never loosened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nncore.graphnet import backward_neurons, forward_neurons
from nncore.losses import get_loss
from nncore.network import Network, backward, forward, make_network
from nncore.notation import (
    WeightRef,
    edge_to_ref,
    from_neuron_network,
    neuron_ids,
    ref_to_edge,
    to_neuron_network,
    weight_value,
)

# Fourth-order central difference f'(t) ≈ Σ c_k f(t + k h) / h: truncation O(h^4), so h can be
# large enough (1e-3) that round-off stays near 1e-13 relative.
FD_STEP = 1e-3
FD_STENCIL = ((-2, 1.0 / 12.0), (-1, -8.0 / 12.0), (1, 8.0 / 12.0), (2, -1.0 / 12.0))
FD_RTOL = 1e-6
# Round-off of the stencil is about 3e-13 |J|, but its truncation error h^4 |f^(5)| / 30 reaches
# ~1e-10 on steep draws (hypothesis found dW = -3.7e-5 off by 1.4e-10); so gradients smaller than
# this floor (relative to the loss) are compared absolutely, to FD_RTOL * floor, not to themselves.
FD_FLOOR = 1e-4
ENGINE_RTOL = 1e-12

KINKED = frozenset({"relu", "leaky_relu", "step", "elu"})
SMOOTH_OR_KINKED = (
    "identity",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "softplus",
    "step",
)
# (loss, output activation) pairs; softmax + nll needs at least two outputs to stay in (0, 1).
OUTPUT_PAIRS = (
    *(("squared", name) for name in (*SMOOTH_OR_KINKED, "softmax")),
    ("nll", "sigmoid"),
    ("nll", "softmax"),
    ("cross_entropy", "softmax"),
    ("cross_entropy", "sigmoid"),
)

_HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much]
FD_SETTINGS = settings(max_examples=800, deadline=None, suppress_health_check=_HEALTH)
ENGINE_SETTINGS = settings(max_examples=800, deadline=None, suppress_health_check=_HEALTH)
MAPPING_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=_HEALTH)


@dataclass
class Case:
    """A random network with a batch of inputs x (n_0 x B) and targets y (n_L x B)."""

    net: Network
    x: np.ndarray
    y: np.ndarray
    loss: str

    @property
    def batch(self) -> int:
        return self.x.shape[1]


def relative_error(a: float, b: float, floor: float = 1e-8) -> float:
    """|a - b| / (|a| + |b|), with the denominator floored so that zeros compare absolutely."""
    return abs(a - b) / max(floor, abs(a) + abs(b))


@st.composite
def activation_specs(draw, names=SMOOTH_OR_KINKED):
    name = draw(st.sampled_from(names))
    if name == "leaky_relu":
        return {"name": name, "a": draw(st.floats(0.01, 0.99))}
    if name == "elu":
        return {"name": name, "a": draw(st.floats(0.05, 3.0))}
    return name


@st.composite
def cases(draw, allow_skips: bool = True, hidden_softmax: bool = True) -> Case:
    """A random layered net, batch of 1-3 examples and targets that suit its loss."""
    depth = draw(st.integers(1, 4))
    loss, out_name = draw(st.sampled_from(OUTPUT_PAIRS))
    sizes = [draw(st.integers(1, 6))]
    for l in range(1, depth + 1):
        low = 2 if (l == depth and loss == "nll" and out_name == "softmax") else 1
        if sizes[-1] >= low and draw(st.booleans()):
            sizes.append(sizes[-1])  # equal widths make skip connections possible
        else:
            sizes.append(draw(st.integers(low, 6)))
    hidden_names = (*SMOOTH_OR_KINKED, "softmax") if hidden_softmax else SMOOTH_OR_KINKED
    activations = [draw(activation_specs(hidden_names)) for _ in range(depth - 1)]
    activations.append(draw(activation_specs((out_name,))))
    skips = []
    for l in range(1, depth + 1):
        # An output skip moves g out of (0, 1), so only the squared loss allows it.
        possible = allow_skips and sizes[l] == sizes[l - 1] and (l < depth or loss == "squared")
        skips.append(possible and draw(st.booleans()))
    batch = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = [
        rng.normal(0.0, 1.2 / np.sqrt(sizes[l - 1]), (sizes[l - 1], sizes[l]))
        for l in range(1, depth + 1)
    ]
    biases = [rng.normal(0.0, 0.5, (sizes[l], 1)) for l in range(1, depth + 1)]
    net = make_network(weights, biases, activations, skips)
    x = rng.normal(0.0, 1.0, (sizes[0], batch))
    n_out = sizes[-1]
    if loss == "squared":
        y = rng.normal(0.0, 1.0, (n_out, batch))
    elif loss == "nll":
        y = rng.uniform(0.0, 1.0, (n_out, batch))
        y[:, ::2] = np.round(y[:, ::2])  # some hard 0/1 labels, some soft ones
    else:
        # One-hot, soft (Σ_k y_k = 1) or unnormalised non-negative targets (e.g. multi-label).
        y = np.empty((n_out, batch))
        for e in range(batch):
            kind = rng.integers(3)
            if kind == 0:
                y[:, e] = np.eye(n_out)[rng.integers(n_out)]
            elif kind == 1:
                y[:, e] = rng.dirichlet(np.ones(n_out))
            else:
                y[:, e] = rng.uniform(0.0, 1.5, n_out)
    return Case(net, x, y, loss)


# --- loss evaluation for finite differences ------------------------------------------------------


def output_loss(
    net: Network, z_out: np.ndarray, g: np.ndarray, y: np.ndarray, loss: str
) -> np.ndarray:
    """Per-example loss; the combined pairs use the logit form (as `backward` reports it)."""
    loss_fn = get_loss(loss)
    last = net.layers[-1]
    if loss_fn.combined_output_activation() == last.activation.name and not last.skip:
        return loss_fn.value_from_logits(z_out, y)
    return loss_fn.value(g, y)


def kink_sides(net: Network, Z: list, first: int = 1) -> tuple:
    """Sign of every pre-activation of a kinked activation in layers first..L (0 = on the kink)."""
    return tuple(
        tuple(np.sign(Z[l]).ravel())
        for l in range(first, net.depth + 1)
        if net.layer(l).activation.name in KINKED
    )


def mean_loss_and_sides(
    net: Network, x: np.ndarray, y: np.ndarray, loss: str
) -> tuple[float, tuple]:
    trace = forward(net, x)
    value = float(np.mean(output_loss(net, trace.Z[-1], trace.output, y, loss)))
    return value, kink_sides(net, trace.Z)


def loss_from_layer(
    net: Network, l: int, z: np.ndarray, a_prev: np.ndarray, y: np.ndarray, loss: str
):
    """Loss of the examples in columns, continuing the forward pass from a given Z^l."""
    Z = [None] * (net.depth + 1)
    Z[l] = z
    layer = net.layer(l)
    a = layer.activation(z) + (a_prev if layer.skip else 0.0)
    for k in range(l + 1, net.depth + 1):
        layer = net.layer(k)
        Z[k] = layer.W.T @ a + layer.W0
        a = layer.activation(Z[k]) + (a if layer.skip else 0.0)
    return float(np.sum(output_loss(net, Z[-1], a, y, loss))), kink_sides(net, Z, first=l)


def finite_difference(
    set_offset: Callable[[float], None], evaluate: Callable[[], tuple], sides: tuple
) -> float:
    """Derivative of evaluate()[0] in the perturbed coordinate; assume away kink crossings."""
    total = 0.0
    for k, coefficient in FD_STENCIL:
        set_offset(k * FD_STEP)
        value, new_sides = evaluate()
        assume(new_sides == sides)
        total += coefficient * value
    set_offset(0.0)
    return total / FD_STEP


def assert_close(checks: list[tuple[str, float, float, float]], rtol: float) -> None:
    """Each check is (name, engine value, reference, floor for the relative error)."""
    errors = [(name, a, b, relative_error(a, b, floor)) for name, a, b, floor in checks]
    bad = [error for error in errors if error[3] >= rtol]
    assert not bad, "gradient mismatches (name, engine, reference, rel. error):\n" + "\n".join(
        f"  {name}: {a!r} vs {b!r} ({err:.2e})" for name, a, b, err in bad[:20]
    )


# --- 1. backprop against finite differences -----------------------------------------------------


@FD_SETTINGS
@given(case=cases())
def test_backward_matches_finite_differences(case: Case) -> None:
    net, x, y, loss = case.net, case.x, case.y, case.loss
    trace = forward(net, x)
    grads = backward(net, trace, y, loss)
    base_loss, sides = mean_loss_and_sides(net, x, y, loss)
    if loss == "nll" and net.layers[-1].activation.name != "sigmoid":
        # In probability form 1 - g loses digits as g -> 1 (and log(1 - g) with it), so finite
        # differences of the loss are noise there; the sigmoid + nll logit form has no such issue.
        assume(np.all(np.minimum(trace.output, 1.0 - trace.output) > 1e-4))
    assert relative_error(grads.loss, base_loss) < ENGINE_RTOL
    checks: list[tuple[str, float, float, float]] = []
    floor = FD_FLOOR * (1.0 + abs(base_loss))

    # dW^l and dW_0^l: derivatives of the batch-mean loss J.
    probe = net.copy()
    for l in range(1, net.depth + 1):
        layer = probe.layer(l)
        for kind, array, grad in (("W", layer.W, grads.dW[l]), ("W0", layer.W0, grads.dW0[l])):
            assert grad.shape == array.shape
            for idx in np.ndindex(array.shape):
                original = array[idx]

                def set_offset(t, array=array, idx=idx, original=original):
                    array[idx] = original + t

                fd = finite_difference(
                    set_offset, lambda: mean_loss_and_sides(probe, x, y, loss), sides
                )
                checks.append((f"d{kind}^{l}{list(idx)}", float(grad[idx]), fd, floor))

    # Δ^l = ∂L/∂Z^l per example: perturb Z^l of one example and finish the forward pass.
    for l in range(1, net.depth + 1):
        assert grads.delta[l].shape == trace.Z[l].shape
        for e in range(case.batch):
            z = trace.Z[l][:, [e]].copy()
            a_prev, y_e = trace.A[l - 1][:, [e]], y[:, [e]]
            local_loss, local_sides = loss_from_layer(net, l, z, a_prev, y_e, loss)
            local_floor = FD_FLOOR * (1.0 + abs(local_loss))
            for c in range(z.shape[0]):
                original = z[c, 0]

                def set_z(t, z=z, c=c, original=original):
                    z[c, 0] = original + t

                fd = finite_difference(
                    set_z,
                    lambda l=l, z=z, a_prev=a_prev, y_e=y_e: loss_from_layer(
                        net, l, z, a_prev, y_e, loss
                    ),
                    local_sides,
                )
                checks.append((f"Δ^{l}[{c},{e}]", float(grads.delta[l][c, e]), fd, local_floor))
        # The batch-mean weight gradients are Δ_j a_i averaged over the examples (002, 07-4).
        terms = np.abs(trace.A[l - 1]) @ np.abs(grads.delta[l]).T
        np.testing.assert_allclose(
            grads.dW0[l][:, 0],
            np.mean(grads.delta[l], axis=1),
            rtol=1e-13,
            atol=1e-13 * np.max(np.abs(grads.delta[l])),
        )
        np.testing.assert_allclose(
            grads.dW[l],
            trace.A[l - 1] @ grads.delta[l].T / case.batch,
            rtol=1e-13,
            atol=1e-13 * np.max(terms),
        )

    # ∂L/∂x per example: J is a batch mean, so ∂J/∂x^(e) = dx^(e) / B.
    x_probe = x.copy()
    for idx in np.ndindex(x.shape):

        def set_x(t, idx=idx):
            x_probe[idx] = x[idx] + t

        fd = finite_difference(set_x, lambda: mean_loss_and_sides(net, x_probe, y, loss), sides)
        checks.append((f"dx{list(idx)}", float(grads.dx[idx]), fd * case.batch, floor * case.batch))

    assert_close(checks, FD_RTOL)


# --- 2. the two engines agree -------------------------------------------------------------------


def assert_engines_agree(name: str, layered, graph, scale: float) -> None:
    """Agreement to 1e-12 relative to `scale`, the size of the terms the quantity is summed from:
    a sum that cancels cannot keep 12 digits of its own (smaller) size in either engine."""
    layered, graph = np.asarray(layered, dtype=float), np.asarray(graph, dtype=float)
    scale = max(scale, np.max(np.abs(layered)), np.max(np.abs(graph)))
    np.testing.assert_allclose(
        layered, graph, rtol=ENGINE_RTOL, atol=ENGINE_RTOL * scale, err_msg=name
    )


def term_scales(net: Network, trace, grads, e: int) -> dict[str, float]:
    """Largest term magnitudes of example e: Σ|w a| for in_j, |a|, Σ|w Δ| for Δ_j, Δ_j a_i, ∂L/∂x."""
    A = [a[:, e] for a in trace.A]
    D = [None] + [d[:, e] for d in grads.delta[1:]]
    z_terms = max(
        np.max(np.abs(layer.W).T @ np.abs(A[l - 1]) + np.abs(layer.W0[:, 0]))
        for l, layer in enumerate(net.layers, start=1)
    )
    a_scale = max(1.0, z_terms, *(np.max(np.abs(a)) for a in A))
    delta_scale = max(np.max(np.abs(d)) for d in D[1:])
    back_terms = [np.max(np.abs(net.layer(l).W) @ np.abs(D[l])) for l in range(1, net.depth + 1)]
    delta_scale = max(delta_scale, *back_terms)
    return {"z": z_terms, "a": a_scale, "delta": delta_scale, "grad": a_scale * delta_scale}


@ENGINE_SETTINGS
@given(case=cases(allow_skips=False, hidden_softmax=False))
def test_layered_and_graph_engines_agree(case: Case) -> None:
    net, x, y, loss = case.net, case.x, case.y, case.loss
    graph = to_neuron_network(net)
    sizes = net.sizes
    ids = neuron_ids(sizes)
    trace = forward(net, x)
    grads = backward(net, trace, y, loss)
    per_example_losses = []
    per_example_grads = []
    grad_scale = 0.0
    for e in range(case.batch):
        g_trace = forward_neurons(graph, x[:, e])
        g_grads = backward_neurons(graph, g_trace, y[:, e], loss)
        per_example_losses.append(g_grads.loss)
        per_example_grads.append(g_grads.grad)
        assert set(g_grads.grad) == set(graph.weights)
        scales = term_scales(net, trace, grads, e)
        grad_scale = max(grad_scale, scales["grad"])
        for l in range(1, net.depth + 1):
            assert_engines_agree(
                f"in_j layer {l}",
                trace.Z[l][:, e],
                [g_trace.in_[j] for j in ids[l]],
                scales["z"],
            )
            assert_engines_agree(
                f"a_j layer {l}", trace.A[l][:, e], [g_trace.a[j] for j in ids[l]], scales["a"]
            )
            assert_engines_agree(
                f"Δ_j layer {l}",
                grads.delta[l][:, e],
                [g_grads.delta[j] for j in ids[l]],
                scales["delta"],
            )
            # Per-example ∂L/∂w_{i,j} = Δ_j a_i against the layered per-example outer product.
            assert_engines_agree(
                f"Δ_j a_i layer {l}",
                np.outer(trace.A[l - 1][:, e], grads.delta[l][:, e]),
                [[g_grads.grad[(i, j)] for j in ids[l]] for i in ids[l - 1]],
                scales["grad"],
            )
        assert_engines_agree("dx", grads.dx[:, e], [g_grads.dx[i] for i in ids[0]], scales["delta"])
    assert relative_error(grads.loss, float(np.mean(per_example_losses))) < ENGINE_RTOL
    # Batch-mean gradient of every w_{i,j}, read from dW^l / dW_0^l through the notation mapping.
    edges = sorted(graph.weights)
    per_example = np.array([[grad[edge] for edge in edges] for grad in per_example_grads])
    layered = []
    for i, j in edges:
        ref = edge_to_ref(sizes, i, j)
        layered.append((grads.dW0 if ref.kind == "W0" else grads.dW)[ref.layer][ref.row, ref.col])
    assert_engines_agree(
        "batch-mean ∂J/∂w_{i,j}",
        layered,
        per_example.mean(axis=0),
        grad_scale,
    )


# --- 3. notation mapping ------------------------------------------------------------------------


@st.composite
def random_nets(draw) -> Network:
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = [rng.normal(size=(sizes[l - 1], sizes[l])) for l in range(1, len(sizes))]
    biases = [rng.normal(size=sizes[l]) for l in range(1, len(sizes))]
    # Graph notation allows softmax only on the output neurons.
    activations = [draw(activation_specs()) for _ in weights[:-1]]
    activations.append(draw(activation_specs((*SMOOTH_OR_KINKED, "softmax"))))
    return make_network(weights, biases, activations)


def all_refs(sizes: list[int]) -> list[WeightRef]:
    refs = []
    for l in range(1, len(sizes)):
        refs += [WeightRef(l, "W", r, c) for r in range(sizes[l - 1]) for c in range(sizes[l])]
        refs += [WeightRef(l, "W0", c, 0) for c in range(sizes[l])]
    return refs


@MAPPING_SETTINGS
@given(net=random_nets())
def test_edge_ref_round_trip_and_graph_round_trip(net: Network) -> None:
    sizes = net.sizes
    graph = to_neuron_network(net)
    assert len(graph.weights) == net.parameter_count()
    for (i, j), w in graph.weights.items():
        ref = edge_to_ref(sizes, i, j)
        assert ref_to_edge(sizes, ref) == (i, j)
        assert weight_value(net, ref) == w
    refs = all_refs(sizes)
    edges = [ref_to_edge(sizes, ref) for ref in refs]
    assert len(set(edges)) == len(refs) == net.parameter_count()
    assert set(edges) == set(graph.weights)
    for ref, (i, j) in zip(refs, edges, strict=True):
        assert edge_to_ref(sizes, i, j) == ref
        assert graph.weights[(i, j)] == weight_value(net, ref)
    back = from_neuron_network(graph, sizes)
    assert back.to_dict() == net.to_dict()
    assert to_neuron_network(back).to_dict() == graph.to_dict()
