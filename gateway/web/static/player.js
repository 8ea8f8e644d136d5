// The player page: follows /api/status through the day and never shows a raw player error.
// hls.js is used where the browser has Media Source Extensions and the gateway ships it;
// otherwise the browser's own HLS (Safari, iOS, recent Chromium) plays the stream.
//
// Like a broadcast: when nothing plays, a slate stands where the picture would be (the
// event's title, the state in words, the countdown); while live, a LIVE badge, and "Back to
// live" after a pause or a seek back. Switching language changes the words in place: the
// video keeps playing where it was, with its sound.
"use strict";
(() => {
  const root = document.getElementById("player");
  const video = document.getElementById("video");
  const stateEl = document.getElementById("state");
  const slate = document.getElementById("slate");
  const slateState = document.getElementById("slate-state");
  const countdownEl = document.getElementById("countdown");
  const badge = document.getElementById("live-badge");
  const soundBtn = document.getElementById("sound");
  const playBtn = document.getElementById("play");
  const liveBtn = document.getElementById("live-edge");
  const captionsBtn = document.getElementById("captions");
  const fullscreenBtn = document.getElementById("fullscreen");
  const volumeControl = document.getElementById("volume-control");
  const volume = document.getElementById("volume");
  const chaptersEl = document.getElementById("chapters");
  const chapterButtons = document.getElementById("chapter-buttons");
  const chapterTime = document.getElementById("chapter-time");
  const read = (id) => JSON.parse(document.getElementById(id).textContent);
  let day = read("schedule-data");
  let msg = read("messages");
  const POLL_MS = 5000;

  const lang = () => document.documentElement.lang || "en";
  const t = (key, params = {}) =>
    (msg[key] || "").replace(/\{(\w+)\}/g, (_, name) => (name in params ? params[name] : ""));

  const sameDay = (a, b, zone) =>
    a.toLocaleDateString("en-CA", { timeZone: zone }) === b.toLocaleDateString("en-CA", { timeZone: zone });

  // "17:10 Helsinki time (EET, UTC+2)", as the server words it, the date added when it is
  // not today; "(16:10 CET, your time)" after it when the viewer's zone differs.
  function when(iso) {
    const date = new Date(iso);
    const now = new Date();
    const known = [...day.parts.map((p) => [p.start, p]), [day.recording_from, day.recording_from_words]]
      .find(([at]) => new Date(at).getTime() === date.getTime());
    const opts = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
    const there = known
      ? known[1][sameDay(date, now, day.timezone) ? "when_today" : "when"]
      : date.toLocaleString(lang(), { ...opts, timeZone: day.timezone });
    const offset = (zone) => date.toLocaleString("en-US", { timeZone: zone, timeZoneName: "longOffset" }).split(" ").pop();
    if (offset(day.timezone) === offset(undefined)) return there;
    return `${there} (${date.toLocaleTimeString(lang(), opts)}, ${t("your_time")})`;
  }

  let hls = null;
  let source = null;
  let problem = null; // a sentence about an error, shown until the next good status
  let ending = null; // timer letting an ended part's playlist play out its ENDLIST
  let lastStatus = null;
  let pollTimer = null;
  let captionsWanted = true; // captions are on by default for the recording; the viewer decides

  // Captions: the recording's subtitles rendition (hls.js, or the browser's own HLS) or the
  // WebVTT file the gateway names (a <track>). One button turns them on and off, named with
  // the track's language; it is offered only while the recording plays.
  function captionTracks() {
    return Array.from(video.textTracks).filter((tr) => tr.kind === "captions" || tr.kind === "subtitles");
  }

  function syncCaptions() {
    const onRecording = source === root.dataset.recording;
    const tracks = onRecording ? captionTracks() : [];
    if (!tracks.length) { captionsBtn.hidden = true; return; }
    const chosen = tracks.find((tr) => tr.mode === "showing") || tracks[0];
    // The track's language named in the page's language ("Tekstitys (englanti)").
    const code = (chosen.language || "").toLowerCase().slice(0, 2);
    const label = t(`player_language_${code}`) || chosen.label || chosen.language || "";
    const text = t("player_captions", { language: label }).replace(" ()", "");
    if (captionsBtn.textContent !== text) captionsBtn.textContent = text;
    captionsBtn.setAttribute("aria-pressed", String(tracks.some((tr) => tr.mode === "showing")));
    captionsBtn.hidden = false;
  }

  function showCaptions(on) {
    const tracks = captionTracks();
    if (hls && hls.subtitleTracks && hls.subtitleTracks.length) {
      hls.subtitleDisplay = on;
      if (on && hls.subtitleTrack < 0) hls.subtitleTrack = 0;
    }
    if (tracks.length) {
      const chosen = tracks.find((tr) => tr.mode === "showing") || tracks[0];
      for (const tr of tracks) tr.mode = on && tr === chosen ? "showing" : (tr === chosen ? "hidden" : "disabled");
    }
    syncCaptions();
  }

  function addCaptionTrack() {
    if (!root.dataset.captions || video.querySelector("track")) return;
    const track = document.createElement("track");
    track.kind = "captions";
    track.src = root.dataset.captions;
    track.srclang = root.dataset.captionsLang || "en";
    track.label = root.dataset.captionsLabel || "English";
    track.default = captionsWanted;
    video.appendChild(track);
  }

  function say(text) {
    if (stateEl.textContent !== text) stateEl.textContent = text;
    if (slateState.textContent !== text) slateState.textContent = text;
  }

  // The slate while nothing plays; the status line below the picture while something does.
  function showSlate(on) {
    slate.hidden = !on;
    stateEl.classList.toggle("sr-only", on);
    for (const control of [soundBtn, volumeControl, fullscreenBtn]) control.hidden = on;
    if (!canVolume) volumeControl.hidden = true;
    if (!canFullscreen) fullscreenBtn.hidden = true;
    syncLive();
  }

  // Live: the badge, and "Back to live" when the viewer is behind the live edge.
  function liveEdge() {
    if (hls) return hls.liveSyncPosition ?? null;
    const range = video.seekable;
    return range.length ? range.end(range.length - 1) : null;
  }

  function behindLive() {
    if (video.paused) return true;
    const edge = liveEdge();
    if (edge === null) return false;
    const details = hls && hls.levels && hls.levels[Math.max(0, hls.currentLevel)]?.details;
    // hls.js's sync point moves a segment at a time; the browser's own HLS gives the very
    // end of the playlist, about three segments ahead of where it plays.
    const slack = details ? 2 * details.targetduration + 1 : 30;
    return edge - video.currentTime > slack;
  }

  function syncLive() {
    // An ended part playing out its last seconds is no longer live: no badge, nothing to
    // go back to (the status line already says the part is over).
    const live = source === root.dataset.live && !ending;
    const behind = live && behindLive();
    badge.hidden = !live;
    badge.classList.toggle("behind", behind);
    liveBtn.hidden = !behind;
  }

  function backToLive() {
    const edge = liveEdge();
    if (edge !== null && Number.isFinite(edge)) video.currentTime = edge;
    start();
  }

  // Chapters: the recording's parts, from its chapters.vtt (the archive writes one), each a
  // button; and where the viewer is within the part.
  let chapters = []; // { start, end, title } in seconds of the recording

  const secondsOf = (text) => text.split(":").reduce((total, part) => total * 60 + Number(part), 0);
  const clock = (value) => {
    const whole = Math.max(0, Math.floor(value));
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(whole % 60)}` : `${m}:${pad(whole % 60)}`;
  };

  function parseChapters(text) {
    const found = [];
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length - 1; i++) {
      const cue = /^(\S+)\s+-->\s+(\S+)/.exec(lines[i]);
      if (cue && lines[i + 1].trim()) {
        found.push({ start: secondsOf(cue[1]), end: secondsOf(cue[2]), title: lines[i + 1].split(": ")[0] });
      }
    }
    return found.filter((c) => Number.isFinite(c.start) && Number.isFinite(c.end));
  }

  async function loadChapters() {
    if (chapters.length || !root.dataset.chapters) return;
    try {
      const answer = await fetch(root.dataset.chapters, { credentials: "same-origin", cache: "no-store" });
      if (!answer.ok) return;
      chapters = parseChapters(await answer.text());
    } catch (_) {
      return; // no chapters: the recording plays without them
    }
    chapterButtons.replaceChildren(...chapters.map((chapter) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = chapter.title;
      button.addEventListener("click", () => { video.currentTime = chapter.start + 0.05; start(); });
      return button;
    }));
    syncChapters();
  }

  function syncChapters() {
    const on = source === root.dataset.recording && chapters.length > 1;
    chaptersEl.hidden = !on;
    if (!on) return;
    const at = video.currentTime;
    const index = chapters.findIndex((c) => at >= c.start && at < c.end);
    Array.from(chapterButtons.children).forEach((b, i) => b.setAttribute("aria-current", String(i === index)));
    const chapter = chapters[index];
    const text = chapter ? t("player_chapter_time", { part: chapter.title, time: clock(at - chapter.start) }) : "";
    if (chapterTime.textContent !== text) chapterTime.textContent = text;
  }

  function attach(src) {
    if (ending) { clearTimeout(ending); ending = null; }
    if (source === src) return;
    detach();
    source = src;
    const recording = src === root.dataset.recording;
    if (recording) { addCaptionTrack(); loadChapters(); }
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({
        liveDurationInfinity: true, manifestLoadingMaxRetry: 2, levelLoadingMaxRetry: 2, fragLoadingMaxRetry: 2,
        subtitleDisplay: recording && captionsWanted,
      });
      hls.on(window.Hls.Events.ERROR, (_, data) => { if (data.fatal) diagnose(); });
      hls.on(window.Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, data) => {
        // On by default for the recording, whatever the rendition's DEFAULT says.
        if (recording && captionsWanted && data.subtitleTracks.length && hls.subtitleTrack < 0) hls.subtitleTrack = 0;
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    } else {
      video.src = src;
    }
    video.controls = true;
    showSlate(false);
    start();
  }

  function detach() {
    if (!source && !hls) return;
    if (hls) { hls.destroy(); hls = null; }
    source = null;
    video.pause();
    video.removeAttribute("src");
    for (const track of video.querySelectorAll("track")) track.remove();
    for (const tr of captionTracks()) tr.mode = "disabled";
    video.controls = false;
    video.load();
    playBtn.hidden = true;
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    showSlate(true);
    syncCaptions();
    syncChapters();
  }

  function start() {
    const playing = video.play();
    if (playing) playing.catch(() => { /* autoplay refused: the Play button is there */ });
    playBtn.hidden = false;
  }

  function syncPlay() {
    const text = video.paused ? t("play") : t("player_pause");
    if (playBtn.textContent !== text) playBtn.textContent = text;
    syncLive();
  }

  function syncSound() {
    soundBtn.textContent = video.muted ? t("sound_on") : t("sound_off");
    soundBtn.setAttribute("aria-pressed", String(!video.muted));
    volume.value = String(video.muted ? 0 : video.volume);
  }

  // A player error says nothing useful to a viewer: ask the gateway what happened instead.
  async function diagnose() {
    const src = source;
    if (!src) return;
    let status = 0;
    let code = "";
    try {
      const answer = await fetch(src, { credentials: "same-origin", cache: "no-store" });
      status = answer.status;
      if (!answer.ok) code = (await answer.json().catch(() => ({}))).error || "";
    } catch (_) {
      status = 0;
    }
    if (status === 200) { detach(); attach(src); return; }
    detach();
    if (status === 401) problem = t("player_session_ended");
    else if (code === "revoked") problem = t("player_revoked");
    else if (status === 410) problem = t("player_recording_expired");
    else if (status === 503 || status === 0) problem = t("player_store_down");
    else if (status === 502 || status === 504) problem = t("player_origin_down");
    else problem = null; // 403 outside a window: the status poll explains it
    if (problem) say(problem);
    if (status !== 401 && code !== "revoked" && status !== 410) setTimeout(() => { problem = null; poll(); }, POLL_MS);
  }

  function nextStreamed(now) {
    return day.parts.find((p) => p.streamed && new Date(p.start) > now) || null;
  }

  function countdownTo(iso) {
    if (!iso) { countdownEl.hidden = true; return; }
    const left = Math.max(0, Math.round((new Date(iso) - Date.now()) / 1000));
    const h = Math.floor(left / 3600);
    const m = Math.floor((left % 3600) / 60);
    const s = left % 60;
    const pad = (n) => String(n).padStart(2, "0");
    countdownEl.textContent = t("starts_in", { time: h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}` });
    countdownEl.hidden = false;
  }

  function render(status) {
    lastStatus = status;
    const now = new Date();
    const upcoming = nextStreamed(now);
    const next = upcoming ? t("next_starts", { next: upcoming.name, when: when(upcoming.start) }) : "";
    const wasLive = source === root.dataset.live;
    switch (status.phase) {
      case "live":
        attach(root.dataset.live);
        // The encoder stopped sending: say so, the player waits and resumes by itself.
        say(status.origin && status.origin !== "ok"
          ? `${t("now_live", { part: status.part })} ${t("player_origin_paused")}`
          : t("now_live", { part: status.part }));
        break;
      case "recording":
        attach(root.dataset.recording);
        say(t("now_recording"));
        break;
      default: {
        // Let an ended part play out to its ENDLIST, then stop.
        if (wasLive && !ending && status.phase !== "stopped") {
          ending = setTimeout(() => { ending = null; detach(); }, 90000);
          syncLive();
        } else if (!ending) {
          detach();
        }
        const words = {
          // One sentence, announced as one: "Part II is not streamed; Part III starts at …"
          blocked: upcoming
            ? t("now_blocked_next", { part: status.part, next: upcoming.name, when: when(upcoming.start) })
            : t("now_blocked", { part: status.part }),
          before: `${t("now_before")} ${next}`,
          between: upcoming ? `${t("now_between")} ${next}` : t("now_recording_soon", { when: when(day.recording_from) }),
          stopped: t("now_stopped"),
          closed: t("now_closed"),
        };
        say((words[status.phase] || "").trim());
      }
    }
    const countdown = ["before", "between", "blocked"].includes(status.phase);
    countdownTo(countdown ? (upcoming ? upcoming.start : status.next_change) : null);
    if (problem) say(problem);
  }

  async function poll() {
    clearTimeout(pollTimer);
    try {
      const answer = await fetch(root.dataset.status, { cache: "no-store" });
      if (answer.ok) {
        const status = await answer.json();
        if (!problem) render(status);
        // Be on time for the next change, however long the regular interval.
        const wait = status.next_change ? new Date(status.next_change) - Date.now() + 300 : POLL_MS;
        pollTimer = setTimeout(poll, Math.max(500, Math.min(POLL_MS, wait)));
        return;
      }
    } catch (_) { /* offline for a moment: try again */ }
    pollTimer = setTimeout(poll, POLL_MS);
  }

  // Another language: the page's words are fetched and put in place around the player,
  // which plays on (a reload would restart the recording and mute it). The language cookie
  // is set by that answer, as by following the link.
  async function switchLanguage(link) {
    const answer = await fetch(link.href, { credentials: "same-origin", cache: "no-store" });
    if (!answer.ok) throw new Error(String(answer.status));
    const page = new DOMParser().parseFromString(await answer.text(), "text/html");
    const main = document.getElementById("main");
    const fresh = page.getElementById("main");
    const player = fresh && fresh.querySelector("#player");
    if (!player || !page.getElementById("messages")) throw new Error("not the player page");
    msg = JSON.parse(page.getElementById("messages").textContent);
    day = JSON.parse(page.getElementById("schedule-data").textContent);
    document.documentElement.lang = page.documentElement.lang;
    document.title = page.title;
    for (const selector of ["header", "footer", "a.skip"]) {
      const now = document.querySelector(selector);
      const then = page.querySelector(selector);
      if (now && then) now.replaceWith(document.importNode(then, true));
    }
    for (const child of Array.from(main.children)) if (child !== root) child.remove();
    let before = true;
    for (const child of Array.from(fresh.children)) {
      if (child.id === "player") { before = false; continue; }
      const node = document.importNode(child, true);
      if (before) main.insertBefore(node, root); else main.appendChild(node);
    }
    for (const id of ["slate-title", "live-badge", "volume-label", "live-edge", "chapters-label"]) {
      document.getElementById(id).textContent = player.querySelector(`#${id}`).textContent;
    }
    video.setAttribute("aria-label", player.querySelector("video").getAttribute("aria-label"));
    history.replaceState(null, "", link.href);
    syncPlay();
    syncSound();
    syncCaptions();
    syncFullscreen();
    syncChapters();
    if (lastStatus && !problem) render(lastStatus);
    document.dispatchEvent(new Event("gateway:words")); // times.js: the "your time" column
    const same = document.querySelector(`.languages a[hreflang="${link.hreflang}"]`);
    if (same) same.focus();
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest(".languages a[hreflang]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    switchLanguage(link).catch(() => { window.location.href = link.href; });
  });

  // Full screen: the player with its buttons (so they stay at hand: Exit, Back to live,
  // captions), or the video alone on iOS.
  const canFullscreen = Boolean(root.requestFullscreen || video.webkitEnterFullscreen);
  function syncFullscreen() {
    const on = document.fullscreenElement === root;
    fullscreenBtn.textContent = on ? t("player_fullscreen_exit") : t("player_fullscreen");
  }
  fullscreenBtn.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else if (root.requestFullscreen) root.requestFullscreen().catch(() => {});
    else video.webkitEnterFullscreen();
  });
  document.addEventListener("fullscreenchange", syncFullscreen);

  // Volume: where the page may set it (iOS leaves it to the device's buttons).
  const canVolume = (() => {
    const was = video.volume;
    video.volume = 0.5;
    const settable = video.volume === 0.5;
    video.volume = was;
    return settable;
  })();
  volume.addEventListener("input", () => {
    video.volume = Number(volume.value);
    video.muted = video.volume === 0;
  });

  video.addEventListener("ended", () => { if (ending) { clearTimeout(ending); ending = null; detach(); } });
  video.addEventListener("error", () => { if (!hls && source) diagnose(); });
  video.addEventListener("volumechange", syncSound);
  soundBtn.addEventListener("click", () => {
    video.muted = !video.muted;
    if (!video.muted && video.volume === 0) video.volume = 1;
    if (video.paused) start();
  });
  playBtn.addEventListener("click", () => { if (video.paused) start(); else video.pause(); });
  liveBtn.addEventListener("click", backToLive);
  video.addEventListener("play", syncPlay);
  video.addEventListener("pause", syncPlay);
  video.addEventListener("timeupdate", () => { syncLive(); syncChapters(); });
  video.addEventListener("seeked", syncLive);
  captionsBtn.addEventListener("click", () => {
    captionsWanted = captionsBtn.getAttribute("aria-pressed") !== "true";
    showCaptions(captionsWanted);
  });
  video.textTracks.addEventListener("addtrack", (event) => {
    const track = event.track;
    if (source === root.dataset.recording && (track.kind === "captions" || track.kind === "subtitles")) {
      if (!captionsWanted && track.mode === "showing") track.mode = "hidden";
      else if (captionsWanted && !captionTracks().some((tr) => tr.mode === "showing")) track.mode = "showing";
    }
    syncCaptions();
  });
  video.textTracks.addEventListener("change", syncCaptions);
  setInterval(() => {
    if (!countdownEl.hidden && lastStatus) render(lastStatus);
  }, 1000);
  showSlate(true);
  poll();
})();
