"""The question page's network drawing (exercises/diagrams.py): laid out from the instance's
diagram description as the lecture slides draw it, every edge with its weight."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from exercises import diagrams, services
from nncore.problems import get_kind


def test_a_network_is_drawn_layer_by_layer_with_every_weight():
    diagram = get_kind("forward_mlp").generate({}, 1)["diagram"]
    drawn = diagrams.layout(diagram)
    assert len(drawn.nodes) == len(diagram["nodes"]) and len(drawn.edges) == len(diagram["edges"])
    xs = {node["layer"]: set() for node in diagram["nodes"]}
    for node, shown in zip(diagram["nodes"], drawn.nodes, strict=True):
        xs[node["layer"]].add(shown.x)
    assert all(len(column) == 1 for column in xs.values())  # one column per layer
    assert sorted(next(iter(c)) for c in xs.values()) == [next(iter(xs[layer])) for layer in sorted(xs)]  # left to right
    assert [e.text for e in drawn.edges] == [diagrams.number(e["weight"]) for e in diagram["edges"]]
    inputs = [n for n in drawn.nodes if n.role == "input"]
    values = [diagrams.number(n["value"]) for n in diagram["nodes"] if n.get("role") == "input"]
    # a₁ in the circle, x₁ = its value under it, as on the slides
    assert [(n.text, n.note) for n in inputs] == [(f"a{s}", f"x{s} = {v}") for s, v in zip("₁₂", values, strict=True)]


def test_a_computational_graph_is_drawn_by_depth():
    diagram = get_kind("computational_graph").generate({}, 1)["diagram"]
    drawn = diagrams.layout(diagram)
    x = {node["id"]: shown.x for node, shown in zip(diagram["nodes"], drawn.nodes, strict=True)}
    assert all(x[edge["from"]] < x[edge["to"]] for edge in diagram["edges"])


@pytest.mark.parametrize(
    "diagram",
    [
        None,
        {},
        {"nodes": "x", "edges": []},
        {"nodes": [{"id": i, "layer": 0} for i in range(diagrams.MAX_NODES + 1)], "edges": []},
        {"nodes": [{"id": "a"}, {"id": "b"}], "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]},
    ],
    ids=["none", "empty", "not a list", "too many", "a cycle"],
)
def test_what_cannot_be_drawn_is_not(diagram):
    assert diagrams.layout(diagram) is None


def test_labels_become_plain_text():
    assert diagrams.plain("a_{3}") == "a₃" and diagrams.plain("a_{1} = x_{1}") == "a₁ = x₁"
    assert diagrams.plain("w_{1,3}") == "w₁,₃" and diagrams.number(-0.5) == "−0.5"


def test_matrix_notation_labels_have_no_caret():
    """QA: matrix-notation diagrams showed "a^1₁" and "mathrmReLU(z^2)" in the SVG."""
    assert diagrams.plain("a^{1}_{1}") == "a¹₁" and diagrams.plain("a^{12}_{3}") == "a¹²₃"
    assert diagrams.plain("\\mathrm{ReLU}(z^2)") == "ReLU(z²)"
    instance = get_kind("dead_relu").generate({"notation": "matrix"}, 0)
    texts = [diagrams.plain(node["label"]) for node in instance["diagram"]["nodes"]]
    assert texts and not any("^" in t or "mathrm" in t for t in texts), texts


@pytest.mark.django_db
def test_the_question_page_draws_the_students_own_network(make_question, student):
    question = make_question("forward_mlp")
    client = Client()
    client.force_login(student)
    page = client.get(f"/questions/{question.pk}/").content.decode()
    diagram = services.current_variant(question, student).instance["diagram"]
    svg = page.split('<figure class="diagram">')[1].split("</figure>")[0]
    assert svg.count("<circle") == len(diagram["nodes"]) and svg.count("<path") == len(diagram["edges"])
    weights = re.findall(r'<text class="weight"[^>]*>([^<]+)</text>', svg)
    assert weights == [diagrams.number(e["weight"]) for e in diagram["edges"]]


def test_an_edge_that_skips_a_column_arcs_over_it_instead_of_through_a_unit():
    """The bias edge to the output ran straight through a hidden unit's circle, its weight label
    on another edge (review)."""
    diagram = get_kind("forward_mlp").generate({}, 1)["diagram"]
    drawn = diagrams.layout(diagram)
    layer = {node["id"]: node["layer"] for node in diagram["nodes"]}
    for edge, shown in zip(diagram["edges"], drawn.edges, strict=True):
        assert (" Q " in shown.path) == (layer[edge["to"]] - layer[edge["from"]] > 1)
    top = min(node.y for node in drawn.nodes)
    arcs = [shown for shown in drawn.edges if " Q " in shown.path]
    assert arcs and all(float(shown.path.split()[5]) < top for shown in arcs)  # control points above the units
