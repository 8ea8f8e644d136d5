// Console pages with an "auto-refresh" box (the dashboard, the mail progress) reload
// themselves every few seconds, unless the viewer turns that off, per page
// (WCAG 2.2.1: a time limit the user can turn off; a <meta> refresh could not be).
"use strict";
(() => {
  const box = document.getElementById("auto-refresh");
  if (!box) return;
  const KEY = `gw-refresh${window.location.pathname}`;
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

// "Copy" beside a read-only field (the registrant's link): shown only where the
// clipboard can be written; says what happened in a status region.
(() => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    const said = document.getElementById("copied");
    if (!field || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(field.value);
        if (said) said.textContent = "Copied.";
      } catch (_) {
        field.select();
        if (said) said.textContent = "Select the link and copy it (Ctrl+C).";
      }
    });
  }
})();
