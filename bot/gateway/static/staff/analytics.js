// The analytics tab of the staff console (supervisors and admins): the period's figures as text, charts with
// their data tables, the CSV export, the printable monthly report, and the review of unanswered questions.
// It uses the console's helpers (api, el, $, toast, state, CHANNELS), loaded before it.
"use strict";

const StaffAnalytics = (() => {
  const FIELD_NAMES = { full_name: "姓名", id_number: "身份证号", phone: "手机号", address: "地址", unknown: "未记录" };
  const OUTCOMES = { alias: "设为说法", faq: "添加答复", dismissed: "忽略" };
  // The requests (intents of dialogues/domain/) a resident may mean without naming a service; a question attached
  // to one goes to knowledge_base/learned_examples.yml and is understood after the next training.
  const INTENTS = { check_status: "查进度", request_human: "找人工", book_appointment: "预约",
    cancel_appointment: "取消预约", complain: "投诉", request_callback: "请回电" };
  let last = null;
  let centres = {};

  const percent = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`);
  const seconds = (value) => (value === null || value === undefined ? "—" : value < 90 ? `${Math.round(value)} 秒` : `${(value / 60).toFixed(1)} 分钟`);
  const channelName = (c) => CHANNELS[c] || c;
  const serviceName = (s) => state.services[s] || s;
  const centreName = (c) => centres[c] || c;

  function isoDay(date) {
    const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return local.toISOString().slice(0, 10);
  }

  async function setUp() {
    if ($("an-channel").options.length > 1) return;
    Object.entries(CHANNELS).forEach(([id, name]) => $("an-channel").append(el("option", { value: id }, name)));
    const services = await fetch("/api/services").then((r) => r.json()).catch(() => []);
    services.forEach((s) => {
      state.services[s.id] = s.name;
      $("an-service").append(el("option", { value: s.id }, s.name));
    });
    const list = await api("GET", "/api/staff/centres").catch(() => []);
    list.forEach((c) => { centres[c.id] = c.name; $("an-centre").append(el("option", { value: c.id }, c.name)); });
  }

  function query(extra = {}) {
    // No dates yet: the server answers for this month so far in the city's time, and the inputs take its days.
    const params = new URLSearchParams();
    for (const [key, id] of [["from", "an-from"], ["to", "an-to"], ["channel", "an-channel"], ["service", "an-service"], ["centre", "an-centre"]]) {
      if ($(id).value) params.set(key, $(id).value);
    }
    for (const [key, value] of Object.entries(extra)) params.set(key, value);
    return params.toString();
  }

  async function refresh(extra) {
    await setUp();
    $("an-status").textContent = "正在统计…";
    try {
      last = await api("GET", `/api/staff/analytics?${query(extra)}`);
      $("an-from").value = last.from;
      $("an-to").value = last.to;
      if (!$("an-month").value) $("an-month").value = last.from.slice(0, 7);
      render(last);
      $("an-status").textContent = `${last.from} 至 ${last.to} 的数据已更新。`;
    } catch (error) {
      $("an-status").textContent = `统计失败：${error.message}`;
    }
  }

  function figure(label, value, note) {
    return el("div", { class: "kpi" }, el("dt", {}, label), el("dd", {}, value, note ? el("small", {}, note) : null));
  }

  function render(data) {
    const h = data.handoffs;
    const u = data.understanding;
    const ratingsTotal = data.rated;
    $("an-period").textContent = `${data.from} 至 ${data.to}`;
    $("an-kpis").replaceChildren(
      figure("会话", Charts.format(data.conversations)),
      figure("电话和自助机占比", percent(data.voice_kiosk_share)),
      figure("自助解决率", percent(data.contained_rate), "没有转人工"),
      figure("转人工", Charts.format(h.total), `接待 ${h.accepted}，放弃等待 ${h.abandoned}`),
      figure("等待时间中位数", seconds(h.median_wait_seconds), `90% 在 ${seconds(h.p90_wait_seconds)} 内`),
      figure("响应率", percent(h.response_rate), `${h.target_wait_seconds} 秒内接待`),
      figure("解决率", percent(h.resolution_rate), `${h.resolved} / ${h.served_and_complaints}`),
      figure("满意率", percent(data.satisfaction_rate), `共 ${ratingsTotal} 条评价`),
      figure("差评跟进", `${data.follow_ups.done} / ${data.follow_ups.total}`, `待跟进 ${data.follow_ups.open}`),
      figure("没听懂的消息", percent(u.below_threshold_share), `${u.below_threshold} / ${u.messages} 条低于置信度阈值`),
      figure("追问是哪项业务", Charts.format(u.clarifying_questions)),
      figure("已处理的未答问题", Charts.format(data.unanswered_closed.total),
        `说法 ${data.unanswered_closed.alias}，答复 ${data.unanswered_closed.faq}，忽略 ${data.unanswered_closed.dismissed}`),
    );
    $("an-definitions").replaceChildren(...Object.values(data.definitions).map((text) => el("li", {}, text)));

    const channels = Object.keys(data.by_channel);
    const days = data.by_day.map((d) => d.day.slice(5));
    $("an-charts").replaceChildren(
      Charts.bars({ id: "chart-days", title: "每天的会话（按渠道）", labels: days, stacked: true,
        series: channels.map((c) => ({ name: channelName(c), values: data.by_day.map((d) => d.by_channel[c] || 0) })) }),
      Charts.bars({ id: "chart-channels", title: "各渠道会话", labels: channels.map(channelName),
        series: [{ name: "会话", values: channels.map((c) => data.by_channel[c]) }] }),
      Charts.bars({ id: "chart-ratings", title: "好差评分布（1 非常不满意 … 5 非常满意）", labels: ["1 星", "2 星", "3 星", "4 星", "5 星"],
        series: [{ name: "评价", values: ["1", "2", "3", "4", "5"].map((k) => data.ratings[k]) }] }),
      Charts.bars({ id: "chart-forms", title: "各项申请：开始、提交、中途放弃", labels: data.applications.by_form.map((f) => serviceName(f.service)),
        series: [{ name: "开始", values: data.applications.by_form.map((f) => f.started) },
          { name: "提交", values: data.applications.by_form.map((f) => f.submitted) },
          { name: "放弃", values: data.applications.by_form.map((f) => f.abandoned) }] }),
      Charts.bars({ id: "chart-centres", title: "各服务中心预约：预约、到场、取消、未到", labels: data.appointments.by_centre.map((c) => centreName(c.centre)),
        series: [{ name: "预约", values: data.appointments.by_centre.map((c) => c.booked) },
          { name: "到场签到", values: data.appointments.by_centre.map((c) => c.checked_in) },
          { name: "取消", values: data.appointments.by_centre.map((c) => c.cancelled) },
          { name: "未到", values: data.appointments.by_centre.map((c) => c.no_show) }] }),
    );
    $("an-gave-up").replaceChildren(...(data.applications.by_form.filter((f) => f.abandoned).map((f) =>
      el("tr", {}, el("th", { scope: "row" }, serviceName(f.service)), el("td", {}, String(f.abandoned)),
        el("td", {}, Object.entries(f.gave_up_at).map(([field, n]) => `${FIELD_NAMES[field] || field} ${n}`).join("，"))))));
    if (!$("an-gave-up").children.length) $("an-gave-up").append(el("tr", {}, el("td", { colspan: "3" }, "这段时间没有中途放弃的申请。")));
    renderUnanswered(data.unanswered);
  }

  function renderUnanswered(rows) {
    const options = Object.entries(state.services).map(([id, name]) => el("option", { value: id }, name));
    $("an-unanswered").replaceChildren(...rows.map((row, i) => {
      const service = el("select", { id: `an-u-service-${i}`, "aria-label": `“${row.text}”属于哪项业务` },
        el("option", { value: "" }, "选择业务"), ...options.map((o) => o.cloneNode(true)));
      const answer = el("input", { id: `an-u-answer-${i}`, "aria-label": `“${row.text}”的答复（添加答复时填写）`, placeholder: "答复（添加答复时填写）", maxlength: "1000" });
      const intent = el("select", { id: `an-u-intent-${i}`, "aria-label": `“${row.text}”是想办哪件事（不属于某项业务时选）` },
        el("option", { value: "" }, "或选择想办的事"), ...Object.entries(INTENTS).map(([id, name]) => el("option", { value: id }, name)));
      const act = (outcome) => () => review(row.text, outcome, service.value, answer.value);
      return el("tr", {}, el("td", {}, row.text), el("td", {}, String(row.count)),
        el("td", { class: "review no-print" }, service, answer, intent,
          el("div", { class: "actions" },
            el("button", { type: "button", onclick: act("alias") }, OUTCOMES.alias),
            el("button", { type: "button", onclick: act("faq") }, OUTCOMES.faq),
            el("button", { type: "button", onclick: () => reviewAsIntent(row.text, intent.value) }, "设为这件事的说法"),
            el("button", { type: "button", class: "link", onclick: act("dismissed") }, OUTCOMES.dismissed))));
    }));
    if (!rows.length) $("an-unanswered").append(el("tr", {}, el("td", { colspan: "3" }, "没有待处理的未答问题。")));
  }

  async function review(text, outcome, service, answer) {
    try {
      await api("POST", "/api/staff/unanswered/review", { text, outcome, service: service || null, answer: answer || null });
      toast(outcome === "alias" ? "已加为这项业务的说法，助手马上就能听懂。" : outcome === "faq" ? "答复已加到这项业务的常见问题。" : "已忽略。");
      await refresh();
    } catch (error) {
      toast(error.code === "service_required" ? "请先选择业务。" : error.code === "alias_taken" ? "这个说法已经有业务在用。" : `没有成功：${error.message}`);
    }
  }

  async function reviewAsIntent(text, intent) {
    if (!intent) {
      toast("请先选择想办的事。");
      return;
    }
    try {
      await api("POST", "/api/staff/unanswered/review", { text, outcome: "alias", intent });
      toast(`已记为“${INTENTS[intent]}”的说法，下次训练助手模型后就能听懂。`);
      await refresh();
    } catch (error) {
      toast(`没有成功：${error.message}`);
    }
  }

  function bind() {
    $("an-refresh").addEventListener("click", () => refresh());
    $("an-month").addEventListener("change", () => {
      const [year, month] = $("an-month").value.split("-").map(Number);
      if (!year) return;
      $("an-from").value = isoDay(new Date(year, month - 1, 1));
      $("an-to").value = isoDay(new Date(year, month, 0));
      refresh();
    });
    $("an-csv").addEventListener("click", async () => {
      try {
        const response = await fetch(`/api/staff/analytics.csv?${query()}`, { headers: { Authorization: `Bearer ${state.token}` } });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `analytics-${$("an-from").value}-${$("an-to").value}.csv` });
        document.body.append(link);
        link.click();
        link.remove();
      } catch (error) {
        toast(`导出失败：${error.message}`);
      }
    });
    $("an-print").addEventListener("click", async () => {
      await refresh({ export: "print" });  // the printed report is recorded like a download
      window.print();
    });
    // Printed, every chart shows its numbers too.
    window.addEventListener("beforeprint", () => document.querySelectorAll(".chart-data").forEach((d) => { d.open = true; }));
  }

  bind();
  return { refresh };
})();
