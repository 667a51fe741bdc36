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
};

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
