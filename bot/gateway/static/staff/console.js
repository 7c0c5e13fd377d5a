// The staff console: plain JavaScript over the staff API (/api/staff/...), polling so the queue updates without reload.
// Everything a person wrote is inserted as text, never as HTML.
"use strict";

const POLL_MS = 3000;
const REASONS = { requested: "要求转人工", emergency: "紧急", not_understood: "没听懂", validation: "填写受阻" };
const CHANNELS = { web: "网页", kiosk: "自助机", telegram: "Telegram", phone: "电话" };
const SENDERS = { person: "群众", assistant: "助手", staff: "工作人员" };
const FIELDS = { full_name: "姓名", id_number: "身份证号", phone: "手机号", address: "地址", service: "业务",
  appointment_district: "所在区", appointment_slot: "时间", appointment_name: "姓名", appointment_phone: "手机号",
  callback_phone: "回电号码", callback_window: "回电时间", application_confirmed: "确认" };
const FORMS = { appointment_form: "预约", appointment_change_form: "改约", callback_form: "留电话回电", feedback_form: "评价" };
// What a button press stands for, when the person tapped one instead of typing.
const PRESSED = { request_human: "转人工", book_appointment: "预约去服务中心", request_callback: "请工作人员回电",
  cancel_appointment: "取消或改约", affirm: "是", deny: "不是", stop: "不办了", skip: "跳过", rate: "评价",
  inform: "选了一项", start_application: "现在申请", ask_how_to_apply: "怎么办", ask_materials: "要带什么",
  ask_location_hours: "在哪办", ask_fee: "要钱吗", ask_processing_time: "要多久", ask_eligibility: "谁能办" };
const TASK_KINDS = { callback: "回电", low_rating: "差评跟进", complaint: "投诉" };
const WINDOWS = { morning: "上午", afternoon: "下午", any: "工作时间内" };
const APPOINTMENT_STATUS = { booked: "已预约", checked_in: "已签到", cancelled: "已取消" };
const APPLICATION_STATUS = { submitted: "已提交", under_review: "审核中", more_materials_needed: "需补材料",
  approved: "已通过", rejected: "未通过", ready_for_collection: "可领取" };
const AUDIT_ACTIONS = { login: "登录", view_conversation: "查看会话", accept_handoff: "接待", close_handoff: "结束服务",
  reveal_phone: "查看电话", reveal_contact: "查看姓名电话", check_in: "签到", complete_task: "完成任务",
  list_applications: "查看申请", change_application_status: "更改申请状态", deactivate_account: "停用账号",
  set_account_centre: "设置所属服务中心", appointments_refused: "查看他处预约被拒", reveal_contact_refused: "查看姓名电话被拒",
  conversation_token_refused: "对话凭证被拒", staff_login_refused: "登录被拒", retry_sms: "重新发送短信" };

const state = { token: sessionStorage.getItem("staffToken"), me: null, tab: "queue", selected: null,
  detailKey: null, transcriptKey: null, timer: null, services: {}, centres: [] };

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (state.token) headers["Authorization"] = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401 && !path.endsWith("/login")) showLogin("登录已过期，请重新登录。");
    throw new ApiError(response.status, error.code || "error", error.message || `HTTP ${response.status}`);
  }
  return data;
}

function toast(message) {
  const box = $("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 3500);
}

function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit" }) : "";
}

function waited(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
  return minutes < 1 ? "刚刚" : `等了${minutes}分钟`;
}

const isSupervisor = () => state.me && (state.me.role === "supervisor" || state.me.role === "admin");

// ---- login ----------------------------------------------------------------------------------------------------

function showLogin(message) {
  state.token = null;
  state.me = null;
  sessionStorage.removeItem("staffToken");
  clearInterval(state.timer);
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const result = await api("POST", "/api/staff/login", { username: form.get("username"), password: form.get("password") });
    state.token = result.token;
    sessionStorage.setItem("staffToken", result.token);
    event.target.reset();
    await start();
  } catch (error) {
    $("login-error").textContent = error.code === "account_locked" ? "密码错误次数太多，账号已锁定15分钟。"
      : error.code === "invalid_credentials" ? "用户名或密码不对。" : `登录失败：${error.message}`;
  }
});

