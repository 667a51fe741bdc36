"""Softmax, cross-entropy, input-gradient, FGSM and smallest-ε kinds, checked independently.

Each reference answer is recomputed from the instance's prompt data: softmax by direct
exponentiation, gradients by central finite differences of the loss, FGSM and ε by running the
network on the perturbed input.
"""

import numpy as np
import pytest

from nncore.network import forward, network_from_dict
from nncore.problems import generate
from nncore.problems.base import ParamError

SEEDS = range(40)


def _finite_difference(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    out = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (f(x + e) - f(x - e)) / (2 * h)
    return out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("style", ["hand", "random"])
def test_softmax_probabilities_are_the_normalised_exponentials(seed, style):
    inst = generate("softmax_probabilities", {"style": style}, seed)
    z = np.array(inst["prompt"]["data"]["z"])
    expected = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(inst["answers"]["g"], expected, rtol=1e-10)
    assert inst["answers"]["class"] == str(int(np.argmax(z)) + 1)
    top_two = np.sort(z)[-2:]
    assert top_two[1] - top_two[0] >= 0.2 - 1e-12  # no near-tie for the argmax


def test_hand_logits_have_one_decimal_like_seed_001():
    for seed in range(300):
        z = np.array(generate("softmax_probabilities", {"style": "hand"}, seed)["prompt"]["data"]["z"])
        np.testing.assert_allclose(z * 10, np.round(z * 10), atol=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_ce_gradient_matches_finite_differences(seed):
    inst = generate("softmax_ce_gradient", {"classes": 5}, seed)
    data = inst["prompt"]["data"]
    z, y = np.array(data["z"]), np.array(data["y"])

    def loss(v):
        return -np.sum(y * (v - np.log(np.sum(np.exp(v)))))

    assert inst["answers"]["L"] == pytest.approx(loss(z), rel=1e-10)
    np.testing.assert_allclose(inst["answers"]["dLdz"], _finite_difference(loss, z), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
def test_input_gradient_matches_finite_differences(seed, hidden):
    inst = generate("input_gradient", {"hidden": hidden, "style": "random"}, seed)
    data = inst["prompt"]["data"]
    net = network_from_dict(data["network"])
    y = data["y"][0]

    def loss(x):
        return float((y - forward(net, x).output[0, 0]) ** 2)

    np.testing.assert_allclose(inst["answers"]["dLdx"], _finite_difference(loss, data["x"]), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("seed", SEEDS)
def test_fgsm_answer_is_x_plus_eps_sign_and_the_real_label(seed):
    inst = generate("fgsm", {}, seed)
    data = inst["prompt"]["data"]
    net = network_from_dict(data["network"])
    y = data["y"][0]

    def loss(x):
        return float((y - forward(net, x).output[0, 0]) ** 2)

    sign = np.sign(_finite_difference(loss, data["x"]))
    x_adv = np.array(data["x"]) + data["eps"] * sign
    np.testing.assert_allclose(inst["answers"]["x_adv"], x_adv, rtol=1e-10)
    g = forward(net, x_adv).output[0, 0]
    assert inst["answers"]["label"] == str(int(g >= 0.5))


@pytest.mark.parametrize("seed", SEEDS)
def test_smallest_epsilon_flips_exactly_at_the_threshold(seed):
    inst = generate("min_flip_epsilon", {"inputs": 3}, seed)
    data = inst["prompt"]["data"]
    w, w0, x = np.array(data["w"]), data["w0"], np.array(data["x"])
    s = w @ x + w0
    for key, direction in (
        ("eps_inf", -np.sign(s) * np.sign(w)),
        ("eps_2", -np.sign(s) * w / np.linalg.norm(w)),
    ):
        eps = inst["answers"][key]
        assert np.sign(w @ (x + eps * 1.001 * direction) + w0) != np.sign(s)
        assert np.sign(w @ (x + eps * 0.999 * direction) + w0) == np.sign(s)


@pytest.mark.parametrize(
    "kind", ["softmax_probabilities", "softmax_ce_gradient", "input_gradient", "fgsm", "min_flip_epsilon"]
)
def test_misconceptions_differ_from_the_answer(kind):
    for seed in range(60):
        inst = generate(kind, {}, seed)
        for m in inst["misconceptions"]:
            for field, wrong in m["answers"].items():
                right = inst["answers"][field]
                if isinstance(right, str):
                    assert wrong != right
                else:
                    assert not np.allclose(wrong, right, rtol=1e-2, atol=1e-8), (kind, seed, m["id"])


def test_bad_parameters_name_the_parameter():
    with pytest.raises(ParamError, match="classes"):
        generate("softmax_probabilities", {"classes": 1}, 0)
    with pytest.raises(ParamError, match="sizes"):
        generate("input_gradient", {"sizes": "2,2,3"}, 0)
    with pytest.raises(ParamError, match="output"):
        generate("fgsm", {"output": "softmax"}, 0)


@pytest.mark.parametrize("style", ["hand", "random"])
def test_a_zero_based_predicted_class_is_named(style):
    """Classes are 1..K (z_1 .. z_K, as in 001); np.argmax's 0-based index typed as the class
    is the class one below: named, not only graded 0 (QA)."""
    from autograder.grading import grade_submission

    seen = 0
    for seed in range(40):
        inst = generate("softmax_probabilities", {"style": style}, seed)
        k = len(inst["prompt"]["data"]["z"])
        assert f"numbered 1 to {k}" in inst["prompt"]["text"]
        index = int(np.argmax(inst["prompt"]["data"]["z"]))  # 0-based
        ids = {m["id"] for m in inst["misconceptions"]}
        if index == 0:  # "0" is not an option to choose: nothing to name
            assert "zero_based_class" not in ids, seed
            continue
        result = grade_submission(inst, {"g": inst["answers"]["g"], "class": str(index)}).fields["class"]
        assert result["score"] == 0.0 and result["misconception"] == "zero_based_class", (seed, result)
        assert "numbered from 1" in result["message"]
        seen += 1
    assert seen >= 20
