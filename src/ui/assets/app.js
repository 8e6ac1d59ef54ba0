// Follows runs in progress: every element with data-follow names a JSON endpoint (/api/run) that is polled;
// its data-field children take the new values, and the page reloads once the run has ended.
"use strict";
(function () {
  const followers = document.querySelectorAll("[data-follow]");
  if (followers.length === 0) return;
  async function poll() {
    let ended = false;
    for (const el of followers) {
      try {
        const answer = await fetch(el.dataset.follow, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!answer.ok) continue;
        const run = await answer.json();
        for (const field of el.querySelectorAll("[data-field]")) {
          const value = run[field.dataset.field];
          if (value !== undefined) field.textContent = String(value);
        }
        if (!run.running) ended = true;
      } catch (_) {
        // The server may be restarting: try again on the next tick.
      }
    }
    if (ended) {
      window.location.reload();
    } else {
      window.setTimeout(poll, 2000);
    }
  }
  window.setTimeout(poll, 2000);
})();