$("logout").addEventListener("click", async () => {
  try { await api("POST", "/api/staff/logout"); } catch (error) { /* the token is dropped either way */ }
  showLogin("已退出。");
});

async function start() {
  state.me = await api("GET", "/api/staff/me");
  $("login").hidden = true;
  $("app").hidden = false;
  $("who").textContent = `${state.me.username}（${{ staff: "工作人员", supervisor: "值班长", admin: "管理员" }[state.me.role] || state.me.role}）`;
  document.querySelectorAll(".supervisor-only").forEach((node) => { node.hidden = !isSupervisor(); });
  document.querySelector('[data-tab="audit"]').hidden = !isSupervisor();
  document.querySelector('[data-tab="analytics"]').hidden = !isSupervisor();
  document.querySelector('[data-tab="accounts"]').hidden = state.me.role !== "admin";
  try {
    await api("GET", "/api/staff/applications");
    document.querySelector('[data-tab="applications"]').hidden = false;
  } catch (error) {
    document.querySelector('[data-tab="applications"]').hidden = true;
  }
  await loadCentres();
  showTab(state.tab);
  clearInterval(state.timer);
  state.timer = setInterval(poll, POLL_MS);
  poll();
}

// ---- tabs -----------------------------------------------------------------------------------------------------

document.querySelectorAll(".tabs button").forEach((button) => {
  button.addEventListener("click", () => showTab(button.dataset.tab));
});

