// The web UI's small script: MathJax's settings (read when MathJax loads, so this comes first),
// typesetting what htmx swaps in, and a message when a request gets no answer.

window.MathJax = {
  // ui/safe: whatever TeX a page holds cannot make links, styles, classes or ids (MathJax's filter)
  loader: { load: ["ui/safe"] },
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    // no \href, \style, \class, \cssId (the html extension), nor \require to load it: a
    // student's text that reaches a formula (a feedback message quoting them) must stay math
    packages: { "[-]": ["require", "html"] },
    autoload: { html: [] },
  },
  // only elements marked class="tex" hold LaTeX (the body is "no-tex"): a "$" in a student's
  // code or in the feedback stays a dollar sign; formulas are not tab stops (keyboard users
  // reach the inputs directly)
  options: { ignoreHtmlClass: "no-tex", processHtmlClass: "tex", menuOptions: { settings: { inTabOrder: false } } },
  // long lists in one formula are cut into formulas that wrap before the page is typeset
  startup: {
    pageReady: function () {
      document.querySelectorAll(".tex").forEach(wrapFormulaLists);
      return window.MathJax.startup.defaultPageReady();
    },
  },
};

// A list in one inline formula ("$w_{0,3} = 0.1,\; w_{1,3} = -0.2,\; ...$", as a prompt lists a
// network's weights) does not wrap: MathJax 3 breaks no line inside a formula, so at 800 px it
// ran off the screen (QA). Before typesetting, such a formula is cut at its top-level ",\;" (or
// ";\;") into one formula per item, with the comma between them as text, so that the line can
// wrap between the items; it reads the same. Only where that is safe: outside every bracket,
// brace, \left...\right and environment, in a formula without style or definition commands, in
// text with nothing but $...$ formulas. Anything else stays as written (.prompt .tex scrolls).
const FORMULA_SEPARATOR = /([,;])\s*\\;/y;  // sticky: read at a position, not searched for
const FORMULA_COMMAND = /\\([A-Za-z]+|.)/y;
const FORMULA_DELIMITER = /\s*(\\[A-Za-z]+|\\.|.)/y;
const FORMULA_STATE = /\\(displaystyle|textstyle|scriptstyle|scriptscriptstyle|color|def|newcommand|renewcommand|let|tiny|small|large|Large|LARGE|huge|Huge|normalsize|rm|bf|it|sf|tt|cal|over|atop|choose)(?![A-Za-z])/;

function readAt(pattern, text, position) {
  pattern.lastIndex = position;
  return pattern.exec(text);
}

// The items of a formula that is a list ("a = 1,\; b = 2" -> "a = 1" then ",", "b = 2"), or null
// when it is none or cannot be cut safely.
function splitFormulaList(tex) {
  if (FORMULA_STATE.test(tex)) return null;
  const items = [];
  const separators = [];
  let depth = 0;
  let start = 0;
  let i = 0;
  while (i < tex.length) {
    const ch = tex[i];
    if (ch === "\\") {
      const command = readAt(FORMULA_COMMAND, tex, i);
      if (!command) return null;  // a backslash before a line break or at the end
      const name = command[1];
      i += command[0].length;
      if (name === "left" || name === "begin" || name === "{") depth += 1;
      else if (name === "right" || name === "end" || name === "}") depth -= 1;
      if (name === "left" || name === "right") {  // its delimiter is no bracket of its own
        const delimiter = readAt(FORMULA_DELIMITER, tex, i);
        if (!delimiter) return null;
        i += delimiter[0].length;
      }
      if (depth < 0) return null;
      continue;
    }
    if ("{([".indexOf(ch) !== -1) depth += 1;
    else if ("})]".indexOf(ch) !== -1) depth -= 1;
    if (depth < 0) return null;
    const separator = depth === 0 && (ch === "," || ch === ";") && readAt(FORMULA_SEPARATOR, tex, i);
    if (separator) {
      items.push(tex.slice(start, i));
      separators.push(separator[1]);
      i += separator[0].length;
      start = i;
      continue;
    }
    i += 1;
  }
  items.push(tex.slice(start));
  if (depth !== 0 || items.length < 2 || items.some(function (item) { return !item.trim(); })) return null;
  return items.map(function (item, k) {
    return { tex: item.trim(), after: k < separators.length ? separators[k] + " " : "" };
  });
}

