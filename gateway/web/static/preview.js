// The console's live preview: the origin as it is (not the participants' filtered stream),
// trying again every 5 s while there is nothing to show yet.
"use strict";
(() => {
  const video = document.getElementById("preview");
  const state = document.getElementById("preview-state");
  const src = video.dataset.src;
  const RETRY_MS = 5000;
  const waiting = "Nothing to preview yet: the live origin has no playlist. Start the encoder; this page tries again every 5 s.";

  function start() {
    if (window.Hls && window.Hls.isSupported()) {
      const hls = new window.Hls({ liveDurationInfinity: true, manifestLoadingMaxRetry: 1 });
      hls.on(window.Hls.Events.MANIFEST_PARSED, () => { state.textContent = "Playing the live origin (muted: use the player's sound control)."; });
      hls.on(window.Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        hls.destroy();
        state.textContent = waiting;
        setTimeout(start, RETRY_MS);
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    } else {
      video.src = src;
      video.addEventListener("loadedmetadata", () => { state.textContent = "Playing the live origin."; }, { once: true });
      video.addEventListener("error", () => { state.textContent = waiting; setTimeout(() => { video.src = src; }, RETRY_MS); }, { once: true });
    }
    video.play().catch(() => { /* the controls are there */ });
  }
  start();
})();
