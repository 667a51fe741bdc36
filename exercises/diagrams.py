"""The network (or computational graph) of a question, laid out for the web UI to draw as an SVG,
as the lecture slides draw it: layers from left to right, one circle per unit, each edge with its
weight. Plain positions and texts from the instance's diagram description (what students may see:
services.student_view keeps it), no drawing library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COLUMN, ROW, RADIUS, MARGIN = 170, 74, 22, 40
MAX_NODES = 60  # a diagram larger than this is not drawn (the weights table stays)
_SUBSCRIPT = str.maketrans("0123456789,", "₀₁₂₃₄₅₆₇₈₉,")
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Node:
    x: float
    y: float
    text: str
    note: str  # the input's value, or the unit's activation
    role: str


@dataclass(frozen=True)
class Edge:
    path: str  # SVG path data: a straight line, or an arc over the columns it skips
    label_x: float
    label_y: float
    text: str


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    nodes: list[Node]
    edges: list[Edge]


def plain(label: str) -> str:
    """LaTeX of a node label as plain text for an SVG: a_{3} -> a₃, w_{1,3} -> w₁,₃,
    a^{1}_{2} -> a¹₂, \\mathrm{ReLU}(z^2) -> ReLU(z²)."""
    text = re.sub(r"\\(?:mathrm|text|operatorname)\{([^{}]*)\}", r"\1", str(label))
    text = re.sub(r"\^\{([0-9]+)\}", lambda m: m.group(1).translate(_SUPERSCRIPT), text)
    text = re.sub(r"\^([0-9])", lambda m: m.group(1).translate(_SUPERSCRIPT), text)
    text = re.sub(r"_\{([0-9,]+)\}", lambda m: m.group(1).translate(_SUBSCRIPT), text)
    text = re.sub(r"_([0-9])", lambda m: m.group(1).translate(_SUBSCRIPT), text)
    return text.replace("\\", "").replace("{", "").replace("}", "").replace("$", "")


def number(value) -> str:
    """A weight or value as written on the slides: 0.5, -1, 2.25."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    return f"{value:.4g}".replace("-", "−")


def layout(diagram) -> Layout | None:
    """Positions for the diagram's nodes and edges, or None when there is nothing to draw (no
    diagram, an unknown shape, or too many nodes)."""
    if not isinstance(diagram, dict):
        return None
    nodes, edges = diagram.get("nodes"), diagram.get("edges")
    if not isinstance(nodes, list) or not isinstance(edges, list) or not 0 < len(nodes) <= MAX_NODES:
        return None
    if not all(isinstance(n, dict) and "id" in n for n in nodes) or not all(isinstance(e, dict) for e in edges):
        return None
    columns = _columns(nodes, edges)
    if columns is None:
        return None
    by_column: dict[int, list[dict]] = {}
    for node in nodes:
        by_column.setdefault(columns[node["id"]], []).append(node)
    tallest = max(len(column) for column in by_column.values())
    skips = max((columns[e["to"]] - columns[e["from"]] for e in edges if e.get("from") in columns and e.get("to") in columns), default=1)
    arc_room = ROW * 0.4 * max(0, skips - 1)  # the arcs over skipped columns rise above the top row
    height = 2 * MARGIN + (tallest - 1) * ROW + 30 + arc_room
    places = {}
    for column, members in by_column.items():
        top = MARGIN + arc_room + (tallest - len(members)) * ROW / 2
        for row, node in enumerate(members):
            places[node["id"]] = (MARGIN + 60 + column * COLUMN, top + row * ROW)
    drawn_nodes = [Node(*places[n["id"]], *_texts(n), str(n.get("role") or n.get("op") or "")) for n in nodes]
    drawn_edges = [
        _edge(places[e["from"]], places[e["to"]], columns[e["to"]] - columns[e["from"]], number(e.get("weight")))
        for e in edges
        if e.get("from") in places and e.get("to") in places
    ]
    width = 2 * MARGIN + 120 + max(columns.values()) * COLUMN
    return Layout(width, height, drawn_nodes, drawn_edges)


def _edge(start: tuple[float, float], end: tuple[float, float], span: int, text: str) -> Edge:
    """An edge to the next column is straight; one that skips columns (a bias to a later layer,
    a graph input used deeper down) arcs above them, so it passes through no unit on the way.
    Its weight sits a third of the way along, as on the slides, so the labels of one target
    differ."""
    (x1, y1), (x2, y2) = start, end
    if span <= 1:
        return Edge(f"M {x1:.1f} {y1:.1f} L {x2:.1f} {y2:.1f}", x1 + (x2 - x1) / 3, y1 + (y2 - y1) / 3 - 4, text)
    cx, cy = (x1 + x2) / 2, min(y1, y2) - ROW * 0.75 * (span - 1)
    t = 1 / 3  # the quadratic Bezier curve's point at t
    lx = (1 - t) ** 2 * x1 + 2 * (1 - t) * t * cx + t**2 * x2
    ly = (1 - t) ** 2 * y1 + 2 * (1 - t) * t * cy + t**2 * y2
    return Edge(f"M {x1:.1f} {y1:.1f} Q {cx:.1f} {cy:.1f} {x2:.1f} {y2:.1f}", lx, ly - 4, text)


def _texts(node: dict) -> tuple[str, str]:
    """(inside the circle, under it): "a₁" and "x₁ = 0.5" for an input labelled a_{1} = x_{1};
    a unit's name and its activation (or a graph node's operation)."""
    name, _, alias = plain(node.get("label", node["id"])).partition(" = ")
    if "value" in node and (node.get("role") == "input" or node.get("op") == "input"):
        return name, f"{alias or name} = {number(node['value'])}"
    return name, str(node.get("activation") or (node.get("op") if node.get("op") not in (None, "input") else ""))


def _columns(nodes: list[dict], edges: list[dict]) -> dict | None:
    """Each node's column: its layer when the diagram gives one, else its depth from the inputs
    (a computational graph); None for a cycle."""
    if all(isinstance(n.get("layer"), int) for n in nodes):
        return {n["id"]: n["layer"] for n in nodes}
    ids = {n["id"] for n in nodes}
    parents: dict = {i: [] for i in ids}
    for edge in edges:
        if edge.get("from") in ids and edge.get("to") in ids:
            parents[edge["to"]].append(edge["from"])
    depth: dict = {}
    for _ in range(len(ids) + 1):  # longest path, relaxed at most n times
        changed = False
        for node in ids:
            value = max((depth.get(p, 0) + 1 for p in parents[node]), default=0)
            if depth.get(node) != value:
                depth[node], changed = value, True
        if not changed:
            return depth
    return None