function showTab(name) {
  state.tab = name;
  document.querySelectorAll(".tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === name)));
  document.querySelectorAll(".tab").forEach((section) => { section.hidden = section.id !== `tab-${name}`; });
  ({ queue: refreshQueue, appointments: refreshAppointments, tasks: refreshTasks, sms: refreshSms,
     applications: refreshApplications, audit: refreshAudit, accounts: refreshAccounts,
     analytics: () => StaffAnalytics.refresh() })[name]();
}

async function poll() {
  if (!state.token) return;
  try {
    if (state.tab === "queue") await refreshQueue();
    const tasks = await api("GET", "/api/staff/tasks?status=open");
    $("badge-tasks").textContent = tasks.length || "";
    const failedSms = await api("GET", "/api/staff/sms?status=failed");
    $("badge-sms").textContent = failedSms.length || "";
  } catch (error) {
    if (error.status !== 401) console.warn(error);
  }
}

// ---- queue and conversation -----------------------------------------------------------------------------------

function serviceName(handoff) { return handoff.service_name || (handoff.service ? handoff.service : "未说明业务"); }

function handoffItem(handoff, detail) {
  const reason = el("span", { class: `tag ${handoff.reason === "emergency" ? "emergency" : handoff.reason === "requested" ? "" : "warn"}` },
    REASONS[handoff.reason] || handoff.reason);
  const item = el("li", { class: `item${state.selected === handoff.id ? " selected" : ""}`, tabindex: "0",
    onclick: () => select(handoff.id), onkeydown: (e) => { if (e.key === "Enter") select(handoff.id); } },
  el("div", { class: "line" }, el("strong", {}, serviceName(handoff)), reason),
  el("div", { class: "line muted" }, el("span", {}, `${CHANNELS[handoff.channel] || handoff.channel} · #${handoff.id}`), el("span", {}, detail)));
  return item;
}

function fillList(list, items, empty) {
  list.replaceChildren(...(items.length ? items : [el("li", { class: "placeholder" }, empty)]));
}

async function refreshQueue() {
  const [waiting, active] = await Promise.all([
    api("GET", "/api/staff/handoffs?status=waiting"), api("GET", "/api/staff/handoffs?status=active")]);
  const mine = active.filter((h) => h.staff_username === state.me.username);
  const others = active.filter((h) => h.staff_username !== state.me.username);
  fillList($("waiting"), waiting.map((h) => handoffItem(h, waited(h.created_at))), "现在没有人排队。");
  fillList($("mine"), mine.map((h) => handoffItem(h, `接待于${clock(h.accepted_at)}`)), "还没有接待的群众。");
  fillList($("others"), others.map((h) => handoffItem(h, h.staff_username)), "没有。");
  $("badge-queue").textContent = waiting.length || "";
  $("on-duty").textContent = state.me ? `在岗${(await api("GET", "/api/staff/me")).on_duty}人` : "";
  const all = [...waiting, ...active];
  if (state.selected !== null) {
    const current = all.find((h) => h.id === state.selected);
    if (current) await showHandoff(current);
    else if (state.detailKey) await showClosed(state.selected);
  }
}

async function select(id) {
  state.selected = id;
  state.detailKey = null;
  state.transcriptKey = null;
  await refreshQueue();
}

async function showClosed(id) {
  // The person left the queue (chose an appointment or a call-back) or the conversation was closed.
  state.detailKey = null;
  $("conversation").replaceChildren(el("p", { class: "muted empty" }, `#${id} 已结束。`));
}

async function showHandoff(handoff) {
  const mine = handoff.status === "active" && handoff.staff_username === state.me.username;
  const readable = mine || isSupervisor();
  const key = `${handoff.id}:${handoff.status}:${handoff.staff_username}`;
  const box = $("conversation");
  if (state.detailKey !== key) {
    state.detailKey = key;
    state.transcriptKey = null;
    box.replaceChildren(...conversationSkeleton(handoff, mine, readable));
  }
  if (!readable) return;
  const detail = await api("GET", `/api/staff/handoffs/${handoff.id}`);
  renderPerson(detail);
  renderTranscript(detail.transcript);
}

function conversationSkeleton(handoff, mine, readable) {
  const head = el("div", { class: "conv-head" },
    el("h2", { id: "conv-title" }, `群众 #${handoff.id}`),
    handoff.status === "waiting" ? el("button", { class: "primary", onclick: () => accept(handoff.id) }, "接待") : null);
  const facts = el("dl", { class: "facts" },
    fact("渠道", CHANNELS[handoff.channel] || handoff.channel), fact("业务", serviceName(handoff)),
    fact("原因", REASONS[handoff.reason] || handoff.reason), fact("排队时间", clock(handoff.created_at)),
    handoff.staff_username ? fact("接待人", handoff.staff_username) : null);
  const parts = [head, facts, el("p", { id: "conv-form", class: "muted" })];
  if (!readable) {
    parts.push(el("p", { class: "muted" }, "接待后可以看到对方说过的话并回复。"));
    return parts;
  }
  parts.push(el("div", { id: "transcript", class: "transcript", "aria-live": "polite" }));
  if (handoff.status === "active" && (mine || isSupervisor())) {
    const text = el("textarea", { id: "reply-text", placeholder: "输入回复，对方会在自己的渠道上收到", maxlength: "2000" });
    text.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(handoff.id); });
    parts.push(el("div", { class: "reply" }, text, el("button", { class: "primary", onclick: () => send(handoff.id) }, "发送")));
    const note = el("input", { id: "close-note", placeholder: "处理结果（可选），例如：已告知补办材料" });
    parts.push(el("div", { class: "close-row" }, note, el("button", { class: "danger", onclick: () => closeHandoff(handoff.id) }, "结束服务")));
  }
  return parts;
}

function fact(label, value) { return el("div", {}, el("dt", {}, `${label}：`), el("dd", {}, value)); }

function renderPerson(detail) {
  const who = [detail.person.name, detail.person.phone].filter(Boolean).join(" · ");
  $("conv-title").textContent = who ? `群众 ${who}` : `群众 #${detail.handoff.id}`;
  const form = detail.form;
  if (form) {
    const filled = (form.filled || []).filter((f) => f !== "requested_slot").map((f) => FIELDS[f] || f);
    const asking = form.requested_slot ? `，正在问${FIELDS[form.requested_slot] || form.requested_slot}` : "";
    const name = FORMS[form.name] || state.services[form.name] || form.name;
    $("conv-form").textContent = `${form.finished ? "填过" : "正在填"}：${name}${filled.length ? `，已填${filled.join("、")}` : ""}${form.finished ? "" : asking}`;
  } else {
    $("conv-form").textContent = "没有在填写表单。";
  }
}

