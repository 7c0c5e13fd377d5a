// The simple chat page at "/": talks to POST /api/chat and polls for staff replies.
(() => {
  const log = document.getElementById("log");
  const input = document.getElementById("text");
  const key = "bianmin.conversation";
  let id = localStorage.getItem(key);
  if (!id) { id = "web-" + crypto.randomUUID(); localStorage.setItem(key, id); }
  let cursor = null;

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

  async function send(text, shown) {
    show(shown || text, "person");
    const response = await fetch("/api/chat", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({conversation_id: id, text, locale: "zh-CN"})});
    const data = await response.json();
    if (!response.ok) { show(data.error ? data.error.message : "出错了", "assistant"); return; }
    for (const m of data.messages) show(m.text, "assistant", m.buttons);
  }

  async function poll() {
    try {
      const url = `/api/chat/${encodeURIComponent(id)}/messages` + (cursor ? `?after=${cursor}` : "");
      const response = await fetch(url);
      if (response.ok) {
        const data = await response.json();
        for (const m of data.messages) show(m.text, m.from, m.buttons);
        cursor = data.cursor || cursor;
      }
    } catch (e) { /* offline for a moment: try again later */ }
    setTimeout(poll, 3000);
  }

  document.getElementById("send").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text) { input.value = ""; send(text); }
  });
  poll();
})();
