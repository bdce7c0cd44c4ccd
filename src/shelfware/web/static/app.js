/* shelfware workspace: the little behaviour pages need; no inline script anywhere (CSP). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";

  // Every htmx request carries the session's CSRF token in a header.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = token;
  });

  // Confirmation before destructive actions (forms or buttons with data-confirm).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var text = (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (text && !window.confirm(text)) {
      event.preventDefault();
    }
  });

  // "Select all" boxes tick every enabled box of their table.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("select-all")) return;
    var table = box.closest("table");
    table.querySelectorAll('tbody input[type="checkbox"]:not(:disabled)').forEach(function (b) {
      b.checked = box.checked;
    });
  });

  // On a phone the navigation folds into a menu: the button opens and closes it (Escape
  // closes it and gives the focus back to the button).
  var toggle = document.querySelector(".menu-toggle");
  var nav = document.getElementById("main-nav");
  if (toggle && nav) {
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      nav.classList.toggle("open", open);
      if (open) {
        var first = nav.querySelector("a");
        if (first) first.focus();
      }
    });
    nav.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && nav.classList.contains("open")) {
        nav.classList.remove("open");
        toggle.setAttribute("aria-expanded", "false");
        toggle.focus();
      }
    });
  }

  // Card lists on a phone: each cell carries its column's heading (CSS shows it before the
  // value), for the tables marked as card lists, rows added by htmx included.
  function label(root) {
    root.querySelectorAll("table.cards").forEach(function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      table.querySelectorAll("tbody tr").forEach(function (row) {
        Array.prototype.forEach.call(row.children, function (cell, i) {
          if (heads[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", heads[i]);
        });
      });
    });
  }
  // A table wider than the screen scrolls sideways in its box: the box takes the focus so
  // that a keyboard can scroll it too, named after its heading.
  function scrollable(root) {
    root.querySelectorAll(".scroll").forEach(function (box) {
      if (box.scrollWidth <= box.clientWidth || box.hasAttribute("tabindex")) return;
      var section = box.closest("section");
      var heading = section && section.querySelector("h2");
      var title = document.querySelector("h1");
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", ((heading || title) ? (heading || title).textContent.trim() : "table") + " (scrolls sideways)");
    });
  }
  label(document);
  scrollable(document);
  window.addEventListener("resize", function () { scrollable(document); });
  document.addEventListener("htmx:afterSettle", function () { label(document); scrollable(document); });
})();
