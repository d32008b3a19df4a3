/* jobqueue dashboard: the little JavaScript there is (everything works without it).
   Loaded in <head> without defer so the stored theme applies before the first paint.
   - theme toggle: system -> light -> dark, kept in localStorage;
   - live indicator and reload: follows htmx's SSE events; a "reload" event (the
     server lost track of what this page shows) reads the page again;
   - copy buttons for the CLI equivalents;
   - polite announcements of live changes, at most one every 5 s. */
(function () {
  "use strict";
  var KEY = "jobqueue-dashboard-theme";
  var ORDER = ["system", "light", "dark"];
  var root = document.documentElement;

  function stored() {
    try { return localStorage.getItem(KEY) || "system"; } catch (e) { return "system"; }
  }
  function apply(theme) {
    if (theme === "light" || theme === "dark") { root.dataset.theme = theme; }
    else { delete root.dataset.theme; }
  }
  apply(stored());

  function setupTheme() {
    var button = document.querySelector("[data-theme-toggle]");
    if (!button) { return; }
    var show = function (theme) { button.textContent = "Theme: " + theme; };
    show(stored());
    button.hidden = false;
    button.addEventListener("click", function () {
      var next = ORDER[(ORDER.indexOf(stored()) + 1) % ORDER.length];
      try { localStorage.setItem(KEY, next); } catch (e) { /* private mode: this page only */ }
      apply(next);
      show(next);
    });
  }

  // Listened for at once, not at DOMContentLoaded: the stream may connect first.
  var liveState = null;
  function showLive() {
    var indicator = document.querySelector(".live-indicator");
    if (!indicator || liveState === null) { return; }
    indicator.hidden = false;
    indicator.dataset.state = liveState;
    indicator.textContent = liveState;
  }
  function setLive(state) { liveState = state; showLive(); }
  document.addEventListener("htmx:sse:after:connection", function () { setLive("live"); });
  document.addEventListener("htmx:sse:error", function () { setLive("reconnecting"); });
  document.addEventListener("htmx:sse:close", function () { setLive("off"); });
  document.addEventListener("reload", function () { window.location.reload(); });

  function setupAnnouncer() {
    var region = document.getElementById("live-announcer");
    var last = 0;
    var pending = 0;
    var timer = null;
    if (!region) { return; }
    var flush = function () {
      timer = null;
      last = Date.now();
      region.textContent = pending + (pending === 1 ? " job changed" : " jobs changed");
      pending = 0;
    };
    document.addEventListener("htmx:sse:after:message", function () {
      pending += 1;
      if (timer === null) { timer = setTimeout(flush, Math.max(0, 5000 - (Date.now() - last))); }
    });
  }

  function setupCopy() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(button.dataset.copy).then(function () {
          button.textContent = "Copied";
        }, function () { button.textContent = "Copy failed"; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupTheme();
    showLive();
    setupAnnouncer();
    setupCopy();
  });
})();