function renderTranscript(lines) {
  const box = $("transcript");
  if (!box) return;
  const key = JSON.stringify(lines.map((l) => [l.from, l.text, l.at]));
  if (key === state.transcriptKey) return;
  state.transcriptKey = key;
  box.replaceChildren(...lines.map((line) => {
    const pressed = /^\[(\w+)\]$/.exec(line.text);
    const text = pressed ? `（点了“${PRESSED[pressed[1]] || pressed[1]}”按钮）` : line.text;
    return el("div", { class: `bubble ${line.from}${pressed ? " pressed" : ""}` },
      el("small", {}, `${SENDERS[line.from] || line.from} ${clock(line.at)}`), text);
  }));
  if (!lines.length) box.append(el("p", { class: "muted" }, "还没有对话。"));
  box.scrollTop = box.scrollHeight;
}

async function accept(id) {
  try {
    await api("POST", `/api/staff/handoffs/${id}/accept`);
    toast("已接待，对方已收到通知。");
  } catch (error) {
    toast(error.status === 409 ? "这位群众已被其他同事接待。" : `接待失败：${error.message}`);
  }
  state.detailKey = null;
  await refreshQueue();
}

async function send(id) {
  const box = $("reply-text");
  const text = box.value.trim();
  if (!text) return;
  try {
    await api("POST", `/api/staff/handoffs/${id}/messages`, { text });
    box.value = "";
    await refreshQueue();
  } catch (error) {
    toast(error.code === "text_too_long" ? "回复太长了，请分几条发。" : `发送失败：${error.message}`);
  }
}

async function closeHandoff(id) {
  const note = $("close-note").value.trim();
  try {
    await api("POST", `/api/staff/handoffs/${id}/close`, { resolution_note: note || null });
    toast("已结束服务，助手会请对方评价。");
    state.selected = null;
    state.detailKey = null;
    $("conversation").replaceChildren(el("p", { class: "muted empty" }, "已结束。从左边选择下一位群众。"));
    await refreshQueue();
  } catch (error) {
    toast(`结束失败：${error.message}`);
  }
}

// ---- appointments ---------------------------------------------------------------------------------------------

function today() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
}

// A staff member sees their own centre's appointments only: the choice of centre is a supervisor's.
async function loadCentres() {
  const select = $("appt-centre");
  if (!state.centres.length) {
    state.centres = await api("GET", "/api/staff/centres");
    const services = await fetch("/api/services").then((r) => r.json()).catch(() => []);
    services.forEach((s) => { state.services[s.id] = s.name; });
  }
  const own = state.centres.filter((c) => isSupervisor() || c.id === state.me.centre_id);
  select.replaceChildren(...(isSupervisor() ? [el("option", { value: "" }, "全部")] : []),
    ...own.map((c) => el("option", { value: c.id }, c.name)));
  select.disabled = !isSupervisor();
  $("appt-no-centre").hidden = isSupervisor() || own.length > 0;
  if (!$("appt-date").value) $("appt-date").value = today();
}

$("appt-refresh").addEventListener("click", () => refreshAppointments());
$("appt-date").addEventListener("change", () => refreshAppointments());
$("appt-centre").addEventListener("change", () => refreshAppointments());

async function refreshAppointments() {
  if (!isSupervisor() && !state.me.centre_id) {
    $("appt-rows").replaceChildren();
    $("appt-empty").hidden = true;
    return;
  }
  const params = new URLSearchParams({ date: $("appt-date").value || today() });
  if ($("appt-centre").value) params.set("centre", $("appt-centre").value);
  const rows = await api("GET", `/api/staff/appointments?${params}`);
  $("appt-empty").hidden = rows.length > 0;
  $("appt-rows").replaceChildren(...rows.map((a) => {
    const name = el("td", {}, a.full_name);
    const phone = el("td", {}, a.phone);
    const status = el("span", { class: `tag ${a.status === "checked_in" ? "ok" : a.status === "cancelled" ? "warn" : ""}` },
      APPOINTMENT_STATUS[a.status] || a.status);
    const actions = el("div", { class: "actions" },
      a.status === "booked" ? el("button", { class: "primary", onclick: () => checkIn(a.id) }, "签到") : null,
      el("button", { onclick: () => revealContact(a.id, name, phone) }, "显示姓名电话"));
    return el("tr", {}, el("td", {}, `${a.start.slice(11, 16)}-${a.end.slice(11, 16)}`), el("td", {}, a.reference),
      el("td", {}, a.centre_name), el("td", {}, a.service_name), name, phone, el("td", {}, status), el("td", {}, actions));
  }));
}