// The text of a text node with its list formulas cut (see splitFormulaList), or null to leave it.
function wrappedFormulaText(text) {
  if (text.indexOf("$") === -1 || /\$\$|\\\$|\\\(|\\\[/.test(text)) return null;
  if ((text.match(/\$/g) || []).length % 2) return null;
  let changed = false;
  const result = text.replace(/\$([^$]+)\$/g, function (whole, tex) {
    const items = splitFormulaList(tex);
    if (!items) return whole;
    changed = true;
    return items.map(function (item) { return "$" + item.tex + "$" + item.after; }).join("");
  });
  return changed ? result : null;
}

function wrapFormulaLists(root) {
  if (!root || !document.createTreeWalker) return;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  nodes.forEach(function (node) {
    if (node.parentElement && node.parentElement.closest("code, pre, textarea, script, style, mjx-container")) return;
    const text = wrappedFormulaText(node.data);
    if (text !== null) node.data = text;
  });
}

// What htmx swaps in is typeset like the page: only its class="tex" elements. Typesetting the
// fragment itself treated everything in it as TeX, a student's exception message included: a
// code submission raising "$\href{javascript:...}{...}$" planted a link in the page of the
// instructor who watched it being graded (review).
document.addEventListener("htmx:load", function (event) {
  if (!(window.MathJax && window.MathJax.typesetPromise)) return;
  const root = event.detail.elt;
  if (!root.querySelectorAll) return;
  const marked = Array.from(root.querySelectorAll(".tex"));
  if (root.classList.contains("tex")) marked.push(root);
  marked.forEach(wrapFormulaLists);
  if (marked.length) window.MathJax.typesetPromise(marked);
});

// No answer (network down) or a server error: say so where the result would go. The answers stay
// in the form, and sending the same form again is not stored twice (its idempotency key).
function showNoAnswer(event) {
  const box = document.getElementById("submit-result");
  if (!box) return;
  const config = event.detail && event.detail.requestConfig;
  if (config && config.verb === "get") {  // a poll of a stored submission: keep asking, say why it waits
    let note = document.getElementById("poll-note");
    if (!note) {
      note = document.createElement("p");
      note.id = "poll-note";
      note.setAttribute("role", "status");
      box.appendChild(note);
    }
    note.textContent = "The service did not answer just now. Your submission is stored; this page keeps asking.";
    return;
  }
  const reason = event.type === "htmx:sendError" ? "the service could not be reached" : "the service answered with an error";
  box.className = "result refused";
  box.removeAttribute("hx-trigger");
  box.innerHTML = "";
  const message = document.createElement("p");
  message.setAttribute("role", "alert");
  message.textContent = "Not confirmed: " + reason + ". Your answers are still in the form: submit again " +
    "(the same answers are never stored twice).";
  box.appendChild(message);
}
document.addEventListener("htmx:sendError", showNoAnswer);
document.addEventListener("htmx:responseError", showNoAnswer);

// The CSRF token of every htmx request is read from the cookie when it is sent, not the one the
// page was rendered with: after signing out and in again in another tab (which changes it), the
// next submit of a page still open works instead of failing with a 403 (review).
document.addEventListener("htmx:configRequest", function (event) {
  const found = document.cookie.split("; ").find(function (part) { return part.startsWith("csrftoken="); });
  if (!found) return;
  const token = decodeURIComponent(found.slice("csrftoken=".length));
  event.detail.headers["X-CSRFToken"] = token;
  // Django reads a form's own csrfmiddlewaretoken before the header: the page's may be stale
  if (event.detail.verb !== "get") event.detail.parameters["csrfmiddlewaretoken"] = token;
});

// A draft of the answers typed, kept in this browser (localStorage) per student, question and
// variant: a reload, a crash or a closed tab at 23:58 does not lose them. Restored only into
// inputs still as the page served them; removed from the browser when the student signs out.
const DRAFT_PREFIX = "ag-draft:";

function draftFields(form) {
  return Array.from(form.elements).filter(function (el) {
    return el.name && (el.name.startsWith("answer.") || el.name.startsWith("choices.")) && el.type !== "hidden";
  });
}

function saveDraft(form) {
  const draft = {};
  draftFields(form).forEach(function (el) {
    if (el.type === "checkbox" || el.type === "radio") {
      draft[el.name] = draft[el.name] || [];
      if (el.checked) draft[el.name].push(el.value);
    } else {
      draft[el.name] = el.value;
    }
  });
  try { localStorage.setItem(form.dataset.draftKey, JSON.stringify(draft)); } catch (e) { /* full or disabled */ }
}

function restoreDraft(form) {
  let draft = null;
  try { draft = JSON.parse(localStorage.getItem(form.dataset.draftKey) || "null"); } catch (e) { return; }
  if (!draft) return;
  const groups = {};
  draftFields(form).forEach(function (el) {
    if (el.type === "checkbox" || el.type === "radio") {
      (groups[el.name] = groups[el.name] || []).push(el);
    } else if (el.value === el.defaultValue && typeof draft[el.name] === "string") {
      el.value = draft[el.name];
    }
  });
  Object.keys(groups).forEach(function (name) {
    const boxes = groups[name];
    if (boxes.some(function (el) { return el.checked; }) || !Array.isArray(draft[name])) return;
    boxes.forEach(function (el) { el.checked = draft[name].indexOf(el.value) !== -1; });
  });
}

// In a code box, Tab indents (4 spaces; the selected lines when several) and Shift+Tab unindents,
// as in an editor: it moved the focus out of the box (QA). Escape, then Tab, still leaves it, so a
// keyboard is never trapped (the box's hint says so).
const INDENT = "    ";

function replaceSelection(box, start, end, text) {
  box.setSelectionRange(start, end);
  // insertText keeps the browser's undo history; setRangeText where it is not supported
  if (!document.execCommand || !document.execCommand("insertText", false, text)) {
    box.setRangeText(text, start, end, "end");
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }
}

function indentCode(box, outdent) {
  const value = box.value;
  const start = box.selectionStart;
  const end = box.selectionEnd;
  if (!outdent && value.slice(start, end).indexOf("\n") === -1) {
    replaceSelection(box, start, end, INDENT);
    return;
  }
  const first = value.lastIndexOf("\n", start - 1) + 1;  // the selected lines, whole
  const lines = value.slice(first, end).split("\n");
  const changed = lines.map(function (line) {
    if (!outdent) return INDENT + line;
    const spaces = line.match(/^ {0,4}/)[0].length;
    return line.slice(spaces);
  }).join("\n");
  replaceSelection(box, first, end, changed);
  box.setSelectionRange(first, first + changed.length);
}

document.addEventListener("keydown", function (event) {
  const box = event.target;
  if (!(box instanceof HTMLTextAreaElement) || !box.classList.contains("code")) return;
  if (event.key === "Escape") {
    box.dataset.tabLeaves = "1";
    return;
  }
  if (event.key !== "Tab" || event.ctrlKey || event.altKey || event.metaKey) {
    delete box.dataset.tabLeaves;
    return;
  }
  if (box.dataset.tabLeaves) {  // Escape was pressed: Tab moves on as everywhere else
    delete box.dataset.tabLeaves;
    return;
  }
  event.preventDefault();
  indentCode(box, event.shiftKey);
});

document.addEventListener("DOMContentLoaded", function () {
  const form = document.querySelector("form[data-draft-key]");
  if (form) {
    restoreDraft(form);
    form.addEventListener("input", function () { saveDraft(form); });
    form.addEventListener("change", function () { saveDraft(form); });
  }
  document.querySelectorAll("form[action$='/sign-out/']").forEach(function (signOut) {
    signOut.addEventListener("submit", function () {
      try {
        Object.keys(localStorage).filter(function (key) { return key.startsWith(DRAFT_PREFIX); })
          .forEach(function (key) { localStorage.removeItem(key); });
      } catch (e) { /* disabled */ }
    });
  });
});
