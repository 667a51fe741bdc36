"""A long list in one inline formula wraps in the web UI (QA: a prompt's weights, one formula
"$w_{0,3} = ...,\\; w_{1,3} = ...$", ran off the screen at 800 px: MathJax 3 breaks no line
inside a formula). exercises/static/exercises/ui.js cuts such a formula at its top-level ",\\;"
into one formula per item before MathJax typesets the page or what htmx swaps in; these tests
run its functions in Node (Debian's nodejs, scripts/install_system_deps.sh; skipped locally
without it, FAILS under CI=true). The real page is checked in a browser by test_browser.py."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

UI_JS = Path(__file__).resolve().parents[2] / "exercises" / "static" / "exercises" / "ui.js"
NODE = shutil.which("node") or shutil.which("nodejs")


@pytest.fixture(autouse=True)
def _node():
    if NODE is None:
        message = "needs Node.js to run ui.js (Debian package nodejs; scripts/install_system_deps.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: these tests must run)", pytrace=False)
        pytest.skip(message)

# ui.js in a sandbox with a stub window and document; the script's own functions are called
# after it, and what they return is printed as JSON.
HARNESS = """
const vm = require("vm");
const fs = require("fs");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const listeners = {};
const texts = (input.nodes || []).map(([data, inCode]) => ({
  data, parentElement: { closest: () => (inCode ? {} : null) },
}));
const root = { texts };
const context = {
  window: {},
  NodeFilter: { SHOW_TEXT: 4 },
  document: {
    addEventListener: (type, f) => { listeners[type] = f; },
    querySelectorAll: (selector) => (selector === ".tex" ? [root] : []),
    createTreeWalker: (element) => {
      let k = -1;
      return { nextNode() { k += 1; this.currentNode = element.texts[k]; return k < element.texts.length; } };
    },
  },
};
vm.createContext(context);
vm.runInContext(fs.readFileSync(input.script, "utf8"), context);
context.cases = input.cases;
const out = vm.runInContext("cases.map(wrappedFormulaText)", context);
context.window.MathJax.startup.defaultPageReady = () => "typeset";
const ready = context.window.MathJax.startup.pageReady();
process.stdout.write(JSON.stringify({ out, ready, nodes: texts.map((t) => t.data) }));
"""


def run_ui_js(cases: list[str], nodes: list[tuple[str, bool]] = ()) -> dict:
    payload = json.dumps({"script": str(UI_JS), "cases": cases, "nodes": list(nodes)})
    done = subprocess.run(
        [NODE, "-e", HARNESS], input=payload, capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(done.stdout)


def wrapped(text: str) -> str | None:
    return run_ui_js([text])["out"][0]


# as nncore.problems.common.describe_network writes a 2-3-1 network's weights (graph notation)
WEIGHTS = "$" + r",\; ".join(
    f"w_{{{i},{j}}} = {v}" for (i, j), v in zip(
        [(0, 3), (1, 3), (2, 3), (0, 4), (1, 4), (2, 4), (0, 5), (1, 5), (2, 5), (0, 6), (3, 6), (4, 6), (5, 6)],
        [0.0123, 0.1234, 0.4567, 0.0234, -0.2345, 0.5678, 0.0345, 0.3456, -0.6789, -0.0456, 0.7891, -0.8912, 0.9123],
        strict=True,
    )
) + "$"


def test_a_prompts_list_of_weights_becomes_one_formula_per_weight():
    result = wrapped(f"The network's weights: {WEIGHTS}.")
    formulas = result.split("$")[1::2]
    assert len(formulas) == 13 and all(r"\;" not in f and f.count("=") == 1 for f in formulas)
    assert result.startswith("The network's weights: $w_{0,3} = 0.0123$, $w_{1,3} = 0.1234$, $w_{2,3}")
    assert result.endswith(", $w_{5,6} = 0.9123$.")  # the commas are text: lines wrap there


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"Given $a = 1,\; b = 2$.", "Given $a = 1$, $b = 2$."),
        (r"$in_1 = 0.5;\; in_2 = 0.3$", "$in_1 = 0.5$; $in_2 = 0.3$"),
        (r"$x_{1,2} = 3,\;y = \frac{1}{2}$ and $z$", r"$x_{1,2} = 3$, $y = \frac{1}{2}$ and $z$"),
        # left as written: nothing to cut, or not safely
        (r"$W^{1} = \begin{bmatrix} 1,\; 2 \end{bmatrix}$", None),  # inside an environment
        (r"$x = (1,\; 2)$", None),  # inside parentheses
        (r"$\left. a,\; b \right|$", None),
        (r"$\{a,\; b\}$", None),
        (r"$\text{a,\; b}$", None),
        (r"$\displaystyle a,\; b$", None),  # a style that applies to every item
        (r"$a,\; b$ and $$c,\; d$$", None),  # display math in the same text
        (r"costs \$5: $a,\; b$", None),  # an escaped dollar
        (r"$a,\; b", None),  # an odd number of dollars: the formula goes on elsewhere
        (r"$a,\; $", None),  # an empty item
        (r"$[0, 1,\; b$", None),  # a bracket that is not closed
        (r"$a),\; b$", None),  # one that is not opened
        (r"$[0, 1),\; b$", r"$[0, 1)$, $b$"),  # a half-open interval closes it
        ("no formula", None),
        ("$a = 1$", None),
    ],
)
def test_only_a_list_at_the_top_level_of_a_formula_is_cut(text, expected):
    assert wrapped(text) == expected


def test_the_page_is_cut_before_mathjax_typesets_it_and_code_is_left_alone():
    result = run_ui_js([], nodes=[(r"$a = 1,\; b = 2$", False), (r"$a = 1,\; b = 2$", True)])
    assert result["ready"] == "typeset"  # MathJax's own pageReady still runs after
    assert result["nodes"] == ["$a = 1$, $b = 2$", r"$a = 1,\; b = 2$"]


def test_what_htmx_swaps_in_is_cut_too():
    script = UI_JS.read_text()
    swapped = script[script.index('addEventListener("htmx:load"') :]
    swapped = swapped[: swapped.index("});")]
    assert swapped.index("marked.forEach(wrapFormulaLists)") < swapped.index("typesetPromise(marked)")