async function checkIn(id) {
  try { await api("POST", `/api/staff/appointments/${id}/check-in`); toast("已签到。"); } catch (error) { toast(error.message); }
  refreshAppointments();
}

async function revealContact(id, nameCell, phoneCell) {
  if (!confirm("查看完整姓名和电话会记录在查看记录里。确定查看？")) return;
  const contact = await api("POST", `/api/staff/appointments/${id}/contact`);
  nameCell.textContent = contact.full_name;
  phoneCell.textContent = contact.phone;
}

// ---- tasks ----------------------------------------------------------------------------------------------------

$("task-refresh").addEventListener("click", () => refreshTasks());
$("task-status").addEventListener("change", () => refreshTasks());

async function refreshTasks() {
  const status = $("task-status").value;
  const tasks = await api("GET", `/api/staff/tasks?status=${status}`);
  $("tasks-empty").hidden = tasks.length > 0;
  $("tasks").replaceChildren(...tasks.map((t) => {
    const phone = el("span", {}, t.phone || "");
    const kind = el("span", { class: `tag ${t.kind === "callback" ? "" : "warn"}` }, TASK_KINDS[t.kind] || t.kind);
    const lines = [
      el("div", { class: "line" }, kind, el("span", { class: "muted" }, new Date(t.created_at).toLocaleString("zh-CN"))),
      el("div", {}, `${CHANNELS[t.channel] || t.channel}${t.service_name ? ` · ${t.service_name}` : ""}${t.time_window ? ` · 方便时间：${WINDOWS[t.time_window] || t.time_window}` : ""}`),
      t.summary ? el("div", {}, t.summary) : null,
      t.phone ? el("div", {}, "电话：", phone, " ", status === "open" ? el("button", { class: "link", onclick: () => revealPhone(t.id, phone) }, "显示完整号码") : null) : null,
      t.done_by ? el("div", { class: "muted" }, `${t.done_by} 已处理${t.done_note ? `：${t.done_note}` : ""}`) : null,
    ];
    if (status === "open") {
      const note = el("input", { placeholder: "处理结果，例如：已回电" });
      lines.push(el("div", { class: "close-row" }, note, el("button", { class: "primary", onclick: () => completeTask(t.id, note.value) }, "完成")));
    }
    return el("li", { class: "item" }, ...lines);
  }));
}

async function revealPhone(id, cell) {
  if (!confirm("查看完整号码会记录在查看记录里。确定查看？")) return;
  cell.textContent = (await api("POST", `/api/staff/tasks/${id}/phone`)).phone;
}

async function completeTask(id, note) {
  try { await api("POST", `/api/staff/tasks/${id}/done`, { note: note.trim() || null }); toast("已完成。"); } catch (error) { toast(error.message); }
  refreshTasks();
  poll();
}

// ---- text messages to residents without a push channel: waiting, failed (with their tries), sent again -----

const SMS_KINDS = { opt_in: "开通确认", reminder: "预约提醒", status: "办理进度", staff_reply: "工作人员回复" };
const SMS_STATUS = { waiting: "待发送", sent: "已发送", failed: "发送失败", opted_out: "已退订", not_needed: "已在页面看到" };

$("sms-refresh").addEventListener("click", () => refreshSms());
$("sms-status").addEventListener("change", () => refreshSms());

async function refreshSms() {
  const status = $("sms-status").value;
  const rows = await api("GET", `/api/staff/sms${status ? `?status=${status}` : ""}`);
  $("sms-empty").hidden = rows.length > 0;
  $("sms-rows").replaceChildren(...rows.map((n) => {
    const tag = el("span", { class: `tag ${n.status === "failed" ? "warn" : n.status === "sent" ? "ok" : ""}` }, SMS_STATUS[n.status] || n.status);
    const tries = n.status === "waiting" && n.next_attempt_at
      ? `${n.attempts} 次，${clock(n.next_attempt_at)} 再试` : `${n.attempts} 次`;
    const again = n.status === "failed" ? el("button", { class: "primary", onclick: () => retrySms(n.id) }, "重新发送") : null;
    return el("tr", {}, el("td", {}, new Date(n.created_at).toLocaleString("zh-CN")), el("td", {}, SMS_KINDS[n.kind] || n.kind),
      el("td", {}, n.reference || ""), el("td", {}, n.phone), el("td", {}, n.text ?? "（工作人员的回复，值班长可见）"),
      el("td", {}, tag, n.last_error ? el("div", { class: "muted" }, n.last_error) : null), el("td", {}, tries), el("td", {}, again));
  }));
}

