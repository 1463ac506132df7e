// mna-reportd's page. Every string from the history is written with
// textContent (never parsed as HTML); charts are SVG drawn here.
"use strict";

const state = { jobs: [], failOffset: 0 };
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#aaaaaa"];
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v; else e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

async function api(path) {
  const res = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  if (!res.ok) throw new Error((body && body.error) || ("HTTP " + res.status));
  return body;
}

function showError(e) {
  const p = document.getElementById("error");
  if (e) { p.textContent = String(e.message || e); p.hidden = false; } else { p.hidden = true; }
}

// Wall time of Unix second `t` in IANA zone `zone`.
const fmtCache = new Map();
function parts(t, zone) {
  let f = fmtCache.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", weekday: "short" });
    fmtCache.set(zone, f);
  }
  const o = {};
  for (const p of f.formatToParts(new Date(t * 1000))) o[p.type] = p.value;
  return { y: o.year, m: o.month, d: o.day, H: o.hour === "24" ? "00" : o.hour, M: o.minute, wd: o.weekday };
}
function dateText(t, zone) { const p = parts(t, zone); return `${p.y}-${p.m}-${p.d}`; }
function timeText(t, zone) { if (t === null || t === undefined) return "-"; const p = parts(t, zone); return `${p.y}-${p.m}-${p.d} ${p.H}:${p.M}`; }
function windowText(a, b, zone) { return `${timeText(a, zone)} .. ${timeText(b, zone)}`; }

// Every time the page shows names its zone: a job's times are in the job's
// zone ("2026-12-07 17:01 (Asia/Shanghai, UTC+8)"), the header's clock in UTC.
const offsetCache = new Map();
function offsetText(t, zone) {
  let f = offsetCache.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "shortOffset" });
    offsetCache.set(zone, f);
  }
  const p = f.formatToParts(new Date(t * 1000)).find((x) => x.type === "timeZoneName");
  const v = p ? p.value.replace(/^GMT/, "UTC") : "UTC";
  return v === "UTC" ? "UTC+0" : v;
}
// The zone of the span [a, b] named, with its UTC offset (both when it changes).
function zoneText(a, b, zone) {
  if (zone === "UTC") return "UTC";
  const oa = offsetText(a, zone), ob = offsetText(b, zone);
  return `${zone}, ${oa === ob ? oa : oa + " .. " + ob}`;
}
function zonedText(t, zone) { return t === null || t === undefined ? "-" : `${timeText(t, zone)} (${zoneText(t, t, zone)})`; }
function zonedWindow(a, b, zone) { return `${windowText(a, b, zone)} (${zoneText(a, b, zone)})`; }

