"""A question shows one notation throughout: prompt, answer fields, worked solution and the
named mistakes.

QA: matrix-notation questions explained their mistakes with Δ_j, a_i, in_i and w_{0,j} (chain's
texts were written in graph notation only), linear_collapse's graph questions with W^l and W_0,
graph prompts wrote the loss as L(g, y) although g is the activation function there (g'(in_j)),
and a bias-free linear_collapse matrix solution ended in "+ W_0".
"""

import re

import pytest

from nncore.problems import CATALOGUE
from nncore.problems.base import STEP_NOTE, TOTAL_STEP_NOTE
from nncore.problems.chain import GRAPH_MISTAKES, MISTAKES, mistake_text
from nncore.problems.common import NOTATIONS

# Symbols only one notation writes: matrix W^l, Z^l, A^l, W_0^l, Δ^l; graph in_j, w_{i,j}, Δ_j,
# a_j and g'(in_j).
MATRIX_ONLY = re.compile(r"W\^|Z\^|A\^|W_0|Δ\^|\\Delta\^")
GRAPH_ONLY = re.compile(r"in_|w_\{|Δ_|\\Delta_|a_[0-9ij{]|g'\(")
FOREIGN = {"graph": MATRIX_ONLY, "matrix": GRAPH_ONLY}

NOTATION_KINDS = [kind_id for kind_id, kind in CATALOGUE.items() if "notation" in {p.name for p in kind.params}]
CASES = [
    {},
    {"sizes": [2, 2, 2]},
    {"sizes": [2, 2, 2], "bias": False},
    {"sizes": [2, 3, 2, 1], "hidden": "tanh"},
    {"output": "softmax", "loss": "cross_entropy", "sizes": [2, 2, 3]},
    {"source": "network", "sizes": [2, 2, 1]},  # gradient_clipping's backprop variant
]
SEEDS = range(6)


def _instances(kind_id: str, notation: str):
    """Instances of a kind in one notation over CASES (the parameters it has) and SEEDS."""
    kind = CATALOGUE[kind_id]
    names = {p.name for p in kind.params}
    for case in CASES:
        params = {k: v for k, v in case.items() if k in names}
        if params != case and params == {}:
            continue  # the case says nothing about this kind
        try:
            kind.validate_params({**params, "notation": notation})
        except ValueError:
            continue
        for seed in SEEDS:
            yield params, seed, kind.generate({**params, "notation": notation}, seed)


def test_every_mistake_has_a_text_in_both_notations():
    assert MISTAKES.keys() == GRAPH_MISTAKES.keys()
    for mistake in MISTAKES:
        for notation in NOTATIONS:
            name, explanation = mistake_text(mistake, notation)
            assert not FOREIGN[notation].search(f"{name}\n{explanation}"), (mistake, notation, name, explanation)


@pytest.mark.parametrize("notation", NOTATIONS)
@pytest.mark.parametrize("kind_id", NOTATION_KINDS)
def test_misconceptions_prompt_and_solution_use_the_question_notation(kind_id, notation):
    foreign = FOREIGN[notation]
    named = 0
    for params, seed, instance in _instances(kind_id, notation):
        for m in instance["misconceptions"]:
            named += 1
            for key in ("name", "explanation"):
                assert not foreign.search(m[key]), (params, seed, m["id"], key, m[key])
        assert not foreign.search(instance["prompt"]["text"]), (params, seed, instance["prompt"]["text"])
        for field in instance["fields"]:  # weight_gradient's matrix question asked for ∂J/∂w_{2,4}
            assert not foreign.search(field["label"]), (params, seed, field["name"], field["label"])
        for s in instance["solution"]:
            assert not foreign.search(s["latex"]), (params, seed, s["title"], s["latex"])
    assert named, "no misconception was checked"


