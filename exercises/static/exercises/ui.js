// The web UI's small script: MathJax's settings (read when MathJax loads, so this comes first),
// typesetting what htmx swaps in, and a message when a request gets no answer.

window.MathJax = {
  tex: { inlineMath: [["$", "$"], ["\\(", "\\)"]], displayMath: [["$$", "$$"], ["\\[", "\\]"]] },
  // only elements marked class="tex" hold LaTeX (the body is "no-tex"): a "$" in a student's
  // code or in the feedback stays a dollar sign
  options: { ignoreHtmlClass: "no-tex", processHtmlClass: "tex" },
};

document.addEventListener("htmx:load", function (event) {
  if (window.MathJax && window.MathJax.typesetPromise) {
    window.MathJax.typesetPromise([event.detail.elt]);
  }
});

// No answer (network down) or a server error: say so where the result would go. The answers stay
// in the form, and sending the same form again is not stored twice (its idempotency key).
function showNoAnswer(event) {
  const box = document.getElementById("submit-result");
  if (!box) return;
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
