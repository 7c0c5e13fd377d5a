/* 便民助手 web chat widget. A website adds one line:
 *   <script src="https://<gateway>/widget/widget.js" defer></script>
 * and gets a launcher button and a chat panel. Plain JavaScript, no framework and no build step,
 * so it runs on intranets without outside access. Options (data attributes on the script tag):
 *   data-api="https://gateway.example/"  where the API lives (default: where the script came from)
 *   data-title="便民助手"                 the panel's heading
 * Everything the assistant, staff or a person says is inserted with textContent, never as HTML.
 * The conversation (its id, token and transcript) lasts as long as the tab (sessionStorage), with personal
 * numbers masked in what is kept; only the display preferences stay in the host site's localStorage.
 * "结束" ends the conversation and forgets it.
 */
(() => {
  "use strict";
  const script = document.currentScript;
  // A page that includes the script twice still gets one widget.
  if (!script || window.__bianminWidget) return;
  window.__bianminWidget = true;

  const scriptUrl = new URL(script.src, location.href);
  // A root given without its trailing slash would otherwise lose its last path segment.
  const apiRoot = new URL((script.dataset.api || "../").replace(/\/?$/, "/"), scriptUrl);
  const api = (path) => new URL(path, apiRoot).toString();
  const TITLE = script.dataset.title || "便民助手";
  const KEY = "bianmin.widget.";
  const HISTORY_LIMIT = 200;
  const POLL_OPEN_MS = 2500; // staff replies show up within seconds while the panel is open
  const POLL_CLOSED_MS = 10000; // while a person waits for staff with the panel closed
  const SPEAK_CHARS = 500; // the synthesize endpoint's limit per request
  const RECORD_LIMIT_MS = 30000;
  const HANDOFF_STATUS = { waiting: "已转人工，请稍候，工作人员上线后会在这里回复您。", active: "工作人员正在为您服务。" };

  // Storage can be switched off or full; the widget then works for this page view only.
  function storage(area) {
    return {
      get(name, fallback) {
        try { const v = area().getItem(KEY + name); return v === null ? fallback : JSON.parse(v); }
        catch (e) { return fallback; }
      },
      set(name, value) { try { area().setItem(KEY + name, JSON.stringify(value)); } catch (e) { /* see above */ } },
      remove(name) { try { area().removeItem(KEY + name); } catch (e) { /* see above */ } },
    };
  }
  const store = storage(() => localStorage);  // display preferences and whether the panel is open
  const session = storage(() => sessionStorage);  // the conversation: gone with the tab or on "结束"
  const CONVERSATION = ["proof", "history", "replies", "cursor", "handoff"];
  // Earlier versions kept the conversation, typed numbers included, in localStorage with no expiry.
  for (const name of ["id", "history", "replies", "cursor", "handoff"]) store.remove(name);

  // Personal numbers as bot.privacy masks them, for what is kept in storage: an ID number keeps its first three
  // and last four characters, a mobile number (with or without 86 or 0086 before it) its first three and last
  // four digits, a bank card its last four. The kiosk's screen mask (kiosk/kiosk.js) is the same function.
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

  // crypto.randomUUID needs a secure context; plain-http intranet pages still have getRandomValues.
  function newConversationId() {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The server's token for the conversation proves it on every call; the conversation goes on only with it.
  const proof = session.get("proof", {}) || {};
  const resumed = Boolean(proof.token && proof.id);
  function keepProof(id, token) { session.set("proof", { id, token }); }

  const state = {
    id: resumed ? proof.id : newConversationId(),
    token: resumed ? proof.token : null,
    history: resumed ? session.get("history", []) : [], // [{who: "person"|"assistant"|"staff"|"notice", text}], masked
    replies: resumed ? session.get("replies", []) : [], // the latest buttons: [{title, payload}]
    cursor: resumed ? session.get("cursor", null) : null,
    handoff: resumed ? session.get("handoff", "none") : "none",
    prefs: store.get("prefs", { large: false, contrast: false }),
    open: store.get("open", false),
    ended: 0, // how many times "结束" was pressed in this page view: an answer for an earlier count is dropped
    unread: false,
    busy: false,
    tts: false,
    asr: false,
  };
  if (!resumed) for (const name of CONVERSATION) session.remove(name);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) node.append(child); // strings become text nodes
    return node;
  }

  // The widget lives in its own shadow root, so the host page's CSS cannot restyle or break it.
  const host = el("aside", { "aria-label": "在线咨询", "data-bianmin-widget": "" });
  host.style.display = "none"; // until the style sheet has loaded, so nothing flashes unstyled
  const root = host.attachShadow({ mode: "open" });
  const sheet = el("link", { rel: "stylesheet", href: new URL("widget.css", scriptUrl).toString() });
  sheet.addEventListener("load", () => { host.style.display = ""; });
  sheet.addEventListener("error", () => { host.style.display = ""; });

  const launcherLabel = el("span", {}, "在线咨询");
  const unreadMark = el("span", { class: "bm-unread", hidden: true }, "（有新消息）");
  const launcher = el("button", { type: "button", class: "bm-launcher", "aria-expanded": "false", "aria-controls": "bm-panel" },
    el("span", { class: "bm-icon", "aria-hidden": "true" }), launcherLabel, unreadMark);

  const largeButton = el("button", { type: "button", class: "bm-tool", "aria-pressed": "false" }, "大字");
  const contrastButton = el("button", { type: "button", class: "bm-tool", "aria-pressed": "false" }, "高对比");
  const endButton = el("button", { type: "button", class: "bm-tool bm-end", "aria-label": "结束对话并清除记录" }, "结束");
  const closeButton = el("button", { type: "button", class: "bm-tool bm-close", "aria-label": "关闭对话窗口" }, "关闭");
  const list = el("ol", { class: "bm-list" });
  const log = el("div", { class: "bm-log", role: "region", "aria-label": "对话记录", tabindex: "0" }, list);
  const status = el("p", { class: "bm-status", role: "status" });
  const micButton = el("button", { type: "button", class: "bm-mic", "aria-pressed": "false", hidden: true }, "语音输入");
  const input = el("input", { id: "bm-input", class: "bm-input", type: "text", autocomplete: "off", maxlength: "2000",
    placeholder: "请输入您的问题" });
  const sendButton = el("button", { type: "submit", class: "bm-send" }, "发送");
  const form = el("form", { class: "bm-form" },
    el("label", { for: "bm-input", class: "bm-sr" }, "输入您的问题"), micButton, input, sendButton);
  const repliesLabel = el("p", { id: "bm-replies-label", class: "bm-replies-label" }, "您可以直接选择：");
  const repliesRow = el("div", { class: "bm-replies-row" });
  const replies = el("div", { class: "bm-replies", role: "group", "aria-labelledby": "bm-replies-label", hidden: true },
    repliesLabel, repliesRow);
  // New messages are announced from here rather than from the log, so read-aloud buttons are not read out too.
  const announcer = el("div", { class: "bm-sr", "aria-live": "polite" });
  const panel = el("section", { id: "bm-panel", class: "bm-panel", role: "dialog", "aria-labelledby": "bm-title", hidden: true },
    el("header", { class: "bm-head" }, el("h2", { id: "bm-title", class: "bm-title" }, TITLE),
      el("div", { class: "bm-tools" }, largeButton, contrastButton, endButton, closeButton)),
    log, status, form, replies, announcer);
  const frame = el("div", { class: "bm" }, launcher, panel);
  root.append(sheet, frame);

  const SPEAKER = { person: "您说：", assistant: "助手说：", staff: "工作人员说：", notice: "提示：" };

  function renderMessage(message) {
    const item = el("li", { class: "bm-msg bm-" + message.who },
      el("span", { class: "bm-sr" }, SPEAKER[message.who] || ""), el("p", { class: "bm-text" }, message.text));
    if (message.who === "assistant" || message.who === "staff") {
      const speak = el("button", { type: "button", class: "bm-speak", "aria-label": "朗读这条消息" }, "朗读");
      speak.addEventListener("click", () => readAloud(message.text, speak));
      item.append(speak);
    }
    list.append(item);
  }

  // The screen shows what was said; what is kept for the next page of the site has its numbers masked.
  function addMessages(messages) {
    for (const message of messages) {
      state.history.push({ who: message.who, text: mask(message.text) });
      renderMessage(message);
    }
    state.history = state.history.slice(-HISTORY_LIMIT);
    session.set("history", state.history);
    const spoken = messages.filter((m) => m.who !== "person");
    if (spoken.length) announcer.textContent = spoken.map((m) => SPEAKER[m.who] + m.text).join("\n");
    showLatest();
  }

  // The log scrolls by itself, or on short windows the whole panel does: either way show the newest message.
  function showLatest() {
    log.scrollTop = log.scrollHeight;
    if (!panel.hidden && panel.scrollHeight > panel.clientHeight && list.lastElementChild) {
      list.lastElementChild.scrollIntoView({ block: "start" });
    }
  }

  function setReplies(buttons) {
    state.replies = buttons.map((b) => ({ title: b.title, payload: b.payload }));
    // A button that answers with a personal number is not kept: masked, it would answer wrongly.
    session.set("replies", state.replies.filter((b) => mask(b.title) === b.title && mask(b.payload) === b.payload));
    repliesRow.replaceChildren(...state.replies.map((b) => {
      const button = el("button", { type: "button", class: "bm-reply" }, b.title);
      button.addEventListener("click", () => send(b.payload, b.title));
      return button;
    }));
    replies.hidden = state.replies.length === 0;
  }

  function setHandoff(value) {
    state.handoff = value || "none";
    session.set("handoff", state.handoff);
    showStatus(HANDOFF_STATUS[state.handoff] || "");
  }

  function showStatus(text) { status.textContent = text; }

  function proofHeaders() { return state.token ? { "X-Conversation-Token": state.token } : {}; }

  // An answer (or a token) that arrives after "结束" belongs to the ended conversation: Ended, and dropped.
  class Ended extends Error {}

  // Each message has an id of its own: sent again after a network error, it is answered once, not run twice.
  // The gateway itself answers every turn (a polite fallback when the engine is away); these come from a balancer.
  const LOST = new Set([502, 503, 504]);
  const RETRY_AFTER_MS = 1000;  // time for the balancer to mark a dead gateway down and pick another
  function newMessageId() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function postChat(text) {
    const { id, ended } = state;
    const body = JSON.stringify({ conversation_id: id, text, locale: "zh-CN", message_id: newMessageId() });
    const attempt = () => fetch(api("api/chat"), {
      method: "POST", headers: { "Content-Type": "application/json", ...proofHeaders() }, body,
    });
    // A connection that broke (a gateway restarting, a network change) or a balancer that found no gateway (502,
    // 503, 504) gets one more try with the same message, which the server answers once and never runs twice.
    let response = await attempt().catch(() => null);
    if (!response || LOST.has(response.status)) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
      response = await attempt();
    }
    const data = await response.json().catch(() => ({}));
    if (state.ended !== ended) throw new Ended();
    if (response.status === 403) {
      // The conversation is no longer this tab's: the next message starts a new one.
      Object.assign(state, { id: newConversationId(), token: null, cursor: null });
      session.remove("proof");
      session.remove("cursor");
    }
    if (!response.ok) throw new Error((data.error && data.error.message) || String(response.status));
    if (data.conversation_token) {
      state.token = data.conversation_token;
      keepProof(state.id, state.token);
    }
    return data;
  }

  function takeTurn(data) {
    const answers = data.messages.map((m) => ({ who: "assistant", text: m.text }));
    addMessages(answers);
    setReplies(data.messages.flatMap((m) => m.buttons || []));
    setHandoff(data.state && data.state.handoff);
  }

  // `shown` is what the person sees as their own message (a button's title rather than its payload).
  async function send(text, shown) {
    if (state.busy) return;
    state.busy = true;
    const ended = state.ended;
    // The pressed suggestion disappears with the others; keep the keyboard focus where typing continues.
    const fromReply = replies.contains(root.activeElement);
    addMessages([{ who: "person", text: shown || text }]);
    setReplies([]);
    if (fromReply) input.focus();
    showStatus("正在回复…");
    try {
      takeTurn(await postChat(text));
    } catch (err) {
      if (err instanceof Ended) return;
      setHandoff(state.handoff);
      addMessages([{ who: "notice", text: "消息没有发出去，请稍后再试。" }]);
      // Nobody should have to type it again: a typed question goes back into the box.
      if (!shown && !input.value) input.value = text;
    } finally {
      if (state.ended === ended) state.busy = false;
    }
    poll();
  }

  // A fresh conversation opens with the assistant's own greeting and its suggestions.
  async function greet() {
    state.busy = true;
    const ended = state.ended;
    try { takeTurn(await postChat("/greet")); } catch (err) { /* the person can still type */ }
    finally { if (state.ended === ended) state.busy = false; }
  }

  let polling = false;
  async function poll() {
    if (polling || !state.token) return;
    polling = true;
    const { id, ended } = state;
    try {
      const query = state.cursor ? "?after=" + encodeURIComponent(state.cursor) : "";
      const response = await fetch(api("api/chat/" + encodeURIComponent(id) + "/messages" + query),
        { headers: proofHeaders() });
      const data = response.ok ? await response.json() : null;
      if (data && state.ended === ended) {
        if (data.messages.length) {
          addMessages(data.messages.map((m) => ({ who: m.from === "staff" ? "staff" : "assistant", text: m.text })));
          const buttons = data.messages.flatMap((m) => m.buttons || []);
          if (buttons.length) setReplies(buttons);
          // A staff member writing means the handoff was accepted, even before the next turn reports it.
          if (data.messages.some((m) => m.from === "staff") && state.handoff !== "active") setHandoff("active");
          if (panel.hidden) setUnread(true);
        }
        state.cursor = data.cursor || state.cursor;
        session.set("cursor", state.cursor);
      }
    } catch (err) { /* offline for a moment: the next round tries again */ }
    finally { polling = false; }
  }

  function pollLoop() {
    const waitingForStaff = state.handoff === "waiting" || state.handoff === "active";
    if (!panel.hidden || waitingForStaff) poll();
    setTimeout(pollLoop, panel.hidden ? POLL_CLOSED_MS : POLL_OPEN_MS);
  }

  function setUnread(value) {
    state.unread = value;
    unreadMark.hidden = !value;
    launcher.classList.toggle("bm-has-unread", value);
  }

  function openPanel(moveFocus) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.hidden = true;
    setUnread(false);
    store.set("open", true);
    showLatest();
    if (moveFocus) input.focus();
    probeSpeech();
    if (!state.history.length) greet();
    poll();
  }

  // "结束": the server hears that the person has finished (as the kiosk's wipe tells it), and the tab forgets the
  // conversation, its token and its transcript; the next message starts a new conversation.
  function endConversation() {
    const { id, token } = state;
    if (token) {
      // What was under way stops, then the conversation ends on the server: its token no longer works.
      const headers = { "Content-Type": "application/json", "X-Conversation-Token": token };
      fetch(api("api/chat"), { method: "POST", headers, body: JSON.stringify({ conversation_id: id, text: "/stop", locale: "zh-CN" }) })
        .finally(() => fetch(api(`api/chat/${encodeURIComponent(id)}`), { method: "DELETE", headers })).catch(() => {});
    }
    stopAudio();
    Object.assign(state, { id: newConversationId(), token: null, history: [], replies: [], cursor: null, busy: false,
      ended: state.ended + 1 });
    list.replaceChildren();
    announcer.textContent = "";
    input.value = "";
    setReplies([]);
    setHandoff("none");
    for (const name of CONVERSATION) session.remove(name);
    showStatus("对话已结束，记录已清除。有新的问题可以直接输入。");
    input.focus();
  }

  function closePanel() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    store.set("open", false);
    stopAudio();
    launcher.focus();
  }

  function applyPrefs() {
    frame.classList.toggle("bm-large", state.prefs.large);
    frame.classList.toggle("bm-contrast", state.prefs.contrast);
    largeButton.setAttribute("aria-pressed", String(state.prefs.large));
    contrastButton.setAttribute("aria-pressed", String(state.prefs.contrast));
    store.set("prefs", state.prefs);
  }

  // Speech buttons appear only when the gateway answers for them: a missing route (404) or an
  // unconfigured service (503) leaves them out. The probes are requests the server rejects cheaply.
  let probed = false;
  async function probeSpeech() {
    if (probed) return;
    probed = true;
    try {
      const r = await fetch(api("api/speech/synthesize"), { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      state.tts = r.status === 422;
    } catch (err) { state.tts = false; }
    frame.classList.toggle("bm-tts", state.tts);
    const canRecord = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
    if (canRecord) {
      try {
        const r = await fetch(api("api/speech/recognize"), { method: "POST", headers: { "Content-Type": "text/plain" }, body: "" });
        state.asr = r.status === 415;
      } catch (err) { state.asr = false; }
      micButton.hidden = !state.asr;
    }
    frame.dataset.speechChecked = "yes";  // what the speech buttons show is settled (tests wait on it)
  }

  let audio = null;
  let audioButton = null;
  function stopAudio() {
    if (audio) { audio.pause(); audio = null; }
    if (audioButton) { audioButton.textContent = "朗读"; audioButton.setAttribute("aria-label", "朗读这条消息"); audioButton = null; }
  }

  // Long answers are spoken in pieces of at most SPEAK_CHARS, cut after a sentence where possible.
  function pieces(text) {
    const out = [];
    let rest = text;
    while (rest.length > SPEAK_CHARS) {
      const cut = Math.max(rest.lastIndexOf("。", SPEAK_CHARS - 1), rest.lastIndexOf("\n", SPEAK_CHARS - 1));
      const end = cut > SPEAK_CHARS / 2 ? cut + 1 : SPEAK_CHARS;
      out.push(rest.slice(0, end));
      rest = rest.slice(end);
    }
    if (rest.trim()) out.push(rest);
    return out;
  }

  async function readAloud(text, button) {
    const again = audioButton === button;
    stopAudio();
    if (again) return; // a second press stops the reading
    audioButton = button;
    button.textContent = "停止朗读";
    button.setAttribute("aria-label", "停止朗读");
    for (const piece of pieces(text)) {
      if (audioButton !== button) return;
      let response;
      try {
        response = await fetch(api("api/speech/synthesize"), { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ text: piece, rate: "slow", locale: "zh-CN" }) });
      } catch (err) { response = null; }
      if (!response || !response.ok) {
        if (response && (response.status === 404 || response.status === 503)) frame.classList.remove("bm-tts");
        stopAudio();
        showStatus("暂时无法朗读，请稍后再试。");
        return;
      }
      const url = URL.createObjectURL(await response.blob());
      if (audioButton !== button) { URL.revokeObjectURL(url); return; }
      audio = new Audio(url);
      await new Promise((done) => {
        audio.addEventListener("ended", done);
        audio.addEventListener("pause", done);
        audio.addEventListener("error", done);
        audio.play().catch(done);
      });
      URL.revokeObjectURL(url);
    }
    if (audioButton === button) stopAudio();
  }

  let recorder = null;
  async function toggleRecording() {
    if (recorder) { recorder.stop(); return; }
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
    catch (err) { showStatus("无法使用麦克风，请检查浏览器的麦克风权限，或直接输入文字。"); return; }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    const limit = setTimeout(() => recorder && recorder.stop(), RECORD_LIMIT_MS);
    recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
    recorder.addEventListener("stop", async () => {
      clearTimeout(limit);
      stream.getTracks().forEach((track) => track.stop());
      const type = (recorder.mimeType || "audio/webm").split(";")[0];
      recorder = null;
      micButton.textContent = "语音输入";
      micButton.setAttribute("aria-pressed", "false");
      showStatus("正在识别…");
      await recognise(new Blob(chunks, { type }));
    });
    recorder.start();
    micButton.textContent = "停止录音";
    micButton.setAttribute("aria-pressed", "true");
    showStatus("正在录音，说完请按“停止录音”。");
  }

  // What was heard goes into the input, not straight to the assistant: the person checks it and sends it.
  async function recognise(blob) {
    try {
      const response = await fetch(api("api/speech/recognize"), { method: "POST", headers: { "Content-Type": blob.type }, body: blob });
      if (response.status === 404 || response.status === 503) micButton.hidden = true;
      const data = response.ok ? await response.json() : null;
      if (data && data.text) {
        input.value = data.text;
        showStatus("请核对识别出的文字，没问题就按“发送”。");
        input.focus();
        return;
      }
    } catch (err) { /* falls through to the message below */ }
    showStatus("没有听清，请再说一次，或直接输入文字。");
  }

  launcher.addEventListener("click", () => openPanel(true));
  closeButton.addEventListener("click", closePanel);
  endButton.addEventListener("click", endConversation);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); closePanel(); }
  });
  largeButton.addEventListener("click", () => { state.prefs.large = !state.prefs.large; applyPrefs(); });
  contrastButton.addEventListener("click", () => { state.prefs.contrast = !state.prefs.contrast; applyPrefs(); });
  micButton.addEventListener("click", toggleRecording);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || state.busy) return;
    input.value = "";
    send(text);
  });

  // Restore what the person saw before the page was reloaded or they moved to another page of the site.
  for (const message of state.history) renderMessage(message);
  setReplies(state.replies);
  setHandoff(state.handoff);
  applyPrefs();
  document.body.append(host);
  if (state.open) openPanel(false);
  pollLoop();
})();
