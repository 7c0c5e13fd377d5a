// The simple chat page at "/": talks to POST /api/chat and polls for staff replies.
(() => {
  const log = document.getElementById("log");
  const input = document.getElementById("text");
  // The conversation and its token last as long as the tab: the server chooses the id on the first message,
  // and only the token it hands out then continues the conversation.
  const store = { get: (k) => { try { return sessionStorage.getItem(k); } catch (e) { return null; } },
                  set: (k, v) => { try { sessionStorage.setItem(k, v); } catch (e) { /* this page view only */ } },
                  remove: (k) => { try { sessionStorage.removeItem(k); } catch (e) { /* nothing was kept */ } } };
  let id = store.get("bianmin.conversation");
  let token = store.get("bianmin.conversation-token");
  let cursor = null;
  let ended = 0;  // how many times "结束" was pressed: an answer that arrives for an ended conversation is dropped
  const headers = () => (token ? {"X-Conversation-Token": token} : {});

  // Everything is inserted as text, never as HTML: nothing a person or the assistant sends can run.
  function show(text, who, buttons) {
    const div = document.createElement("div");
    div.className = "msg " + who;
    div.textContent = text;
    if (buttons && buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      for (const b of buttons) {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.title;
        btn.addEventListener("click", () => send(b.payload, b.title));
        row.appendChild(btn);
      }
      div.appendChild(row);
    }
    log.appendChild(div);
    div.scrollIntoView({block: "end"});
  }

  function randomHex(bytes) {
    return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The gateway itself answers every turn (a polite fallback when the engine is away); these come from a balancer.
  const LOST = new Set([502, 503, 504]);
  const RETRY_AFTER_MS = 1000;  // time for the balancer to mark a dead gateway down and pick another

  // Each message has an id of its own, and a new conversation an id chosen here: a message sent again after a
  // broken connection or a balancer's 502/503/504 gets its first answer (and the new conversation's token) and
  // is never run twice.
  async function send(text, shown) {
    show(shown || text, "person");
    const mine = ended;
    if (!token) id = "web-" + randomHex(12);
    const body = JSON.stringify({conversation_id: id, text, locale: "zh-CN", message_id: randomHex(16)});
    const attempt = () => fetch("/api/chat", {method: "POST", headers: {"Content-Type": "application/json", ...headers()},
      body});
    let response = await attempt().catch(() => null);
    if (!response || LOST.has(response.status)) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
      response = await attempt().catch(() => null);
    }
    if (mine !== ended) return;
    if (!response) { show("消息没有发出去，请稍后再试。", "assistant"); return; }
    const data = await response.json().catch(() => ({}));
    if (mine !== ended) return;
    if (response.status === 403) { id = token = null; }  // the conversation is no longer this tab's: start anew
    if (!response.ok) { show(data.error ? data.error.message : "出错了", "assistant"); return; }
    if (data.conversation_token) {
      id = data.conversation_id; token = data.conversation_token;
      store.set("bianmin.conversation", id); store.set("bianmin.conversation-token", token);
    }
    for (const m of data.messages) show(m.text, "assistant", m.buttons);
  }

  // "结束": the server stops what was under way and ends the conversation (its token stops working), and the
  // tab forgets the conversation and its token.
  function end() {
    if (id && token) {
      const ending = {"Content-Type": "application/json", ...headers()};
      const url = `/api/chat/${encodeURIComponent(id)}`;
      fetch("/api/chat", {method: "POST", headers: ending,
        body: JSON.stringify({conversation_id: id, text: "/stop", locale: "zh-CN"})})
        .finally(() => fetch(url, {method: "DELETE", headers: ending})).catch(() => {});
    }
    ended += 1;
    id = token = cursor = null;
    store.remove("bianmin.conversation");
    store.remove("bianmin.conversation-token");
    log.replaceChildren();
    show("对话已结束，记录已清除。有新的问题可以直接输入。", "assistant");
    input.focus();
  }

  async function poll() {
    const mine = ended;
    try {
      const url = `/api/chat/${encodeURIComponent(id)}/messages` + (cursor ? `?after=${cursor}` : "");
      const response = id && token ? await fetch(url, {headers: headers()}) : null;
      if (response && response.ok && mine === ended) {
        const data = await response.json();
        for (const m of data.messages) show(m.text, m.from, m.buttons);
        cursor = data.cursor || cursor;
      }
    } catch (e) { /* offline for a moment: try again later */ }
    setTimeout(poll, 3000);
  }

  document.getElementById("end").addEventListener("click", end);
  document.getElementById("send").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text) { input.value = ""; send(text); }
  });
  poll();
})();
