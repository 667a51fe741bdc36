"""Tied hidden units: 002's "The Problem with Equal Weights", checked on actual training runs.

Two hidden units j, k of layer l are *tied* when they have equal incoming weights (column j and
k of W^l), equal biases (W_0^l entries; CS 457's w_{0,j} = w_{0,k}) and equal outgoing weights
(rows j and k of W^{l+1}). Why a tie never breaks under gradient descent (002, 2-2-1 net with
hidden units 3, 4 and output 5): with w_{i,3} = w_{i,4} for i = 0, 1, 2, forward propagation
gives in_3 = in_4, so a_3 = a_4; backward propagation gives
    Δ_3 = g'(in_3) w_{3,5} Δ_5 = g'(in_4) w_{4,5} Δ_5 = Δ_4    (in_3 = in_4 and w_{3,5} = w_{4,5}),
so the updates w_{i,3} -= α Δ_3 a_i and w_{i,4} -= α Δ_4 a_i are equal, and so are
w_{3,5} -= α Δ_5 a_3 and w_{4,5} -= α Δ_5 a_4 (a_3 = a_4). The equalities hold again at t + 1,
hence forever, whatever the data, the learning rate or the number of steps. The same holds for
mini-batches (a mean of equal terms), weight decay (-2αλw is equal too), clipping (one common
factor) and deeper nets (Δ_j = g'(in_j) Σ_{j'} w_{j,j'} Δ_{j'} uses the equal outgoing rows).

The argument is exact arithmetic. Floating point keeps it only up to the last bit: NumPy's SIMD
kernels (exp in the sigmoid, for one) may round an entry of the vector body and one of the scalar
tail differently, so tied units can drift apart by ~1e-16 per step. Ties are therefore detected
within TIE_TOL = 1e-9 on the weights, far below any real symmetry-breaking initialisation
(RAND(-ε, ε) differences are ~ε); tol = 0 asks for bit-identity. Output units
are never tied by this argument (their targets differ) and are not analysed. Layers with skip
connections are refused (a unit's output there also carries its own input from layer l-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nncore.losses import Loss
from nncore.network import Network
from nncore.notation import neuron_ids
from nncore.updates import TrainingRecord, train
from nncore.validation import check_positive

TIE_TOL = 1e-9  # weights closer than this are tied (see the module docstring)


@dataclass(frozen=True)
class TieGroup:
    """Hidden units of layer l (0-based `units`, CS 457 numbers `neurons`) that are tied.

    incoming[:, m] is W^l[:, units[m]], bias[m] is W_0^l[units[m]], outgoing[m, :] is
    W^{l+1}[units[m], :], all at the time the group was reported.
    """

    layer: int
    units: tuple[int, ...]
    neurons: tuple[int, ...]
    incoming: np.ndarray
    bias: np.ndarray
    outgoing: np.ndarray

    @property
    def size(self) -> int:
        return len(self.units)


@dataclass
class SymmetryReport:
    """Tie groups (size >= 2) that stayed tied at every step 0..T, with weights at step T."""

    groups: list[TieGroup]
    initial_groups: list[TieGroup]
    record: TrainingRecord
    tol: float

    @property
    def breaks_symmetry(self) -> bool:
        return not self.groups

    def groups_in_layer(self, l: int) -> list[TieGroup]:
        return [group for group in self.groups if group.layer == l]


def _check_net(net) -> Network:
    if not isinstance(net, Network):
        raise ValueError(f"expected a nncore.network.Network, got {type(net).__name__}")
    if any(layer.skip for layer in net.layers):
        raise ValueError("tie analysis does not support layers with skip connections")
    return net


def _check_tol(tol) -> float:
    return check_positive(tol, "tie tolerance tol", allow_zero=True)


def unit_signature(net: Network, l: int, j: int) -> np.ndarray:
    """Incoming weights, bias and outgoing weights of hidden unit j (0-based) of layer l."""
    layer, nxt = net.layer(l), net.layer(l + 1)
    return np.concatenate([layer.W[:, j], layer.W0[j], nxt.W[j, :]])


def _close_pairs(net: Network, l: int, tol: float) -> np.ndarray:
    """Boolean n_l x n_l matrix: units j, k of hidden layer l are tied (within tol)."""
    n = net.sizes[l]
    signatures = np.stack([unit_signature(net, l, j) for j in range(n)])
    if tol == 0.0:
        return np.all(signatures[:, None, :] == signatures[None, :, :], axis=2)
    return np.all(np.abs(signatures[:, None, :] - signatures[None, :, :]) <= tol, axis=2)


def _components(close: np.ndarray) -> list[tuple[int, ...]]:
    """Connected components of size >= 2 (exact equality is transitive; with tol > 0 this is
    single linkage: j ~ k ~ m puts j and m together even if they differ by more than tol)."""
    n = close.shape[0]
    seen = [False] * n
    groups = []
    for start in range(n):
        if seen[start]:
            continue
        stack, component = [start], []
        seen[start] = True
        while stack:
            j = stack.pop()
            component.append(j)
            for k in np.flatnonzero(close[j]):
                if not seen[k]:
                    seen[k] = True
                    stack.append(int(k))
        if len(component) > 1:
            groups.append(tuple(sorted(component)))
    return groups


def _make_groups(net: Network, l: int, components: list[tuple[int, ...]]) -> list[TieGroup]:
    ids = neuron_ids(net.sizes)[l]
    layer, nxt = net.layer(l), net.layer(l + 1)
    groups = []
    for units in components:
        cols = list(units)
        groups.append(
            TieGroup(
                layer=l,
                units=units,
                neurons=tuple(ids[j] for j in units),
                incoming=layer.W[:, cols].copy(),
                bias=layer.W0[cols, 0].copy(),
                outgoing=nxt.W[cols, :].copy(),
            )
        )
    return groups


def tie_groups(net: Network, tol=TIE_TOL) -> list[TieGroup]:
    """Groups (size >= 2) of tied hidden units in every hidden layer of `net`, now."""
    net = _check_net(net)
    tol = _check_tol(tol)
    groups = []
    for l in range(1, net.depth):
        groups += _make_groups(net, l, _components(_close_pairs(net, l, tol)))
    return groups


def initial_tie_groups(net: Network, tol=TIE_TOL) -> list[TieGroup]:
    """Tie groups of an initialisation (t = 0): by 002's argument these can never untie."""
    return tie_groups(net, tol)