@pytest.mark.parametrize("kind_id", NOTATION_KINDS)
def test_graph_questions_do_not_write_the_output_as_g(kind_id):
    """g is the activation in graph notation (g'(in_j)): the loss is over the output unit a_k,
    as CS 457 writes (y − a_7)²."""
    for params, seed, instance in _instances(kind_id, "graph"):
        texts = [instance["prompt"]["text"], *(s["latex"] for s in instance["solution"])]
        texts += [f"{m['name']} {m['explanation']}" for m in instance["misconceptions"]]
        for text in texts:
            assert "(g, y)" not in text and "- g)" not in text and "− g)" not in text, (params, seed, text)
            # fgsm's label rule said "g >= 0.5" and its solution "g(x') = 0.85"
            assert not re.search(r"(?<![\\\w])g(\(x|\$? >=)", text), (params, seed, text)


def test_the_graph_loss_is_written_over_the_output_units():
    prompt = CATALOGUE["loss_value"].generate({"notation": "graph"}, 0)["prompt"]["text"]
    assert "$\\mathcal{L} = (y - a_{5})^2$" in prompt, prompt
    softmax = {"output": "softmax", "loss": "cross_entropy", "sizes": [2, 2, 3], "notation": "graph"}
    prompt = CATALOGUE["loss_value"].generate(softmax, 0)["prompt"]["text"]
    assert "\\mathcal{L}_{nllm} = -(y_{1} \\log a_{5} + y_{2} \\log a_{6} + y_{3} \\log a_{7})" in prompt, prompt
    matrix = CATALOGUE["loss_value"].generate({"notation": "matrix"}, 0)["prompt"]["text"]
    assert "$\\mathcal{L}(g, y) = (y - g)^2$" in matrix, matrix


@pytest.mark.parametrize("sizes", [[2, 2, 1], [3, 2, 2], [2, 3, 2, 2]])
def test_a_bias_free_linear_collapse_matrix_solution_has_no_bias(sizes):
    for seed in SEEDS:
        instance = CATALOGUE["linear_collapse"].generate({"notation": "matrix", "sizes": sizes, "bias": False}, seed)
        latex = [s["latex"] for s in instance["solution"]]
        assert latex[-1].endswith("g = W^T x"), latex[-1]
        assert not [text for text in latex if "W_0" in text], latex


def test_linear_collapse_with_biases_keeps_w0_in_the_matrix_solution():
    latex = [s["latex"] for s in CATALOGUE["linear_collapse"].generate({"notation": "matrix"}, 0)["solution"]]
    assert latex[-1].endswith("g = W^T x + W_0") and "W_0 = W_0^{1}" in latex[0]


def test_a_weight_asked_after_t_steps_is_noted_as_its_change_from_the_given_weight():
    """symmetry_breaking grades the weight after t steps on its change from the printed weight
    (step_from is the initial network), so the prompt must not say "its change in the step"."""
    kind = CATALOGUE["symmetry_breaking"]
    for steps in (1, 2, 3):
        for seed in SEEDS:
            instance = kind.generate({"steps": steps}, seed)
            text = instance["prompt"]["text"]
            assert text.endswith(TOTAL_STEP_NOTE) and STEP_NOTE not in text, (steps, seed, text)
            (field,) = [f for f in instance["fields"] if "step_from" in f]
            start = instance["prompt"]["data"]["network"]
            assert field["step_from"] in _weights(start), (steps, seed)


def test_one_step_kinds_keep_the_note_of_the_step():
    for kind_id in ("sgd_update", "backprop_chain", "minibatch_update", "weight_decay_update", "sgd_steps"):
        text = CATALOGUE[kind_id].generate({}, 0)["prompt"]["text"]
        assert text.endswith(STEP_NOTE) and TOTAL_STEP_NOTE not in text, (kind_id, text)


def _weights(network: dict) -> list[float]:
    """Every weight and bias of a network dict, flat."""
    out: list[float] = []

    def walk(value):
        if isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, float):
            out.append(value)

    for layer in network["layers"]:
        walk(layer.get("W"))
        walk(layer.get("W0"))
    return out
