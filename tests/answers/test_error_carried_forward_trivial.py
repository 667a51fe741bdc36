"""Error carried forward does not build on an activation value the activation does not give.

QA: in backprop_chain a student who typed 0 for every activation (a sigmoid's a_j = 0 zeroes
g'(in_j) = a_j(1 - a_j), and with it every Δ and gradient after it), the loss of that output,
0 for every Δ and gradient, and the printed weights as the "updated" ones earned 14 of the 17
fields as "Correct for your earlier answers", on every seed. Now such a value (or one where the
activation's slope is practically 0, a sigmoid's 1e-12) is not carried, and its field says so;
a ReLU's 0, which a negative in_j gives, is carried as before (review: an honest slip there lost
its credit under a first fix that judged vanishing values instead).
"""

import numpy as np

from autograder.grading import CARRIED_ERROR, grade_submission
from nncore.network import network_from_dict
from nncore.problems import get_kind
from nncore.problems.chain import chain_pass
from nncore.problems.network_kinds import UNCARRIED, _pick


def zeros_and_printed_weights(instance, activation: str = "0") -> dict:
    """The exploit: every activation `activation`, every Δ and gradient 0, the loss of output 0,
    no step taken."""
    data = instance["prompt"]["data"]
    y = np.asarray(data["y"], dtype=np.float64)
    answers = {}
    for spec in instance["fields"]:
        name, (quantity, _) = spec["name"], data["quantities"][spec["name"]]
        if "step_from" in spec:
            answers[name] = repr(spec["step_from"])
        elif quantity == "L":
            answers[name] = repr(float(np.sum(y**2)))  # (y - 0)^2 for the squared loss
        elif quantity.startswith("A"):
            answers[name] = activation
        else:
            answers[name] = "0"
    return answers


def test_zeros_and_the_printed_weights_earn_nothing_carried_forward():
    kind = get_kind("backprop_chain")
    for seed in range(20):
        instance = kind.generate({}, seed)
        assert instance["prompt"]["data"]["loss"] == "squared"
        result = grade_submission(instance, zeros_and_printed_weights(instance))
        credited = sorted(name for name, field in result.fields.items() if field["score"] > 0)
        assert credited == [], (seed, credited)
        activations = [n for n, (q, _) in instance["prompt"]["data"]["quantities"].items() if q.startswith("A")]
        for name in activations:  # the student reads why nothing was carried from them
            assert UNCARRIED.format(activation="sigmoid") in result.fields[name]["notes"], (seed, name)


def test_tiny_activations_instead_of_zeros_earn_nothing_either():
    """a_j = 1e-12 instead of 0: every later value is below the absolute tolerance, so typing 0
    would match it; the sigmoid's slope there is practically 0, so it is not carried either."""
    kind = get_kind("backprop_chain")
    for seed in range(10):
        instance = kind.generate({}, seed)
        result = grade_submission(instance, zeros_and_printed_weights(instance, activation="1e-12"))
        credited = sorted(name for name, field in result.fields.items() if field["score"] > 0)
        assert credited == [], (seed, credited)


def relu_student_with_a_dead_unit(instance) -> dict:
    """A student whose slip zeroed the first hidden ReLU unit (a_3 = 0, as a negative in_3
    gives), every later value computed exactly from it and typed in full."""
    data = instance["prompt"]["data"]
    quantities = data["quantities"]
    first = next(n for n, (q, _) in quantities.items() if q.startswith("A"))
    quantity, idx = quantities[first]
    net = network_from_dict(data["network"])
    x, y = np.array(data["x"]), np.array(data["y"])
    exact = chain_pass(net, x, y, data["loss"], data["lr"])
    slipped = exact[quantity].copy()
    slipped[tuple(idx) if idx else (0, 0)] = 0.0
    mine = chain_pass(net, x, y, data["loss"], data["lr"], override={quantity: slipped})
    mine[quantity] = slipped
    return {
        name: repr(float(np.asarray(_pick(mine, q, tuple(i) if i else None)).reshape(()))) for name, (q, i) in quantities.items()
    }


def test_a_relu_units_zero_from_an_honest_slip_is_still_carried_forward():
    kind = get_kind("backprop_chain")
    checked = 0
    for seed in range(40):
        instance = kind.generate({"hidden": "relu"}, seed)
        if instance["answers"][next(iter(instance["answers"]))] == 0:
            continue  # the unit is dead in the right work too: no slip to follow
        answers = relu_student_with_a_dead_unit(instance)
        result = grade_submission(instance, answers)
        first = next(iter(answers))
        later = [n for n in answers if n != first]
        assert all(result.fields[n]["score"] == 1 for n in later), (seed, {n: result.fields[n]["message"] for n in later})
        assert any(result.fields[n]["message"] == CARRIED_ERROR for n in later), seed
        assert UNCARRIED.format(activation="relu") not in result.fields[first]["notes"]
        checked += 1
    assert checked >= 20


def test_a_hidden_delta_typed_as_zero_does_not_carry_zeros_into_the_gradients_and_steps():
    """Right activations, loss and output Δ, then every hidden Δ typed as 0: the gradients and
    steps of layer 1 would all vanish with it. The zeros do not follow from the student's earlier
    values, so they are not carried, and the Δ field says so."""
    from nncore.problems.network_kinds import UNFOLLOWED

    kind = get_kind("backprop_chain")
    for seed in range(15):
        instance = kind.generate({}, seed)
        quantities = instance["prompt"]["data"]["quantities"]
        answers = {name: repr(float(np.asarray(value).reshape(()))) for name, value in instance["answers"].items()}
        hidden_deltas = [n for n, (q, _) in quantities.items() if q == "D1"]
        layer_1 = [n for n, (q, _) in quantities.items() if q in ("dW1", "W1_new")]
        answers.update(dict.fromkeys(hidden_deltas, "0"))
        for name in layer_1:
            spec = next(f for f in instance["fields"] if f["name"] == name)
            answers[name] = repr(spec["step_from"]) if "step_from" in spec else "0"
        result = grade_submission(instance, answers)
        assert all(result.fields[n]["score"] == 0 for n in hidden_deltas + layer_1), (seed, result.fields)
        assert all(UNFOLLOWED in result.fields[n]["notes"] for n in hidden_deltas), seed