def is_tied_initialisation(net: Network, tol=TIE_TOL) -> bool:
    """True when some hidden layer starts with two or more tied units (symmetry not broken)."""
    return bool(initial_tie_groups(net, tol))


def persistent_ties(
    net: Network,
    X,
    Y,
    loss: Loss | str,
    lr,
    steps: int,
    *,
    tol=TIE_TOL,
    **train_options,
) -> SymmetryReport:
    """Train with `nncore.updates.train` and report the hidden units tied at every step 0..T.

    `train_options` go to `train` (order, batch_size, lam, clip, include_bias). Each group's
    weights are those after the last step.
    """
    net = _check_net(net)
    tol = _check_tol(tol)
    record = train(net, X, Y, loss, lr, steps, **train_options)
    groups = []
    for l in range(1, net.depth):
        always = np.ones((net.sizes[l], net.sizes[l]), dtype=bool)
        for snapshot in record.networks:
            always &= _close_pairs(snapshot, l, tol)
        groups += _make_groups(record.final, l, _components(always))
    return SymmetryReport(groups, tie_groups(net, tol), record, tol)


def breaks_symmetry(
    initial_net: Network,
    X,
    Y,
    loss: Loss | str,
    lr,
    steps: int,
    *,
    tol=TIE_TOL,
    **train_options,
) -> bool:
    """False when, after training, some hidden layer still has a tied group of size > 1."""
    return persistent_ties(
        initial_net, X, Y, loss, lr, steps, tol=tol, **train_options
    ).breaks_symmetry
