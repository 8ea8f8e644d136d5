// The "your time" column: each part's times in the viewer's own zone, shown only when that
// zone's offset differs from the event's (the offset each time carries) on some part.
"use strict";
(() => {
  const offsetOf = (iso) => {
    const found = /([+-])(\d\d):(\d\d)$/.exec(iso);
    return found ? (found[1] === "-" ? -1 : 1) * (60 * Number(found[2]) + Number(found[3])) : 0;
  };
  const differs = (iso) => -new Date(iso).getTimezoneOffset() !== offsetOf(iso);

  function fill() {
    const lang = document.documentElement.lang || "en";
    const clock = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    const cells = Array.from(document.querySelectorAll("[data-local-start]"));
    const shown = cells.some((cell) => differs(cell.dataset.localStart) || differs(cell.dataset.localEnd));
    for (const element of document.querySelectorAll(".your-time")) element.hidden = !shown;
    if (!shown) return;
    for (const cell of cells) {
      const start = new Date(cell.dataset.localStart);
      const end = new Date(cell.dataset.localEnd);
      const day = start.toLocaleDateString(lang, { day: "numeric", month: "short" });
      const zone = start.toLocaleTimeString(lang, { timeZoneName: "short" }).split(" ").pop();
      cell.textContent = `${day} ${start.toLocaleTimeString(lang, clock)}–${end.toLocaleTimeString(lang, clock)} ${zone}`;
    }
  }

  document.addEventListener("DOMContentLoaded", fill);
  document.addEventListener("gateway:words", fill); // the player page changed language in place
})();
