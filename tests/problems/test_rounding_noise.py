"""Hand instances never show rounding noise where the board has 0 (nncore.cancellation).

Decimal sums that are 0 on paper come out as ±1e-16 in binary (-0.3 + 1 - 0.7 = 5.55e-17); a
student shown "in_3 = 5.551e-17" or a misconception answer of 2e-17 is looking at arithmetic
noise, not at the network. The same goes for values that are tiny because a unit saturated,
which hand instances promise not to have.
"""

import pytest

from nncore.problems.registry import CATALOGUE, get_kind

SEEDS = range(400)

# Seeds that showed noise before the fix named beside them (beyond SEEDS, or worth pinning).
REGRESSION_SEEDS = {
    "forward_neuron": [20],  # in_3 = 5.55e-17 (chain_pass snap)
    "batch_norm": [9],  # mu = -1.39e-17 (diagnostics.batch_norm)
    "minibatch_update": [136, 155],  # solution in = -3.3e-16 (engine forward)
    "weight_decay_update": [169],  # solution in = -2.8e-17 (engine forward)
    "sgd_steps": [60],  # solution in = -5.6e-17 (engine forward)
    "symmetry_breaking": [226],  # solution in = 1.1e-16 (engine forward)
    "input_gradient": [6, 7, 12, 47],  # forgot_activation_derivative dL/dx = 2e-17 (engine W Δ)
    "linear_collapse": [6, 47],  # solution W through layer 2 = 1.1e-16 (collapse rows)
    "min_flip_epsilon": [951],  # forgot_bias eps = 1.4e-16 (its margin w^T x)
    "computational_graph": [275],  # g = σ(11): dL/db = -5.6e-10 (saturated sigmoid redrawn)
}

HAND_KINDS = sorted(
    kind_id
    for kind_id in CATALOGUE
    if not kind_id.startswith("code_") and any(p.name == "style" for p in get_kind(kind_id).params)
)


def _floats(value):
    if isinstance(value, list):
        for item in value:
            yield from _floats(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _floats(item)
    elif isinstance(value, float):
        yield value


def test_every_numeric_kind_with_a_hand_style_is_checked():
    assert len(HAND_KINDS) >= 25 and set(REGRESSION_SEEDS) <= set(HAND_KINDS)


@pytest.mark.parametrize("kind_id", HAND_KINDS)
def test_hand_instances_have_no_rounding_noise(kind_id):
    """No answer, alternative, misconception answer or worked-solution value of a hand
    instance is nonzero and below 1e-9 (each regression seed failed before its fix)."""
    kind = get_kind(kind_id)
    noisy = []
    for seed in [*SEEDS, *REGRESSION_SEEDS.get(kind_id, [])]:
        instance = kind.generate({"style": "hand"}, seed)
        parts = [instance[part] for part in ("answers", "alternatives", "misconceptions", "solution")]
        noisy += [(seed, v) for v in _floats(parts) if v != 0.0 and abs(v) < 1e-9]
    assert noisy == []


DEEP_RELU = {"style": "hand", "hidden": "relu", "sizes": [2, 3, 2]}
DEEP_KINDS = [
    "forward_mlp", "loss_value", "output_delta", "hidden_delta",
    "weight_gradient", "layer_gradient", "sgd_update", "backprop_chain",
]


@pytest.mark.parametrize("kind_id", DEEP_KINDS)
def test_relu_networks_with_three_hidden_units_have_no_rounding_noise(kind_id):
    """Wider ReLU layers cancel in W Δ too: seed 58 of backprop_chain (2-3-2, ReLU) had a
    forgot_bias Δ_5 of -1.9e-17 before chain_pass snapped W Δ and the updated weights."""
    kind = get_kind(kind_id)
    noisy = []
    for seed in [*range(150), 58]:
        instance = kind.generate(DEEP_RELU, seed)
        parts = [instance[part] for part in ("answers", "alternatives", "misconceptions", "solution")]
        noisy += [(seed, v) for v in _floats(parts) if v != 0.0 and abs(v) < 1e-9]
    assert noisy == []
