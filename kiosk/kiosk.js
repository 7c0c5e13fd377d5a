// The large-font kiosk: one page, screens drawn here, every word from the assistant set with textContent.
// Nothing personal is stored in localStorage/sessionStorage; "结束" and the idle reset forget it all.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  // Seconds without a touch before the kiosk asks "您还在吗？"; a URL parameter so tests need not wait minutes.
  const IDLE_SECONDS = Number(params.get("idle")) > 0 ? Number(params.get("idle")) : 120;
  const GRACE_SECONDS = 30;               // the question waits this long for a tap: never less than 30 s
  const STAFF_IDLE_SECONDS = Number(params.get("staff_idle")) > 0 ? Number(params.get("staff_idle")) : 300;
  const WORDS_WITH_SKIP = /^(feedback_comment)$/;   // "哪里让您不满意？" with a 不用了 button
  const NUMERIC_SLOTS = /^(id_number|phone|appointment_phone|.*_number|.*_phone|.*amount|.*_count|age)$/;
  const SERVICES = [
    ["social_security_card", "社保卡", "M6 12h36v26H6zM10 18h12v8H10zM26 18h12v3H26zM26 24h10v3H26z"],
    ["senior_card", "老年证", "M10 6h28v36H10zM24 12a6 6 0 1 1 0 12a6 6 0 0 1 0-12zM15 30h18v4H15z"],
    ["senior_allowance", "高龄津贴", "M24 4a20 20 0 1 1 0 40a20 20 0 0 1 0-40zM22 12v4h-6v4h16v-4h-6v-4zM16 24v4h16v-4zM22 28v10h4V28z"],
    ["pension_qualification", "养老金认证", "M24 4l18 8v10c0 11-8 19-18 22C14 41 6 33 6 22V12zM20 30l-7-7 3-3 4 4 12-12 3 3z"],
    ["medical_reimbursement", "医保报销", "M18 6h12v12h12v12H30v12H18V30H6V18h12z"],
    ["residence_permit", "居住证", "M24 4L4 22h6v20h10V30h8v12h10V22h6z"],
  ];

  const screen = document.getElementById("screen");
  const $ = (id) => document.getElementById(id);
  const state = { id: newId(), service: null, lastReply: null, voice: false, listen: false, reading: true, volume: 3,
    staff: null, cursor: null, token: null,  // token: the conversation's proof, kept in memory until "结束"
    handwriting: false };
  let idleTimer = 0, graceTimer = 0, staffTimer = 0, pollTimer = 0, audio = null;

  function randomHex(length) {
    return Array.from(crypto.getRandomValues(new Uint8Array(length)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function newId() { return "kiosk-" + randomHex(8); }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "onclick") node.addEventListener("click", v);
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function button(label, onTap, cls) {
    return el("button", { type: "button", class: "btn " + (cls || ""), onclick: onTap, text: label });
  }

  function icon(path) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 48 48");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", path);
    p.setAttribute("fill-rule", "evenodd");   // inner shapes are cut out, so a card shows its photo and lines
    svg.append(p);
    return svg;
  }

  // Personal numbers on screen, masked as bot.privacy masks them (the widget's mask is the same function): an
  // ID number keeps its first three and last four characters, a mobile number (with or without 86 or 0086
  // before it, spaced or not) its first three and last four digits, a bank card its last four.
  function mask(text) {
    return String(text).replace(/(?<![0-9Xx])[0-9](?:[ -]?[0-9]){10,18}(?:[ -]?[Xx])?(?![0-9Xx])/g, (run) => {
      const digits = run.replace(/[ -]/g, "").toUpperCase();
      const stars = (n) => "*".repeat(n);
      if (/^[0-9]{17}[0-9X]$/.test(digits)) return digits.slice(0, 3) + stars(11) + digits.slice(-4);
      if (digits.includes("X")) return run;
      const mobile = /^(86|0086)?(1[3-9][0-9]{9})$/.exec(digits);
      if (mobile) return (mobile[1] || "") + mobile[2].slice(0, 3) + stars(4) + mobile[2].slice(-4);
      if (digits.length >= 15) return stars(digits.length - 4) + digits.slice(-4);
      return run;
    });
  }

  // `title` is the screen's heading, or null when a part brings its own (a question is its own title).
  function show(title, ...parts) {
    screen.replaceChildren(...(title === null ? [] : [el("h1", { text: title })]), ...parts);
    layoutPages();
    screen.focus({ preventScroll: true });
    touched();   // idle time counts from what the person last saw, not from a tap made before a slow answer
    // A paged part is read as the page on screen and its position, like a page turned later.
    const said = parts.map((p) => (p.pager ? p.pager.spoken() : p.innerText || p.textContent || ""));
    read((title === null ? said : [title, ...said]).join("。"));
  }

  // ---- pages instead of scrolling -------------------------------------------------------------------------
  // Text that does not fit the screen is shown a page at a time with big 上一页 / 下一页 buttons: a swipe is not
  // a tap. Pages break between lines, never through one; the buttons are there only when there is more than one
  // page, and nothing turns a page but a tap (or keyboard focus moving to something on another page).
  function pager(...children) {
    const content = el("div", { class: "pager-content" }, ...children);
    const view = el("div", { class: "pager-view" }, content);
    const where = el("p", { class: "pager-where", id: "pager-where", "aria-live": "polite" });
    const prev = button("上一页", () => turn(-1), "pager-turn");
    const next = button("下一页", () => turn(1), "pager-turn");
    const nav = el("div", { class: "pager-nav", role: "group", "aria-label": "翻页" }, prev, where, next);
    const box = el("div", { class: "pager" }, view, nav);
    let starts = [0], at = 0;

    // Every line of text, every picture and every button, as [top, bottom] from the top of the content: a
    // button is one piece, so a page never shows half of one.
    function pieces() {
      const origin = content.getBoundingClientRect().top;
      const found = [];
      const walk = document.createTreeWalker(content, NodeFilter.SHOW_TEXT);
      const range = document.createRange();
      for (let t = walk.nextNode(); t; t = walk.nextNode()) {
        if (!t.textContent.trim() || t.parentElement.closest("button")) continue;
        range.selectNodeContents(t);
        for (const r of range.getClientRects()) if (r.height > 0) found.push([r.top - origin, r.bottom - origin, t]);
      }
      for (const img of content.querySelectorAll("img, svg:not(button svg), button")) {
        const r = img.getBoundingClientRect();
        found.push([r.top - origin, r.bottom - origin, img]);
      }
      return found.sort((a, b) => a[0] - b[0]);
    }

    function breaks(height) {
      const found = [0];
      let start = 0;
      for (const [top, bottom] of pieces()) {
        if (bottom - start <= height + 0.5) continue;
        start = top > start ? top : start + height;   // a piece taller than a page is cut, once per page
        found.push(start);
      }
      return found;
    }

    function paint() {
      const last = starts.length - 1;
      view.scrollTop = starts[at];
      // The line that only partly fits is hidden here and starts the next page.
      const end = at < last ? starts[at + 1] : Infinity;
      content.style.clipPath = end === Infinity ? "" : `inset(0 0 ${content.scrollHeight - end}px 0)`;
      where.textContent = `第${at + 1}页，共${last + 1}页`;
      prev.disabled = at === 0;
      next.disabled = at === last;
    }

    function turn(step) {
      at = Math.min(starts.length - 1, Math.max(0, at + step));
      paint();
      read(spoken());
    }

    function spoken() {
      if (starts.length < 2) return content.innerText;
      const top = starts[at], end = at < starts.length - 1 ? starts[at + 1] : Infinity;
      const said = new Set();
      for (const [t, , node] of pieces()) if (t >= top - 0.5 && t < end - 0.5) said.add(node);
      return [where.textContent, ...Array.from(said, (n) => n.textContent || n.getAttribute("alt") || "")].join("。");
    }

    // Measures the space the screen leaves and cuts the content into pages of that height.
    function layout() {
      const first = starts[at] || 0;
      content.style.clipPath = "";
      content.style.paddingBottom = "";
      nav.hidden = true;
      view.scrollTop = 0;
      starts = [0];
      if (content.scrollHeight > view.clientHeight + 0.5) {
        nav.hidden = false;
        starts = breaks(view.clientHeight);
        // Room below the last line, so that the last page, too, can start at its first line.
        content.style.paddingBottom = view.clientHeight + "px";
      }
      at = Math.max(0, starts.filter((s) => s <= first + 0.5).length - 1);
      paint();
    }

    // Keyboard focus on something further on shows the page it is on.
    content.addEventListener("focusin", (e) => {
      const top = e.target.getBoundingClientRect().top - content.getBoundingClientRect().top;
      at = Math.max(0, starts.filter((s) => s <= top + 0.5).length - 1);
      paint();
    });
    box.pager = { layout, spoken, content };
    return box;
  }

  // The whole page fits the screen while something on it is paged; other screens are as tall as they need.
  function layoutPages() {
    const pagers = screen.querySelectorAll(".pager");
    document.documentElement.classList.toggle("paged", pagers.length > 0);
    pagers.forEach((p) => p.pager.layout());
  }

  // ---- speech: hidden unless the gateway's speech endpoints answer -------------------------------------
  // A tenth of a second of silence as a 16 kHz WAV: recognition that answers it is recognition that works.
  function silentWav() {
    const samples = 1600, view = new DataView(new ArrayBuffer(44 + samples * 2));
    const text = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
    text(0, "RIFF"); view.setUint32(4, 36 + samples * 2, true); text(8, "WAVEfmt ");
    view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, 16000, true); view.setUint32(28, 32000, true); view.setUint16(32, 2, true);
    view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, samples * 2, true);
    return new Blob([view], { type: "audio/wav" });
  }

  // Reading aloud and push-to-talk are shown only when the project's TTS and ASR answer, each on its own.
  async function probeSpeech() {
    // A 429 says the service is there and busy for a moment: it stays offered.
    const ok = async (url, init) => { try { const r = await fetch(url, init); return r.ok || r.status === 429; }
      catch (err) { return false; } };
    [state.voice, state.listen] = await Promise.all([
      ok("/api/speech/synthesize", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: "您好", rate: "slow" }) }),
      ok("/api/speech/recognize", { method: "POST", headers: { "Content-Type": "audio/wav" }, body: silentWav() }),
    ]);
    showSpeechControls();
  }
  function showSpeechControls() {
    document.querySelectorAll(".voice").forEach((n) => { n.hidden = !state.voice; });
    document.querySelectorAll(".talk").forEach((n) => { n.hidden = !state.listen; });
  }

  async function read(text) {
    if (!state.voice || !state.reading || !text) return;
    stopReading();
    try {
      const r = await fetch("/api/speech/synthesize", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: text.slice(0, 500), rate: "slow" }) });
      if (r.status === 404 || r.status === 503) { state.voice = false; showSpeechControls(); return; }
      if (!r.ok) return;
      audio = new Audio(URL.createObjectURL(await r.blob()));
      audio.volume = state.volume / 5;
      audio.play().catch(() => {});
    } catch (err) { /* reading aloud is a help, never a blocker */ }
  }
  function stopReading() { if (audio) { audio.pause(); audio = null; } }

  // Push-to-talk: hold to speak, or tap once to start and once more to stop (single taps are enough).
  function talkButton(onHeard) {
    const b = button("按住说话", () => {}, "primary talk");
    let recorder = null, chunks = [], downAt = 0;
    async function start() {
      stopReading();
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        recorder = new MediaRecorder(stream);
        chunks = [];
        recorder.ondataavailable = (e) => chunks.push(e.data);
        recorder.onstop = async () => {
          stream.getTracks().forEach((t) => t.stop());
          b.textContent = "正在听写…";
          const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
          const r = await fetch("/api/speech/recognize", { method: "POST",
            headers: { "Content-Type": (blob.type || "audio/webm").split(";")[0] }, body: blob });
          recorder = null;
          if (!r.ok) { b.textContent = "没听清，请再说一次"; return; }
          const heard = await r.json();
          if (heard.text) onHeard(heard.text); else b.textContent = "没听清，请再说一次";
        };
        recorder.start();
        b.classList.add("listening");
        b.textContent = "正在听，说完请松开或再点一下";
      } catch (err) { b.textContent = "话筒不能用，请点按钮"; }
    }
    function stop() { if (recorder && recorder.state === "recording") { b.classList.remove("listening"); recorder.stop(); } }
    b.addEventListener("pointerdown", () => { downAt = Date.now(); if (!recorder) start(); else stop(); });
    b.addEventListener("pointerup", () => { if (recorder && Date.now() - downAt > 600) stop(); });
    b.hidden = !state.listen;
    return b;
  }

  // ---- handwriting: a character at a time, by finger, pen or mouse -------------------------------------------
  // Each time the finger lifts, the strokes of the character so far go to the gateway's recogniser, whose best
  // guesses are offered as big buttons; a tap on one adds it to the words and clears the pad for the next.
  const PAD_MAX_STROKES = 64, PAD_MAX_POINTS = 4096, PAD_CANDIDATES = 10;
  const PAD_WAITING = "写好的字会在这里，点一下就填进去";

  function handwritingPad(onPick) {
    const canvas = el("canvas", { class: "pad", "data-input": "handwriting", role: "img",
      "aria-label": "手写板：用手指在这里写一个字" });
    const hint = el("p", { class: "pad-hint", text: "请在方框里写一个字" });
    const choices = el("div", { class: "candidates", role: "group", "aria-label": "认出的字，点一下填进去",
      "aria-live": "polite" });
    const again = button("重写", clear);
    const ink = canvas.getContext("2d");
    let strokes = [], drawing = null, points = 0, asked = 0, side = 0;

    // The drawing buffer follows the pad's size on screen; strokes are kept in the pad's CSS pixels.
    function fit() {
      const now = canvas.clientWidth;
      if (!now || now === side) return;
      if (side) strokes = strokes.map((st) => st.map(([x, y]) => [x * now / side, y * now / side]));
      side = now;
      const ratio = window.devicePixelRatio || 1;
      canvas.width = canvas.height = Math.round(side * ratio);
      ink.setTransform(ratio, 0, 0, ratio, 0, 0);
      paint();
    }

    function paint() {
      ink.clearRect(0, 0, side, side);
      // The 田字格 of a school exercise book, faint, so a character is written in the middle and large.
      ink.strokeStyle = "#9aa7b8";
      ink.lineWidth = 2;
      ink.setLineDash([10, 10]);
      ink.beginPath();
      ink.moveTo(side / 2, 0); ink.lineTo(side / 2, side); ink.moveTo(0, side / 2); ink.lineTo(side, side / 2);
      ink.stroke();
      ink.setLineDash([]);
      // Thick ink: what the finger drew is plain to see for weak eyes.
      ink.strokeStyle = "#111";
      ink.lineWidth = Math.max(10, side / 30);
      ink.lineCap = ink.lineJoin = "round";
      for (const st of strokes) {
        ink.beginPath();
        ink.moveTo(st[0][0], st[0][1]);
        for (const [x, y] of st.length > 1 ? st.slice(1) : [[st[0][0] + 0.1, st[0][1]]]) ink.lineTo(x, y);
        ink.stroke();
      }
    }

    function at(e) {
      const r = canvas.getBoundingClientRect();
      const x = Math.min(side, Math.max(0, e.clientX - r.left - canvas.clientLeft));
      const y = Math.min(side, Math.max(0, e.clientY - r.top - canvas.clientTop));
      return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
    }

    canvas.addEventListener("pointerdown", (e) => {
      if (!e.isPrimary || strokes.length >= PAD_MAX_STROKES || points >= PAD_MAX_POINTS) return;
      e.preventDefault();
      canvas.setPointerCapture(e.pointerId);
      fit();
      stopReading();
      drawing = [at(e)];
      strokes.push(drawing);
      points += 1;
      paint();
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!drawing || !e.isPrimary) return;
      for (const moved of e.getCoalescedEvents ? e.getCoalescedEvents() : [e]) {
        const [x, y] = at(moved), [px, py] = drawing[drawing.length - 1];
        // Points closer than a pixel and a half add nothing a recogniser can use, and count against the limit.
        if (Math.hypot(x - px, y - py) < 1.5 || points >= PAD_MAX_POINTS) continue;
        drawing.push([x, y]);
        points += 1;
      }
      paint();
    });
    const lift = (e) => {
      if (!drawing || !e.isPrimary) return;
      drawing = null;
      recognise();
    };
    canvas.addEventListener("pointerup", lift);
    canvas.addEventListener("pointercancel", lift);

    async function recognise() {
      const mine = ++asked;
      let found = null, note = "没认出来，请点“重写”再写一次";
      choices.setAttribute("aria-busy", "true");   // the candidates shown are about to change
      try {
        const r = await fetch("/api/handwriting/recognize", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ width: side, height: side, strokes }) });
        if (r.ok) found = (await r.json()).candidates;
        else if (r.status === 429) note = "写得太快了，请停几秒再写下一笔";
      } catch (err) { /* the note below says so */ }
      if (mine !== asked) return;   // a later lift (or 重写) has asked since
      choices.removeAttribute("aria-busy");
      offer((found || []).slice(0, PAD_CANDIDATES), note);
    }

    function offer(characters, note) {
      choices.replaceChildren(...characters.map((c) => {
        const b = button(c, () => pick(c), "candidate");
        b.dataset.candidate = c;
        return b;
      }));
      if (!characters.length) choices.append(el("p", { class: "none", text: note }));
    }

    function pick(character) {
      onPick(character);
      clear();
      read(character);
    }

    function clear() {
      asked += 1;
      choices.removeAttribute("aria-busy");
      strokes = [];
      drawing = null;
      points = 0;
      offer([], PAD_WAITING);
      paint();
    }

    offer([], PAD_WAITING);
    new ResizeObserver(fit).observe(canvas);
    return { box: el("div", { class: "pad-box" }, hint, canvas), choices, again };
  }

  // The pad is offered only when the recogniser answers: one dot is enough to ask it.
  async function probeHandwriting() {
    try {
      const r = await fetch("/api/handwriting/recognize", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ width: 300, height: 300, strokes: [[[150, 150], [151, 151]]] }) });
      state.handwriting = r.ok || r.status === 429;   // a 429 is a recogniser that is there, busy for a moment
    } catch (err) { state.handwriting = false; }
  }

  function confirmHeard(text) {
    show("您说的是：", el("p", { class: "heard", text }),
      el("div", { class: "actions" }, button("对，就是这个", () => send(text), "go"), button("不对，重新说", home)));
  }

  // ---- the conversation ---------------------------------------------------------------------------------
  // One turn; while a staff member helps, it goes through the kiosk's audited route with their token.
  // Each message has an id of its own (`messageId`): sent again after a network error, it is answered once.
  // The gateway itself answers every turn (a polite fallback when the engine is away); these come from a balancer.
  const LOST = new Set([502, 503, 504]);
  const RETRY_AFTER_MS = 1000;  // time for the balancer to mark a dead gateway down and pick another
  async function post(text, messageId = randomHex(16)) {
    const conversation = state.id;
    const headers = { "Content-Type": "application/json", ...proof() };
    if (state.staff) headers.Authorization = "Bearer " + state.staff.token;
    const body = JSON.stringify({ conversation_id: state.id, text, locale: "zh-CN", channel: "kiosk",
      message_id: messageId });
    const attempt = () => fetch(state.staff ? "/kiosk/api/assisted-chat" : "/api/chat", { method: "POST", headers,
      body });
    // A connection that broke (a gateway restarting) or a balancer that found no gateway (502, 503, 504) gets one
    // more try with the same message, which the server answers once and never runs twice.
    let r = await attempt().catch(() => null);
    if (!r || LOST.has(r.status)) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
      r = await attempt();
    }
    if (r.status === 401 && state.staff) {   // the staff session ended on the server: the kiosk follows
      staffLogout();
      return post(text, messageId);
    }
    if (!r.ok) throw new Error(String(r.status));
    const reply = await r.json();
    // A token that arrives after the kiosk was wiped proves the old conversation, not the one on screen.
    if (reply.conversation_token && state.id === conversation) state.token = reply.conversation_token;
    return reply;
  }

  function proof() { return state.token ? { "X-Conversation-Token": state.token } : {}; }

  // Sends what the person tapped or typed and shows the answer; `opening` is a turn sent first whose answer
  // the kiosk's own screens have already shown (the status check's "please give your numbers").
  async function send(text, opening) {
    screen.setAttribute("aria-busy", "true");
    const conversation = state.id;
    let reply;
    try {
      if (opening) await post(opening);
      reply = await post(text);
    } catch (err) {
      if (state.id !== conversation) return;
      screen.removeAttribute("aria-busy");
      show("系统正忙", el("p", { text: "请稍等一会儿再试，或者点下面的红色按钮找工作人员。" }),
        el("div", { class: "actions" }, button("回到首页", home)));
      return;
    }
    // The person ended (or the kiosk wiped) while the answer was on its way: it belongs to nobody on screen now.
    if (state.id !== conversation) return;
    screen.removeAttribute("aria-busy");
    state.lastReply = reply;
    render(reply);
    watchPushed(reply.state.handoff);
  }

  function messageParts(messages) {
    const texts = el("div", { class: "answer" });
    const buttons = el("div", { class: "actions" });
    for (const m of messages) {
      texts.append(el("p", { text: mask(m.text) }));
      for (const b of m.buttons) buttons.append(button(b.title, () => send(b.payload), "primary"));
    }
    return [texts, buttons];
  }

  function render(reply) {
    const s = reply.state;
    // The reference stays in the state for the rest of the conversation: the slip comes once, when it is new.
    if (s.appointment_reference && !s.form && s.appointment_reference !== state.slipFor) {
      state.slipFor = s.appointment_reference;
      return slip(reply);
    }
    const [texts, buttons] = messageParts(reply.messages);
    // A question with buttons is a choice, except where the buttons only skip an answer in the person's own words.
    if (s.requested_slot && (!buttons.children.length || WORDS_WITH_SKIP.test(s.requested_slot))) {
      return question(reply, texts, buttons);
    }
    // The kiosk's own ways on stay on screen; the assistant's choices follow its words and are paged with them
    // when there are more than the screen holds (the districts, the free times).
    const ways = el("div", { class: "actions" });
    // The answers about a service do not offer a visit themselves; at a service hall it is the next step people ask for.
    const offersVisit = reply.messages.some((m) => m.buttons.some((b) => b.payload.startsWith("/book_appointment")));
    if (state.service && !s.form && s.handoff === "none" && !offersVisit) {
      ways.append(button("预约到服务中心办", () => send(`/book_appointment{"service": "${state.service}"}`), "primary"));
    }
    ways.append(button("回到首页", home));
    screen.dataset.screen = s.form ? "step" : "answer";
    const title = s.handoff === "waiting" ? "正在为您找工作人员" : s.handoff === "active" ? "工作人员为您服务"
      : s.form ? "正在为您办理" : "为您找到的答复";
    show(title, pager(texts, ...(buttons.children.length ? [buttons] : [])), ways);
  }

  // A number typed on a big keypad, shown masked: the first three and the last four digits stay visible, so a
  // slip of the finger shows while the rest stays hidden from whoever stands behind.
  function keypadField(withX, onDone, ...extras) {
    let value = "", revealed = false;
    const entry = el("output", { class: "entry", id: "entry", "aria-live": "polite", "aria-label": "已输入" });
    const hide = (v) => (v.length <= 7 ? v : v.slice(0, 3) + "*".repeat(v.length - 7) + v.slice(-4));
    const paint = () => { entry.textContent = (revealed ? value : hide(value)) || "　"; };
    const done = button("确定", () => { if (value.trim()) onDone(value.trim()); }, "go");
    const pad = el("div", { class: "keypad", role: "group", "aria-label": "数字键盘" });
    const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", withX ? "X" : "", "0", "删除"];
    for (const k of keys) {
      if (!k) { pad.append(el("span")); continue; }
      pad.append(button(k, () => { value = k === "删除" ? value.slice(0, -1) : (value + k).slice(0, 18); paint(); },
        k === "删除" ? "erase" : "primary"));
    }
    const eye = button("显示号码", () => { revealed = !revealed; eye.textContent = revealed ? "隐藏号码" : "显示号码"; paint(); });
    paint();
    // Keypad beside the number, so 确定, the way back and 我要找工作人员 stay on screen without scrolling.
    return el("div", { class: "numeric" },
      el("div", {}, entry, el("div", { class: "actions" }, done, eye, ...extras)), pad);
  }

  // Words in a big box: written on the pad a character at a time, spoken, or typed, in any mix.
  function wordsField(onDone, label, ...extras) {
    const input = el("input", { class: "entry", id: "entry", type: "text", autocomplete: "off", "data-input": "words",
      "aria-label": label || "请在这里填写" });
    const done = button("确定", () => { if (input.value.trim()) onDone(input.value.trim()); }, "go done");
    const erase = button("删一个字", () => { input.value = Array.from(input.value).slice(0, -1).join(""); });
    const pad = handwritingPad((character) => { input.value += character; });
    const talk = talkButton((heard) => { input.value += heard; });
    pad.box.hidden = pad.choices.hidden = pad.again.hidden = !state.handwriting;
    const side = el("div", { class: "words-side" }, pad.again, erase, talk, ...extras);
    return el("div", { class: "words" + (state.handwriting ? "" : " no-pad") }, input, done, pad.box, pad.choices, side);
  }

  // One question per screen, its words as the title: numbers on a big keypad, words in a big box.
  function question(reply, texts, buttons) {
    const slot = reply.state.requested_slot;
    screen.dataset.screen = "question";
    const more = [...(buttons ? buttons.children : []), button("不办了，回到首页", home)];
    const field = NUMERIC_SLOTS.test(slot) ? keypadField(slot.includes("id_number"), send, ...more)
      : wordsField(send, undefined, ...more);
    // The question itself (the last message) is the title and comes first, so it is on the first page; what came
    // before it (a greeting, why it is asked again) follows in smaller letters.
    const said = Array.from(texts.children, (p) => p.textContent);
    const asked = el("h1", { class: "ask" }, said[said.length - 1] || "");
    const words = pager(asked, ...said.slice(0, -1).map((text) => el("p", { class: "ask-before", text })));
    words.classList.add("short");
    show(null, words, field);
  }

  // ---- the appointment slip ------------------------------------------------------------------------------
  // The QR code of the confirmation code is drawn by the gateway (no script or asset from elsewhere), so a
  // scanner at the service desk reads the same code that is printed in large letters.
  function qrCode(code) {
    return el("img", { class: "qr", id: "qr", src: "/kiosk/api/qr/" + encodeURIComponent(code),
      alt: "预约码二维码 " + code, width: "240", height: "240" });
  }

  function slip(reply) {
    const code = reply.state.appointment_reference;
    screen.dataset.screen = "slip";
    // Messages with buttons (the rating question) belong on screen, not on the paper slip.
    const details = el("div", {}, ...reply.messages.filter((m) => !m.buttons.length).map((m) => el("p", { text: mask(m.text) })));
    const [askTexts, askButtons] = messageParts(reply.messages.filter((m) => m.buttons.length));
    const card = el("section", { class: "slip", "aria-label": "预约单" },
      el("h2", { text: "便民助手 预约单" }), el("p", { text: "预约码" }), el("p", { class: "code", id: "code", text: code }),
      qrCode(code), details, el("p", { class: "note", text: "请带好上面写的材料，按时到服务中心，把这张单子给工作人员看。" }));
    // Print and home come before the slip, the rating question after it, so all are on screen without scrolling
    // (a swipe is not a tap); the slip alone is paged.
    show("预约成功", el("div", { class: "actions first" },
      button("打印预约单", () => window.print(), "go"), button("回到首页", home)), pager(card), askTexts, askButtons);
  }

  // Staff replies and status changes arrive while someone waits for a person; they are appended, never
  // replacing what is on screen.
  function watchPushed(handoff) {
    clearInterval(pollTimer);
    if (handoff !== "waiting" && handoff !== "active") return;
    pollTimer = setInterval(async () => {
      const q = state.cursor ? "?after=" + encodeURIComponent(state.cursor) : "";
      try {
        const r = await fetch(`/api/chat/${state.id}/messages${q}`, { headers: proof() });
        if (!r.ok) return;
        const got = await r.json();
        state.cursor = got.cursor;
        const box = screen.querySelector(".answer");
        if (!box) return;
        for (const m of got.messages) {
          box.append(el("p", { text: (m.from === "staff" ? "工作人员：" : "") + mask(m.text) }));
          // The rating question after a staff member closes comes with its buttons: a tap is all it takes, and
          // they join the buttons that stay on screen, never a later page.
          if (m.buttons && m.buttons.length) {
            const ways = screen.querySelector("main > .actions:last-child") || screen.appendChild(el("div", { class: "actions" }));
            ways.prepend(...m.buttons.map((b) => button(b.title, () => send(b.payload), "primary")));
          }
        }
        // What came is on a later page when this one is full: the 下一页 button appears, the page stays put.
        if (got.messages.length) layoutPages();
      } catch (err) { /* the next round tries again */ }
    }, 3000);
  }

  // ---- tasks that start on the kiosk itself -----------------------------------------------------------------
  // Checking an application: the two numbers the assistant asks for, one screen each on the keypad, then sent
  // together as a person would type them ("查进度 384122905 13812345678").
  function statusCheck() {
    screen.dataset.screen = "status-number";
    state.service = null;
    show("查办理进度", el("p", { class: "lead", text: "第一步：请输入受理编号（9位数字），或者身份证号" }),
      keypadField(true, (number) => {
        screen.dataset.screen = "status-phone";
        show("查办理进度", el("p", { class: "lead", text: "第二步：请输入申请时留的手机号" }),
          keypadField(false, (phone) => send(`查进度 ${number} ${phone}`, "/check_status"), button("回到首页", home)));
      }, button("回到首页", home)));
  }

  // A complaint about the service, in the person's own words (typed or spoken).
  function complaint() {
    screen.dataset.screen = "complaint";
    show("意见和投诉", el("p", { class: "lead", text: "请说说哪里让您不满意，我们会转给负责的部门。" }),
      wordsField((words) => send(`我要投诉：${words}`), "您的意见", button("回到首页", home)));
  }

  // ---- home, end, idle reset ------------------------------------------------------------------------------
  function home() {
    screen.dataset.screen = "home";
    // Services, then the kiosk's own tasks, then talking: one grid, so the screen's width decides the columns.
    const tiles = el("div", { class: "tiles" });
    for (const [id, name, path] of SERVICES) {
      const t = button("", () => { state.service = id; send(`/ask_how_to_apply{"service": "${id}"}`); }, "tile");
      t.append(icon(path), el("span", { text: name }));
      tiles.append(t);
    }
    for (const [name, path, onTap] of TASKS) {
      const t = button("", onTap, "tile task");
      t.append(icon(path), el("span", { text: name }));
      tiles.append(t);
    }
    tiles.append(talkButton(confirmHeard));
    show("您要办什么事？请点一下", tiles);
  }
  const TASKS = [
    ["查办理进度", "M20 4a16 16 0 1 1 0 32a16 16 0 0 1 0-32zM20 10a10 10 0 1 0 0 20a10 10 0 0 0 0-20zM31 33l4-4 11 11-4 4z", statusCheck],
    ["预约到服务中心", "M6 10h36v32H6zM10 18h28v20H10zM14 4h4v10h-4zM30 4h4v10h-4zM14 22h6v6h-6z",
      () => { state.service = null; send("/book_appointment"); }],
    ["意见和投诉", "M4 6h40v28H18l-10 10v-10H4zM22 12h4v12h-4zM22 27h4v4h-4z", complaint],
  ];

  function wipe() {
    stopReading();
    clearInterval(pollTimer);
    const old = state.id;
    // Stops what was under way and ends the old conversation on the server too (its token stops working),
    // so a next person cannot continue it.
    if (state.token) {
      const headers = { "Content-Type": "application/json", ...proof() };
      fetch("/api/chat", { method: "POST", headers, body: JSON.stringify({ conversation_id: old, text: "/stop", channel: "kiosk" }) })
        .finally(() => fetch(`/api/chat/${encodeURIComponent(old)}`, { method: "DELETE", headers })).catch(() => {});
    }
    Object.assign(state, { id: newId(), token: null, lastReply: null, cursor: null, service: null, slipFor: null });
    try { localStorage.clear(); sessionStorage.clear(); } catch (err) { /* storage may be disabled */ }
    if (state.staff) staffLogout();
    $("idle").hidden = true;
    screen.removeAttribute("aria-busy");   // an answer still on its way is dropped when it comes
    home();
  }

  function touched() {
    clearTimeout(idleTimer);
    clearTimeout(staffTimer);
    idleTimer = setTimeout(askStillThere, IDLE_SECONDS * 1000);
    if (state.staff) staffTimer = setTimeout(staffLogout, STAFF_IDLE_SECONDS * 1000);
  }

  function askStillThere() {
    if (screen.dataset.screen === "home" && !state.lastReply) { touched(); return; }  // nothing to protect
    $("idle").hidden = false;
    $("idle-stay").focus();
    read("您还在吗？如果还在，请点我还在。");
    graceTimer = setTimeout(wipe, GRACE_SECONDS * 1000);
  }

  // ---- staff-assisted mode ----------------------------------------------------------------------------------
  function staffLoginScreen() {
    screen.dataset.screen = "staff-login";
    const user = el("input", { class: "entry", id: "staff-user", autocomplete: "off" });
    const pass = el("input", { class: "entry", id: "staff-pass", type: "password", autocomplete: "off" });
    const msg = el("p", { role: "alert" });
    const go = async () => {
      const r = await fetch("/api/staff/login", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: user.value, password: pass.value }) });
      if (!r.ok) { msg.textContent = "用户名或密码不对，请再试一次。"; return; }
      state.staff = { token: (await r.json()).token, username: user.value };
      consentScreen();
    };
    show("工作人员登录",
      el("div", { class: "form-field" }, el("label", { for: "staff-user", text: "用户名" }), user),
      el("div", { class: "form-field" }, el("label", { for: "staff-pass", text: "密码" }), pass), msg,
      el("div", { class: "actions" }, button("登录", go, "go"), button("取消", home)));
  }

  function consentScreen() {
    screen.dataset.screen = "consent";
    const agree = async () => {
      const r = await fetch("/kiosk/api/assisted-consent", { method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + state.staff.token },
        body: JSON.stringify({ conversation_id: state.id }) });
      if (!r.ok) { staffLogout(); return; }
      $("assist-text").textContent = `工作人员 ${state.staff.username} 正在协助您办理`;
      $("assist-banner").hidden = false;
      $("staff-login").hidden = true;   // one staff member at a time
      touched();
      home();
    };
    show("请居民本人确认", el("p", { class: "heard", text: "居民本人同意由工作人员代为填写" }),
      el("div", { class: "actions" }, button("同意", agree, "go"), button("不同意", staffLogout)));
  }

  // The staff member has looked at the resident's ID card: the number goes to the server, which audits the check
  // under the staff member's name; the kiosk keeps nothing.
  function idCheckScreen() {
    if (!state.staff) return;
    screen.dataset.screen = "id-check";
    if (!state.token) {
      show("核验身份证", el("p", { text: "请先点一项业务开始办理，再核验身份证。" }), backHome());
      return;
    }
    const msg = el("p", { role: "alert" });
    const field = keypadField(true, async (number) => {
      const r = await fetch("/kiosk/api/assisted-identity", { method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + state.staff.token, ...proof() },
        body: JSON.stringify({ conversation_id: state.id, id_number: number }) });
      if (r.status === 401) { staffLogout(); home(); return; }
      if (!r.ok) { msg.textContent = "身份证号码不对，请核对后再输入。"; return; }
      show("身份已核验", el("p", { text: "已记录：工作人员核验了居民本人的身份证。" }),
        el("div", { class: "actions" }, button("继续办理", () => (state.lastReply ? render(state.lastReply) : home()), "go")));
    });
    show("核验身份证", el("p", { text: "看过居民本人的身份证后，输入证上的号码。" }), field, msg);
  }

  function staffLogout() {
    const staff = state.staff;
    state.staff = null;
    clearTimeout(staffTimer);
    $("assist-banner").hidden = true;
    $("staff-login").hidden = false;
    if (staff) fetch("/api/staff/logout", { method: "POST", headers: { Authorization: "Bearer " + staff.token } }).catch(() => {});
    if (screen.dataset.screen === "consent" || screen.dataset.screen === "staff-login") home();
  }

  // ---- chrome ----------------------------------------------------------------------------------------------
  $("human").addEventListener("click", () => send("/request_human"));
  $("end").addEventListener("click", wipe);
  $("staff-login").addEventListener("click", staffLoginScreen);
  $("assist-end").addEventListener("click", () => { staffLogout(); });
  $("assist-end").before(button("核验身份证", idCheckScreen, "small"));
  $("idle-stay").addEventListener("click", () => { clearTimeout(graceTimer); $("idle").hidden = true; touched(); });
  $("size-toggle").addEventListener("click", (e) => {
    const on = document.documentElement.classList.toggle("larger");
    e.currentTarget.setAttribute("aria-pressed", String(on));
    e.currentTarget.textContent = on ? "标准字" : "更大字";
    layoutPages();
  });
  window.addEventListener("resize", layoutPages);
  $("read-toggle").addEventListener("click", (e) => {
    state.reading = !state.reading;
    if (!state.reading) stopReading();
    e.currentTarget.setAttribute("aria-checked", String(state.reading));
    e.currentTarget.textContent = state.reading ? "朗读：开" : "朗读：关";
  });
  const volume = (d) => {
    state.volume = Math.min(5, Math.max(0, state.volume + d));
    $("vol-level").textContent = "音量 " + state.volume;
    if (audio) audio.volume = state.volume / 5;
  };
  $("vol-up").addEventListener("click", () => volume(1));
  $("vol-down").addEventListener("click", () => volume(-1));
  // Any touch counts as "still here"; the idle question never interrupts someone who is using the screen.
  document.addEventListener("pointerdown", touched, true);
  document.addEventListener("keydown", touched, true);
  // The printer's paper: an 80 mm receipt roll by default, ?paper=a5 where the kiosk has an A5 printer.
  function paper(kind) {
    if (kind !== "a5") return;
    document.documentElement.classList.add("a5");
    document.head.append(el("style", { media: "print", text: "@page { size: A5; margin: 12mm; }" }));
  }
  paper(params.get("paper"));
  home();
  touched();
  // Settled once the kiosk knows which of speech and handwriting it can offer.
  const probed = Promise.all([probeSpeech(), probeHandwriting()]).then(() => undefined);
  window.kiosk = { conversationId: () => state.id, idleSeconds: IDLE_SECONDS, graceSeconds: GRACE_SECONDS, paper,
    volume: () => (audio ? audio.volume : state.volume / 5), probed, handwriting: () => state.handwriting };
})();
