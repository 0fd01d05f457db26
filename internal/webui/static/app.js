// shipgate web UI: progressive enhancement only. Every page reads fully
// without this script. With it, an element with data-live="URL" follows a
// Server-Sent Events stream: each "replace" event carries {id, html} and
// replaces the element with that id; each "append" event appends html to
// it (logs). Nothing here runs inline, so the Content-Security-Policy
// forbids inline scripts.
(function () {
  "use strict";
  function apply(kind, ev) {
    var msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    var el = document.getElementById(msg.id);
    if (!el) return;
    if (kind === "replace") {
      var tpl = document.createElement("template");
      tpl.innerHTML = msg.html;
      var fresh = tpl.content.firstElementChild;
      if (!fresh) return;
      // Keep what the reader is typing into a form inside the element.
      var typed = el.querySelectorAll("textarea, input[type=text]");
      if (typed.length) {
        var keep = {};
        typed.forEach(function (t) { if (t.name) keep[t.name] = t.value; });
        fresh.querySelectorAll("textarea, input[type=text]").forEach(function (t) { if (t.name && keep[t.name]) t.value = keep[t.name]; });
      }
      el.replaceWith(fresh);
    } else if (kind === "append") {
      var atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
      el.insertAdjacentHTML("beforeend", msg.html);
      if (atBottom) el.scrollTop = el.scrollHeight;
    }
  }
  function follow(el) {
    if (!window.EventSource) return;
    var src = new EventSource(el.getAttribute("data-live"));
    var status = document.getElementById("live-status");
    src.addEventListener("replace", function (ev) { apply("replace", ev); });
    src.addEventListener("append", function (ev) { apply("append", ev); });
    src.addEventListener("open", function () { if (status) status.textContent = "Live: updates appear without reloading."; });
    src.addEventListener("error", function () { if (status) status.textContent = "Live updates interrupted; retrying."; });
    src.addEventListener("end", function () {
      src.close();
      // A job's log ending says nothing about the page; the page's own
      // stream ending means nothing more will change.
      if (status && el.tagName !== "PRE") status.textContent = "This release has ended; nothing more will change on this page.";
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(follow);
    // A confirm step for forms that say data-confirm.
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) { if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault(); });
    });
  });
})();
