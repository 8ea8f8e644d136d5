// The console's dashboard refreshes itself every 15 s, unless the viewer turns that off
// (WCAG 2.2.1: a time limit the user can turn off; a <meta> refresh could not be).
"use strict";
(() => {
  const box = document.getElementById("auto-refresh");
  if (!box) return;
  const KEY = "gw-dashboard-refresh";
  const SECONDS = Number(box.dataset.seconds || "15");
  let timer = null;
  try { box.checked = localStorage.getItem(KEY) !== "off"; } catch (_) { /* storage blocked */ }
  const arm = () => {
    clearTimeout(timer);
    if (box.checked) timer = setTimeout(() => window.location.reload(), SECONDS * 1000);
  };
  box.addEventListener("change", () => {
    try { localStorage.setItem(KEY, box.checked ? "on" : "off"); } catch (_) { /* storage blocked */ }
    arm();
  });
  arm();
})();
