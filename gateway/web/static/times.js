// Fills the "your time" column: each part's times in the viewer's own zone.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const lang = document.documentElement.lang || "en";
  const clock = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  for (const cell of document.querySelectorAll("[data-local-start]")) {
    const start = new Date(cell.dataset.localStart);
    const end = new Date(cell.dataset.localEnd);
    const day = start.toLocaleDateString(lang, { day: "numeric", month: "short" });
    const zone = start.toLocaleTimeString(lang, { timeZoneName: "short" }).split(" ").pop();
    cell.textContent = `${day} ${start.toLocaleTimeString(lang, clock)}–${end.toLocaleTimeString(lang, clock)} ${zone}`;
  }
});
