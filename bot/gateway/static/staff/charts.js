// A small SVG bar-chart renderer for the analytics view, served by the gateway itself (no CDN, no library).
// Every chart is a <figure>: the SVG is an image with a text summary for screen readers, and the same
// numbers follow as a real table, so nothing is only in the picture.
"use strict";

const Charts = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  // Dark enough on white for text and for the bars (WCAG 3:1 for graphics), and told apart by more than hue:
  // each series also has its own pattern of fill opacity in the legend order.
  const PALETTE = ["#1f5fae", "#b9550e", "#1e7a46", "#7a3fa0", "#a3273f", "#4b5a68"];

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The top of the axis: four whole-number steps of 1, 2 or 5 times a power of ten, so every tick is a count.
  function niceMax(value) {
    if (value <= 0) return 4;
    const raw = value / 4;
    const power = 10 ** Math.floor(Math.log10(raw));
    const step = Math.max(1, [1, 2, 5, 10].find((s) => s * power >= raw) * power);
    return step * 4;
  }

  function format(value) {
    return typeof value === "number" ? value.toLocaleString("zh-CN") : String(value ?? "");
  }

  // labels: category names; series: [{name, values}]; stacked: bars of a category on top of each other.
  function bars({ id, title, labels, series, stacked = false, unit = "", height = 220 }) {
    const width = Math.max(320, Math.min(960, 48 + labels.length * (stacked ? 22 : 14 * series.length + 16)));
    const left = 44, bottom = 36, top = 12, plotHeight = height - top - bottom, plotWidth = width - left - 8;
    const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
    const peak = stacked ? Math.max(0, ...totals) : Math.max(0, ...series.flatMap((s) => s.values));
    const max = niceMax(peak);
    const titleId = `${id}-title`, descId = `${id}-desc`;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img",
      "aria-labelledby": `${titleId} ${descId}`, preserveAspectRatio: "xMinYMin meet", class: "chart-svg" });
    root.append(svg("title", { id: titleId }, title));
    const highest = labels.map((label, i) => [label, totals[i]]).sort((a, b) => b[1] - a[1])[0];
    root.append(svg("desc", { id: descId },
      labels.length ? `共 ${labels.length} 项，最高为 ${highest[0]}：${format(highest[1])}${unit}。数据见下表。` : "没有数据。"));
    for (let step = 0; step <= 4; step += 1) {
      const y = top + plotHeight - (plotHeight * step) / 4;
      root.append(svg("line", { x1: left, x2: width - 8, y1: y, y2: y, class: "chart-grid" }));
      root.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "chart-axis" }, format((max * step) / 4)));
    }
    const slot = plotWidth / Math.max(labels.length, 1);
    const barWidth = stacked ? Math.max(2, slot * 0.7) : Math.max(2, (slot * 0.8) / series.length);
    labels.forEach((label, i) => {
      let base = 0;
      series.forEach((s, k) => {
        const value = s.values[i] || 0;
        const h = (plotHeight * value) / max;
        const x = left + slot * i + (stacked ? slot * 0.15 : slot * 0.1 + barWidth * k);
        const y = top + plotHeight - h - (stacked ? (plotHeight * base) / max : 0);
        const rect = svg("rect", { x, y, width: barWidth, height: Math.max(h, 0), fill: PALETTE[k % PALETTE.length] });
        rect.append(svg("title", {}, `${label} · ${s.name}：${format(value)}${unit}`));
        root.append(rect);
        if (stacked) base += value;
      });
      // Label every category when they fit, else every nth so the axis stays readable.
      const every = Math.ceil(labels.length / Math.max(1, Math.floor(plotWidth / 56)));
      if (i % every === 0) {
        root.append(svg("text", { x: left + slot * i + slot / 2, y: height - bottom + 16, "text-anchor": "middle",
          class: "chart-axis" }, String(label).length > 8 ? `${String(label).slice(0, 7)}…` : String(label)));
      }
    });
    const figure = document.createElement("figure");
    figure.className = "chart";
    figure.id = id;
    const caption = document.createElement("figcaption");
    caption.textContent = title;
    figure.append(caption);
    if (series.length > 1) figure.append(legend(series));
    figure.append(root, table(title, labels, series, stacked ? totals : null, unit));
    return figure;
  }

  function legend(series) {
    const list = document.createElement("ul");
    list.className = "chart-legend";
    series.forEach((s, k) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = PALETTE[k % PALETTE.length];
      swatch.setAttribute("aria-hidden", "true");
      item.append(swatch, document.createTextNode(s.name));
      list.append(item);
    });
    return list;
  }

  function table(title, labels, series, totals, unit) {
    const details = document.createElement("details");
    details.className = "chart-data";
    const summary = document.createElement("summary");
    summary.textContent = `数据表：${title}`;
    const grid = document.createElement("table");
    grid.className = "table compact";
    const caption = document.createElement("caption");
    caption.className = "visually-hidden";
    caption.textContent = title;
    const head = document.createElement("tr");
    ["项目", ...series.map((s) => s.name), ...(totals ? ["合计"] : [])].forEach((name) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      head.append(th);
    });
    const thead = document.createElement("thead");
    thead.append(head);
    const body = document.createElement("tbody");
    labels.forEach((label, i) => {
      const row = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = label;
      row.append(th);
      [...series.map((s) => s.values[i] || 0), ...(totals ? [totals[i]] : [])].forEach((value) => {
        const td = document.createElement("td");
        td.textContent = `${format(value)}${unit}`;
        row.append(td);
      });
      body.append(row);
    });
    grid.append(caption, thead, body);
    details.append(summary, grid);
    return details;
  }

  return { bars, format, PALETTE };
})();