async function retrySms(id) {
  try { await api("POST", `/api/staff/sms/${id}/retry`); toast("会在一分钟内重新发送。"); } catch (error) { toast(error.message); }
  refreshSms();
}

// ---- applications (when the applications API is there) and the audit log -------------------------------------

$("app-refresh").addEventListener("click", () => refreshApplications());
$("app-status").addEventListener("change", () => refreshApplications());

async function refreshApplications() {
  const status = $("app-status").value;
  const rows = await api("GET", `/api/staff/applications${status ? `?status=${status}` : ""}`);
  $("app-rows").replaceChildren(...rows.map((a) => {
    const choice = el("select", {}, ...Object.entries(APPLICATION_STATUS).map(([value, label]) =>
      el("option", { value, selected: value === a.status }, label)));
    const note = el("input", { placeholder: "给群众的说明（可选）" });
    const save = el("button", { class: "primary", onclick: async () => {
      try {
        await api("POST", `/api/staff/applications/${encodeURIComponent(a.reference)}/status`, { status: choice.value, note: note.value.trim() || null });
        toast("已更新，群众会收到通知。");
        refreshApplications();
      } catch (error) { toast(error.message); }
    } }, "更新");
    return el("tr", {}, el("td", {}, a.reference), el("td", {}, state.services[a.service] || a.service), el("td", {}, a.full_name),
      el("td", {}, a.phone), el("td", {}, APPLICATION_STATUS[a.status] || a.status), el("td", {}, el("div", { class: "actions" }, choice, note, save)));
  }));
}

async function refreshAudit() {
  const rows = await api("GET", "/api/staff/audit?limit=200");
  $("audit-rows").replaceChildren(...rows.map((r) => el("tr", {}, el("td", {}, new Date(r.created_at).toLocaleString("zh-CN")),
    el("td", {}, r.staff_username), el("td", {}, AUDIT_ACTIONS[r.action] || r.action), el("td", {}, r.subject), el("td", {}, r.detail))));
}

// An admin sets an account's centre and switches an account off here (as `make staff ... CENTRE=` and
// `ACTIVE=no` do); a switched-off account's logins end at once.
function centreChoice(account) {
  const choice = el("select", { "aria-label": `${account.username} 所属服务中心` },
    el("option", { value: "" }, "无（看不到预约）"),
    ...state.centres.map((c) => el("option", { value: c.id, selected: c.id === account.centre_id }, c.name)));
  choice.addEventListener("change", async () => {
    try {
      await api("POST", `/api/staff/accounts/${encodeURIComponent(account.username)}/centre`, { centre_id: choice.value || null });
      toast("已更新所属服务中心。");
    } catch (error) { toast(error.message); }
    refreshAccounts();
  });
  return choice;
}

async function refreshAccounts() {
  const accounts = await api("GET", "/api/staff/accounts");
  const roles = { staff: "工作人员", supervisor: "值班长", admin: "管理员" };
  $("account-rows").replaceChildren(...accounts.map((a) => {
    const off = el("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm(`停用账号 ${a.username}？停用后立即退出登录。`)) return;
      await api("POST", `/api/staff/accounts/${encodeURIComponent(a.username)}/deactivate`);
      refreshAccounts();
    } }, "停用");
    return el("tr", {}, el("td", {}, a.username), el("td", {}, roles[a.role] || a.role), el("td", {}, centreChoice(a)),
      el("td", {}, a.active ? (a.locked ? "暂时锁定" : "正常") : "已停用"),
      el("td", {}, a.active && a.username !== state.me.username ? off : ""));
  }));
}

// ---- start ----------------------------------------------------------------------------------------------------

if (state.token) start().catch(() => showLogin()); else showLogin();