function bytes(n) {
  if (n === null || n === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = Math.abs(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (n < 0 ? "-" : "") + (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + " " + units[i];
}
// Seconds as the largest whole units, e.g. "2h 5m", "40s".
function duration(secs) {
  let s = Math.max(0, Math.floor(secs || 0));
  const parts = [];
  for (const [u, n] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (s >= n) { parts.push(`${Math.floor(s / n)}${u}`); s %= n; }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return parts.slice(0, 2).join(" ");
}
function isBytes(column) { return /byte|traffic|flow/i.test(column); }
function number(n, asBytes) {
  if (n === null || n === undefined) return "-";
  return asBytes ? bytes(n) : Number(n).toLocaleString("en-US");
}

function jobOf(name) { return state.jobs.find((j) => j.job === name); }

// ---- overview
function card(j) {
  const zone = j.timezone;
  const c = el("article", { class: "card", "data-job": j.job });
  const h = el("h3", {}, j.job, el("span", { class: "badge" + (j.enabled ? " good" : "") }, j.enabled ? "enabled" : "disabled"));
  if (j.failed > 0) h.append(el("span", { class: "badge bad" }, `${j.failed} failed`));
  if (j.stopped) h.append(el("span", { class: "badge bad" }, "stopped"));
  c.append(h);
  const dl = el("dl");
  const row = (k, v, cls) => { dl.append(el("dt", {}, k), el("dd", { class: cls }, v)); };
  // The daemon's last fire of the job stopped at an error no retry mends.
  if (j.stopped) row("Last fire stopped", j.stopped, "stopped");
  row("Windows", `${j.granularity}, every ${j.step_seconds}s, in ${zone}`);
  row("Schedule", j.schedule || "at every window end + lag");
  row("Next fire", j.enabled ? zonedText(j.next_fire, zone) : "- (disabled)", "next-fire");
  row("Last done window", j.last_done_window_start === null ? "-" : zonedWindow(j.last_done_window_start, j.last_done_window_end, zone), "last-done");
  row("Missing in horizon", String(j.missing), "missing");
  row("Failed in horizon", String(j.failed), "failed");
  row("Running", String(j.running), "running");
  row("Last success", zonedText(j.last_success_at, zone), "last-success");
  // With a bucket: the reports sealed and not uploaded yet, and how long the oldest waited.
  if (j.upload_backlog !== undefined) {
    row("Upload backlog", j.upload_backlog === 0 ? "0 (every sealed report uploaded)" : `${j.upload_backlog} waiting, the oldest for ${duration(j.upload_lag_seconds)}`, "upload-backlog");
  }
  if (j.last_error) {
    row("Last error", `${j.last_error.code}: ${j.last_error.message}`, "last-error");
    row("Fix", j.last_error_hint || "-", "last-error-hint");
  } else {
    row("Last error", "-", "last-error");
  }
  c.append(dl);
  return c;
}

async function refreshOverview() {
  const data = await api("/api/jobs");
  state.jobs = data.jobs;
  const cards = document.getElementById("cards");
  cards.replaceChildren(...data.jobs.map(card));
  document.getElementById("updated").textContent = "updated " + zonedText(data.now, "UTC");
  cards.dataset.loaded = "1";
}

// ---- calendar
function fillJobs(select, keep) {
  const current = keep || select.value;
  select.replaceChildren(...state.jobs.map((j) => el("option", { value: j.job }, j.job)));
  if (current && jobOf(current)) select.value = current;
}

function fillTargets() {
  const j = jobOf(document.getElementById("cal-job").value);
  const sel = document.getElementById("cal-target");
  const opts = [el("option", { value: "" }, "whole job")];
  if (j) j.choices.forEach((c, i) => opts.push(el("option", { value: String(i) }, c.label)));
  if (j && j.choices_total > j.choices.length) opts.push(el("option", { value: "more", disabled: true }, `... and ${j.choices_total - j.choices.length} more`));
  sel.replaceChildren(...opts);
}

function monthNow(zone) { const p = parts(Math.floor(Date.now() / 1000), zone); return `${p.y}-${p.m}`; }
function dayNow(zone) { const p = parts(Math.floor(Date.now() / 1000), zone); return `${p.y}-${p.m}-${p.d}`; }

function byDay(j) { return j.step_seconds < 3600; }

function cellEl(c, zone, job) {
  const td = el("td", {
    class: "cell s-" + c.state, tabindex: 0, "data-start": c.start, "data-end": c.end, "data-state": c.state,
    "data-report": c.report === null ? null : c.report,
  });
  const counts = Object.entries(c.counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(", ");
  td.title = `${zonedWindow(c.start, c.end, zone)}: ${c.state}${counts ? " (" + counts + ")" : ""}`;
  td.addEventListener("click", () => selectCell(td, job, c));
  td.addEventListener("keydown", (e) => { if (e.key === "Enter") selectCell(td, job, c); });
  return td;
}

function renderGrid(cal, j) {
  const zone = cal.timezone;
  const grid = document.getElementById("cal-grid");
  const table = el("table", { "data-job": cal.job, "data-from": cal.from, "data-to": cal.to });
  const step = j.step_seconds;
  if (step >= 86400) {
    // A month calendar: weeks x weekdays.
    const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    table.append(el("thead", {}, el("tr", {}, ...days.map((d) => el("th", {}, d)))));
    const body = el("tbody");
    let tr = null;
    cal.cells.forEach((c, i) => {
      const wd = days.indexOf(parts(c.start, zone).wd);
      if (!tr || wd === 0) { tr = el("tr"); body.append(tr); if (i === 0) for (let k = 0; k < wd; k++) tr.append(el("td")); }
      const td = cellEl(c, zone, cal.job); td.classList.add("wide"); td.textContent = parts(c.start, zone).d; tr.append(td);
    });
    table.append(body);
  } else {
    // Rows of a day (hour windows and longer) or of an hour (shorter ones).
    const perRow = step >= 3600 ? 86400 : 3600;
    const cols = Math.max(1, Math.round(perRow / step));
    const head = el("tr", {}, el("th"));
    for (let k = 0; k < cols; k++) {
      const minutes = Math.round((k * step) / 60);
      head.append(el("th", {}, step >= 3600 ? String(Math.floor(minutes / 60)).padStart(2, "0") : String(minutes % 60).padStart(2, "0")));
    }
    table.append(el("thead", {}, head));
    const body = el("tbody");
    const rows = new Map();
    for (const c of cal.cells) {
      const p = parts(c.start, zone);
      const key = step >= 3600 ? `${p.y}-${p.m}-${p.d}` : `${p.y}-${p.m}-${p.d} ${p.H}:00`;
      let r = rows.get(key);
      if (!r) { r = { tr: el("tr", {}, el("th", { scope: "row" }, key)), slots: new Array(cols).fill(null) }; rows.set(key, r); body.append(r.tr); }
      const minuteOfRow = step >= 3600 ? Number(p.H) * 60 + Number(p.M) : Number(p.M);
      let slot = Math.min(cols - 1, Math.floor((minuteOfRow * 60) / step));
      while (slot < cols && r.slots[slot]) slot++;
      if (slot < cols) r.slots[slot] = c; else r.slots.push(c);
    }
    for (const r of rows.values()) {
      for (const c of r.slots) r.tr.append(c ? cellEl(c, zone, cal.job) : el("td"));
    }
    table.append(body);
  }
  table.prepend(el("caption", { class: "zone" }, `Windows in ${zoneText(cal.from, cal.to - 1, zone)}`));
  grid.replaceChildren(table);
  grid.dataset.loaded = String(Date.now());
}

async function loadCalendar() {
  const job = document.getElementById("cal-job").value;
  const j = jobOf(job);
  if (!j) return;
  const day = byDay(j);
  document.getElementById("cal-month-label").hidden = day;
  document.getElementById("cal-day-label").hidden = !day;
  const m = document.getElementById("cal-month"), d = document.getElementById("cal-day");
  if (!m.value) m.value = monthNow(j.timezone);
  if (!d.value) d.value = dayNow(j.timezone);
  const q = new URLSearchParams(day ? { day: d.value } : { month: m.value });
  const t = document.getElementById("cal-target").value;
  if (t !== "") { const c = j.choices[Number(t)]; q.set("target", c.target); q.set("region", c.region); }
  const cal = await api(`/api/jobs/${encodeURIComponent(job)}/calendar?${q}`);
  renderGrid(cal, j);
}

function dl(pairs) {
  const d = el("dl");
  for (const [k, v, cls] of pairs) d.append(el("dt", {}, k), el("dd", { class: cls }, v === null || v === undefined || v === "" ? "-" : v));
  return d;
}

async function showReport(id) {
  const r = await api(`/api/reports/${id}`);
  const j = jobOf(r.job);
  const zone = j ? j.timezone : "UTC";
  const box = document.getElementById("detail");
  const links = el("p", { class: "links" });
  if (r.has_file) links.append(el("a", { href: `/api/reports/${r.id}/file`, class: "download", download: "" }, "download xlsx"), " ");
  links.append(el("a", { href: `/api/reports/${r.id}/rows.csv`, class: "rows-csv" }, "rows as CSV"));
  const attempts = el("table", { class: "attempts" }, el("thead", {}, el("tr", {}, ...["#", "kind", "started", "ms", "HTTP", "code", "message", "request id"].map((h) => el("th", {}, h)))));
  const tb = el("tbody");
  for (const a of r.attempts_list) {
    tb.append(el("tr", {}, ...[a.attempt, a.kind, zonedText(a.started_at, zone), a.duration_ms, a.http_status, a.error_code, a.error_message, a.request_id].map((v) => el("td", {}, v === null ? "-" : v))));
  }
  attempts.append(tb);
  box.replaceChildren(
    el("h3", {}, `Report ${r.id}`),
    dl([
      ["Job", r.job], ["Target", r.target, "target"], ["Region", r.region, "region"],
      ["Window", zonedWindow(r.window_start, r.window_end, zone), "window"],
      ["State", r.status, "status"], ["Tries", String(r.attempts), "tries"],
      ["Request id", r.request_id, "request-id"], ["Error code", r.error_code, "error-code"],
      ["Message", r.error_message, "error-message"], ["Fix", r.hint, "hint"],
      ["Size", r.bytes === null ? null : bytes(r.bytes), "size"],
      ["File kept", r.stored === null ? null : { local: "on disk", remote: "in the bucket (downloaded through this page)", both: "on disk and in the bucket" }[r.stored] || r.stored, "stored"],
    ]),
    links,
    el("h4", {}, "Attempts"),
    attempts,
  );
  box.dataset.report = String(r.id);
}

async function selectCell(td, job, c) {
  document.querySelectorAll(".cell.selected").forEach((x) => x.classList.remove("selected"));
  td.classList.add("selected");
  const box = document.getElementById("detail");
  const j = jobOf(job);
  try {
    if (c.report !== null) { await showReport(c.report); return; }
    const list = await api(`/api/jobs/${encodeURIComponent(job)}/reports?start=${c.start}&end=${c.end}&limit=50`);
    const t = document.getElementById("cal-target").value;
    const shown = t === "" ? list : list.filter((r) => { const ch = j.choices[Number(t)]; return r.target === ch.target; });
    box.dataset.report = "";
    if (shown.length === 0) {
      box.replaceChildren(el("h3", {}, zonedWindow(c.start, c.end, j.timezone)), el("p", { class: "state" }, c.state === "not-due" ? "not yet due" : c.state === "empty" ? "no report belongs to this window: its devices were created after it ended" : c.state === "old" ? "no report recorded: ended before the horizon (catch_up), so the daemon does not fetch it; mna-reportd fetch --from --to does" : "no report recorded: due, not done"));
      return;
    }
    const ul = el("ul");
    for (const r of shown) {
      const a = el("a", { href: "#calendar" }, `${r.target} (${r.region}): ${r.status}${r.error_code ? " " + r.error_code : ""}${r.stored ? " [" + r.stored + "]" : ""}`);
      a.addEventListener("click", (e) => { e.preventDefault(); showReport(r.id).catch(showError); });
      ul.append(el("li", {}, a));
    }
    box.replaceChildren(el("h3", {}, zonedWindow(c.start, c.end, j.timezone)), el("p", {}, `${c.state}; reports (first 50):`), ul);
  } catch (e) { showError(e); }
}

// ---- traffic
// The total's colour: its line, its points and its swatch in the table.
const TOTAL = "#111111";

// Ticks at round hours or days of the zone: the smallest step of these that
// gives at most 8 over the windows shown; [index, label] each.
const TICK_STEPS = [[1, 3600], [2, 3600], [3, 3600], [6, 3600], [12, 3600], [1, 86400], [2, 86400], [5, 86400], [7, 86400], [14, 86400]];
function ticks(windows, zone) {
  if (windows.length === 0) return [];
  const span = windows[windows.length - 1] - windows[0];
  for (const [n, unit] of TICK_STEPS) {
    if (span / (n * unit) > 8 && n * unit < 14 * 86400) continue;
    const out = [];
    windows.forEach((t, i) => {
      const p = parts(t, zone);
      if (p.M !== "00") return;
      const midnight = p.H === "00";
      if (unit === 3600 && Number(p.H) % n === 0) out.push([i, midnight ? `${p.m}-${p.d}` : `${p.H}:00`]);
      else if (unit === 86400 && midnight && (Number(p.d) - 1) % n === 0) out.push([i, `${p.m}-${p.d}`]);
    });
    if (out.length > 0) return out;
  }
  return [[0, timeText(windows[0], zone).slice(5)]];
}

function drawChart(ch, windows, zone, range) {
  const W = 800, H = 270, L = 70, R = 40, T = 10, B = 40;
  const asBytes = isBytes(ch.column);
  const series = ch.top.concat(ch.other ? [ch.other] : []);
  let max = 0;
  for (const v of ch.total) if (v !== null && v > max) max = v;
  if (max <= 0) max = 1;
  const x = (i) => L + (windows.length <= 1 ? 0 : (i * (W - L - R)) / (windows.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const s = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", class: "line-chart", "data-column": ch.column, "data-sheet": ch.sheet });
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    s.append(svg("line", { class: "gridline", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    const t = svg("text", { class: "tick", x: L - 4, y: y(v) + 3, "text-anchor": "end" }); t.textContent = number(v, asBytes); s.append(t);
  }
  for (const [i, label] of ticks(windows, zone)) {
    s.append(svg("line", { class: "gridline", x1: x(i), x2: x(i), y1: T, y2: H - B }));
    const t = svg("text", { class: "tick x-tick", x: x(i), y: H - B + 13, "text-anchor": "middle", "data-start": windows[i] }); t.textContent = label; s.append(t);
  }
  if (windows.length > 0) {
    const z = svg("text", { class: "tick zone", x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" });
    z.textContent = `window start, ${zoneText(windows[0], windows[windows.length - 1], zone)}`;
    s.append(z);
  }
  s.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }), svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  const line = (values, attrs) => {
    const pts = [];
    values.forEach((v, i) => { if (v !== null) pts.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`); });
    s.append(svg("polyline", Object.assign({ points: pts.join(" ") }, attrs)));
  };
  // One target: its line is the total, drawn once, in the total's colour.
  const colour = (k) => (series.length > 1 ? COLORS[k % COLORS.length] : TOTAL);
  if (series.length > 1) series.forEach((se, k) => line(se.values, { class: "series", stroke: colour(k), "data-target": se.target }));
  line(ch.total, { class: "total", stroke: TOTAL });
  ch.total.forEach((v, i) => {
    const c = svg("circle", { class: "pt" + (v === null ? " none" : ""), cx: x(i).toFixed(1), cy: (v === null ? y(0) : y(v)).toFixed(1), r: 2, fill: v === null ? "none" : TOTAL, "data-start": windows[i], "data-value": v === null ? "" : v });
    const t = svg("title", {}); t.textContent = `${zonedText(windows[i], zone)}: ${number(v, asBytes)}`; c.append(t);
    s.append(c);
  });
  const top = el("table", { class: "top list" }, el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "Target"), el("th", {}, "Total"))));
  const tb = el("tbody");
  series.forEach((se, k) => {
    tb.append(el("tr", { "data-target": se.target }, el("td", {}, el("span", { class: "swatch", "data-color": colour(k) })), el("td", {}, se.name ? `${se.name} (${se.target})` : se.target), el("td", {}, number(se.total, asBytes))));
  });
  if (series.length > 1) {
    const sum = ch.total.reduce((a, v) => a + (v === null ? 0 : v), 0);
    tb.append(el("tr", { class: "total-row" }, el("td", {}, el("span", { class: "swatch", "data-color": TOTAL })), el("td", {}, "all targets (total)"), el("td", {}, number(sum, asBytes))));
  }
  top.append(tb);
  // The swatch colours: set as style properties (no inline style attribute under the CSP).
  top.querySelectorAll(".swatch").forEach((sw) => { sw.style.background = sw.dataset.color; });
  const parts = [el("h3", {}, `${ch.sheet} / ${ch.column}${asBytes ? " (bytes)" : ""}, ${range}`), s, top];
  if (ch.skipped > 0) parts.push(el("p", { class: "muted skipped" }, `${ch.skipped} cell${ch.skipped === 1 ? "" : "s"} of this column that are not numbers left out.`));
  return el("figure", { class: "chart", "data-column": ch.column }, ...parts);
}

// "YYYY-MM-DD" / "YYYY-MM" moved by n days / months (calendar arithmetic).
function shiftDay(s, n) { const [y, m, d] = s.split("-").map(Number); return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10); }
function shiftMonth(s, n) { const [y, m] = s.split("-").map(Number); return new Date(Date.UTC(y, m - 1 + n, 1)).toISOString().slice(0, 7); }

// The traffic view of each job ("month" or "day"): windows shorter than an
// hour have the day only, as the calendar (a month of them is thousands of
// points); the others start with the month.
const trafficViews = new Map();
function trafficView(j) { return byDay(j) ? "day" : trafficViews.get(j.job) || "month"; }

// Switch the view of the job shown, staying in the same period: a day of
// the month shown (today in the current month, else its first), or the
// month of the day shown.
function setTrafficView(view) {
  const j = jobOf(document.getElementById("tr-job").value);
  if (!j) return Promise.resolve();
  const m = document.getElementById("tr-month"), d = document.getElementById("tr-day");
  if (view === "day" && m.value && d.value.slice(0, 7) !== m.value) d.value = m.value === monthNow(j.timezone) ? dayNow(j.timezone) : `${m.value}-01`;
  if (view === "month" && d.value) m.value = d.value.slice(0, 7);
  trafficViews.set(j.job, view);
  return loadTraffic();
}

// The previous (-1) or next (1) month or day.
function stepTraffic(n) {
  const j = jobOf(document.getElementById("tr-job").value);
  if (!j) return Promise.resolve();
  const m = document.getElementById("tr-month"), d = document.getElementById("tr-day");
  if (trafficView(j) === "day") d.value = shiftDay(d.value || dayNow(j.timezone), n);
  else m.value = shiftMonth(m.value || monthNow(j.timezone), n);
  return loadTraffic();
}

async function loadTraffic() {
  const job = document.getElementById("tr-job").value;
  const j = jobOf(job);
  if (!j) return;
  const view = trafficView(j);
  document.getElementById("tr-month-label").hidden = view === "day";
  document.getElementById("tr-day-label").hidden = view !== "day";
  document.querySelectorAll("#traffic .switch button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === view)));
  const monthButton = document.getElementById("tr-view-month");
  monthButton.disabled = byDay(j);
  monthButton.title = byDay(j) ? "windows shorter than an hour: a day at a time" : "";
  const m = document.getElementById("tr-month"), d = document.getElementById("tr-day");
  if (!m.value) m.value = monthNow(j.timezone);
  if (!d.value) d.value = dayNow(j.timezone);
  const q = new URLSearchParams(view === "day" ? { day: d.value } : { month: m.value });
  const tr = await api(`/api/jobs/${encodeURIComponent(job)}/traffic?${q}`);
  const box = document.getElementById("charts");
  const range = view === "day" ? `day ${d.value}` : `month ${m.value}`;
  if (tr.charts.length === 0) box.replaceChildren(el("p", { class: "muted" }, "No rows with numbers in this range."));
  else box.replaceChildren(...tr.charts.map((c) => drawChart(c, tr.windows, j.timezone, range)));
  box.dataset.loaded = String(Date.now());
  box.dataset.windows = String(tr.windows.length);
  box.dataset.view = view;
  box.dataset.range = view === "day" ? d.value : m.value;
}

// ---- failures
async function loadFailures(more) {
  if (!more) state.failOffset = 0;
  const page = await api(`/api/failures?limit=50&offset=${state.failOffset}`);
  const body = document.getElementById("fail-rows");
  if (!more) body.replaceChildren();
  for (const f of page.items) {
    const j = jobOf(f.job);
    const zone = j ? j.timezone : "UTC";
    const a = el("a", { href: "#calendar", class: "to-cell" }, "show");
    a.addEventListener("click", (e) => { e.preventDefault(); goToCell(f).catch(showError); });
    body.append(el("tr", { "data-report": f.report, "data-status": f.status },
      el("td", { class: "window" }, zonedWindow(f.window_start, f.window_end, zone)), el("td", {}, f.job), el("td", {}, f.target), el("td", {}, f.region),
      el("td", {}, f.status), el("td", {}, f.error_code || "-"), el("td", {}, f.error_message || "-"), el("td", {}, f.hint || "-"), el("td", {}, a)));
  }
  state.failOffset += page.items.length;
  document.getElementById("fail-count").textContent = `${page.total} failed or missing report(s) inside the horizon, newest first`;
  document.getElementById("fail-more").hidden = state.failOffset >= page.total;
  body.dataset.loaded = "1";
}

async function goToCell(f) {
  const j = jobOf(f.job);
  document.getElementById("cal-job").value = f.job;
  fillTargets();
  const i = j.choices.findIndex((c) => c.target === f.target && (c.region === f.region || (c.region === "" && f.region === "ALL")));
  document.getElementById("cal-target").value = i < 0 ? "" : String(i);
  const p = parts(f.window_start, j.timezone);
  document.getElementById("cal-month").value = `${p.y}-${p.m}`;
  document.getElementById("cal-day").value = `${p.y}-${p.m}-${p.d}`;
  await loadCalendar();
  const td = document.querySelector(`#cal-grid td[data-start="${f.window_start}"]`);
  document.getElementById("calendar").scrollIntoView();
  if (td) td.click();
}

async function start() {
  try {
    await refreshOverview();
    fillJobs(document.getElementById("cal-job"));
    fillJobs(document.getElementById("tr-job"));
    fillTargets();
    await Promise.all([loadCalendar(), loadTraffic(), loadFailures(false)]);
    showError(null);
  } catch (e) { showError(e); }
  const on = (id, ev, f) => document.getElementById(id).addEventListener(ev, () => f().catch(showError));
  on("cal-job", "change", async () => { fillTargets(); await loadCalendar(); });
  on("cal-target", "change", loadCalendar);
  on("cal-month", "change", loadCalendar);
  on("cal-day", "change", loadCalendar);
  on("tr-job", "change", loadTraffic);
  on("tr-month", "change", loadTraffic);
  on("tr-day", "change", loadTraffic);
  on("tr-view-month", "click", () => setTrafficView("month"));
  on("tr-view-day", "click", () => setTrafficView("day"));
  on("tr-prev", "click", () => stepTraffic(-1));
  on("tr-next", "click", () => stepTraffic(1));
  on("fail-more", "click", () => loadFailures(true));
  // Live: the overview and the failures refresh themselves.
  setInterval(() => { Promise.all([refreshOverview(), loadFailures(false)]).then(() => showError(null), showError); }, 15000);
}

document.addEventListener("DOMContentLoaded", start);

// ---- recent runs: the last fires and manual fetches, refreshed on their own
const RUNS_SHOWN = 10;

function utcText(t) {
  if (t === null || t === undefined) return "-";
  return new Date(t * 1000).toISOString().replace(".000Z", "Z").replace("T", " ");
}

function tookText(r) {
  if (r.ended_at === null || r.ended_at === undefined) return r.outcome === "running" ? "running" : "-";
  const s = Math.max(0, r.ended_at - r.started_at);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

async function loadRuns() {
  const runs = await api(`/api/runs?limit=${RUNS_SHOWN}`);
  const body = document.getElementById("run-rows");
  if (runs.length === 0) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "10", class: "muted" }, "no runs recorded yet")));
  } else {
    body.replaceChildren(...runs.map((r) => el("tr", { "data-run": r.id, "data-outcome": r.outcome },
      el("td", {}, utcText(r.started_at)), el("td", {}, tookText(r)), el("td", {}, r.trigger), el("td", {}, r.jobs.join(", ")),
      el("td", {}, String(r.planned)), el("td", {}, String(r.ok)), el("td", {}, String(r.failed)), el("td", {}, String(r.skipped)),
      el("td", { class: "outcome o-" + r.outcome }, r.outcome), el("td", {}, r.reason || "-"))));
  }
  body.dataset.loaded = "1";
}

function startRuns() {
  loadRuns().catch(showError);
  setInterval(() => { loadRuns().catch(showError); }, 15000);
}

document.addEventListener("DOMContentLoaded", startRuns);
