/* R2D2 web pages: containment graph (cytoscape.js), detect funnel and plan charts (Chart.js), runs.
 *
 * The token is asked for once per tab, kept in sessionStorage and sent as a bearer header on every API
 * call; a 401 forgets it and asks again. Milestones are emitted as DOM events on `document` and kept in
 * `window.r2d2.events` (the headless-browser tests wait on them): "r2d2:graph-rendered" (detail: nodes,
 * edges, layout, fetchMs, buildMs, layoutMs, sinceNavigationMs), "r2d2:details-shown", "r2d2:funnel-rendered",
 * "r2d2:plan-rendered", "r2d2:runs-rendered", "r2d2:edge-tip" (detail: id, text; an edge's tooltip shown).
 */
"use strict";

const TOKEN_KEY = "r2d2.token";
const LARGE_GRAPH = 400; // above this many nodes, "auto" layout is concentric (cose is O(n²) per step)
const POLL_BUSY_MS = 2000;
const POLL_IDLE_MS = 10000;

const r2d2 = (window.r2d2 = { events: [], cy: null, charts: {}, planDeleted: new Map() });
const $ = (sel) => document.querySelector(sel);

function emit(name, detail = {}) {
  r2d2.events.push({ name, detail, at: performance.now() });
  document.dispatchEvent(new CustomEvent(name, { detail }));
}

// ---- formatting -----------------------------------------------------------------------------------

function fmtBytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(i && Math.abs(v) < 10 ? 1 : 0)} ${units[i]}`;
}
const fmtInt = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));
function fmtMoney(x) {
  if (x == null) return "–";
  const a = Math.abs(x);
  return "$" + (a >= 100 ? x.toFixed(0) : a >= 1 ? x.toFixed(2) : a >= 0.01 ? x.toFixed(4) : x.toPrecision(2));
}
function fmtSeconds(s) {
  if (s == null) return "no limit";
  if (s === "Infinity") return "no limit";
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
const shortName = (loc) => {
  const parts = String(loc).replace(/\/+$/, "").split("/");
  return parts[parts.length - 1] || loc;
};
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return node;
}

// ---- auth and API ---------------------------------------------------------------------------------

class Unauthorized extends Error {}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(path) {
  const t = token();
  if (!t) throw new Unauthorized("no token");
  const res = await fetch(path, { headers: { Authorization: `Bearer ${t}`, Accept: "application/json" } });
  if (res.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askToken("The token was refused (401): it is invalid or revoked.");
    throw new Unauthorized("401");
  }
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(`${path}: ${res.status} ${detail}`);
  }
  return res.json();
}

function askToken(message = "") {
  $("#login-error").textContent = message;
  const dlg = $("#login");
  if (!dlg.open) dlg.showModal();
  $("#token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const value = $("#token").value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  try {
    await api("/runs?limit=1");
  } catch (err) {
    if (!(err instanceof Unauthorized)) $("#login-error").textContent = String(err.message || err);
    return;
  }
  $("#token").value = "";
  $("#login").close();
  start();
}

// ---- tabs -----------------------------------------------------------------------------------------

const loaded = new Set();
function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll("main > .tab")) s.classList.toggle("active", s.id === `tab-${name}`);
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  if (name === "graph" && r2d2.cy) r2d2.cy.resize();
  if (!loaded.has(name)) {
    loaded.add(name);
    ({ graph: loadGraph, funnel: loadFunnel, plan: loadPlans, runs: pollRuns }[name])().catch(report);
  }
}

function report(err) {
  if (err instanceof Unauthorized) return;
  console.error(err);
  $("#graph-status").textContent = `error: ${err.message || err}`;
}

// ---- containment graph ----------------------------------------------------------------------------

const EDGE_STYLE = [
  ["contains", "verified", "#2563eb", "solid"],
  ["contains", "inferred", "#60a5fa", "dashed"],
  ["duplicate", "verified", "#9333ea", "solid"],
  ["duplicate", "inferred", "#c084fc", "dashed"],
];

function graphStyle() {
  const style = [
    { selector: "node", style: {
      width: "data(size)", height: "data(size)", "background-color": "#9ca3af",
      label: "data(label)", "font-size": 10, "min-zoomed-font-size": 7, color: "#374151",
      "text-valign": "bottom", "text-margin-y": 2, "border-width": 0 } },
    { selector: "node.child", style: { "background-color": "#f97316" } },
    { selector: "node.parent", style: { "background-color": "#0d9488" } },
    { selector: "node.delete", style: { "border-width": 3, "border-color": "#dc2626" } },
    { selector: "node:selected", style: { "border-width": 4, "border-color": "#111827", "z-index": 10 } },
    { selector: "edge", style: {
      width: 1.5, "curve-style": "haystack", "line-color": "#d1d5db", opacity: 0.9 } },
    { selector: "edge[state = 'candidate']", style: { "line-color": "#f59e0b", "line-style": "dotted" } },
    { selector: "edge[state = 'pruned']", style: { "line-color": "#d1d5db", "line-style": "dotted", opacity: 0.6 } },
    { selector: ".faded", style: { opacity: 0.12 } },
    { selector: "edge.hl", style: { width: 3, "z-index": 9 } },
  ];
  for (const [relation, state, colour, line] of EDGE_STYLE) {
    style.push({ selector: `edge[relation = '${relation}'][state = '${state}']`,
                 style: { "line-color": colour, "line-style": line, "target-arrow-color": colour } });
  }
  // Report-only relations (never deleted on): an overlap is dashed and labelled with its share of rows,
  // a containment except generated keys is dotted (its tooltip names the columns). After the rules
  // above, so that they win.
  style.push(
    { selector: "edge.overlaps", style: {
      "curve-style": "straight", "line-color": OVERLAPS_COLOUR, "line-style": "dashed", "line-dash-pattern": [7, 4],
      width: 2, label: "data(label)", "font-size": 9, color: "#065f46", "text-rotation": "autorotate",
      "text-background-color": "#fff", "text-background-opacity": 0.8, "text-background-padding": 1,
      "min-zoomed-font-size": 6 } },
    { selector: "edge.except", style: {
      "curve-style": "straight", "line-color": EXCEPT_COLOUR, "line-style": "dotted", width: 2.5 } },
  );
  return style;
}

const OVERLAPS_COLOUR = "#059669";
const EXCEPT_COLOUR = "#0891b2";
const pct = (x) => `${(100 * x).toFixed(1)}%`;

/** What an edge's tooltip and the details list say about a report-only relation. */
function edgeNote(e) {
  if (e.relation === "overlaps" && e.fraction != null) return `overlaps: ${pct(e.fraction)} of the child's rows are in the parent`;
  if (e.except_columns && e.except_columns.length) return `contains except ${e.except_columns.join(", ")} (generated keys)`;
  return "";
}

function edgeTip(cy) {
  const tip = $("#edge-tip");
  cy.on("mouseover", "edge", (evt) => {
    const e = evt.target;
    const text = e.data("tip");
    if (!text) return;
    const p = e.renderedMidpoint();
    tip.textContent = text;
    tip.style.left = `${p.x + 8}px`;
    tip.style.top = `${p.y + 8}px`;
    tip.hidden = false;
    emit("r2d2:edge-tip", { id: e.id(), text });
  });
  cy.on("mouseout", "edge", () => { tip.hidden = true; });
  cy.on("viewport", () => { tip.hidden = true; });
}

function layoutOptions(name, n) {
  const chosen = name === "auto" ? (n > LARGE_GRAPH ? "concentric" : "cose") : name;
  const base = { name: chosen, animate: false, fit: true, padding: 20 };
  if (chosen === "cose") {
    return { ...base, randomize: true, nodeDimensionsIncludeLabels: false, numIter: n > LARGE_GRAPH ? 300 : 1000,
             idealEdgeLength: () => 60, nodeRepulsion: () => 8000, componentSpacing: 60 };
  }
  if (chosen === "concentric") {
    return { ...base, concentric: (node) => node.degree(false), levelWidth: () => 2,
             minNodeSpacing: 4, avoidOverlap: n <= 3000, spacingFactor: 1 };
  }
  if (chosen === "breadthfirst") return { ...base, directed: true, spacingFactor: 0.9, avoidOverlap: n <= 1000 };
  return { ...base, avoidOverlap: true, condense: true,
           sort: (a, b) => b.degree(false) - a.degree(false) || b.data("bytes") - a.data("bytes") };
}

function graphStates() {
  const states = ["verified", "inferred"];
  if ($("#show-candidates").checked) states.push("candidate");
  if ($("#show-pruned").checked) states.push("pruned");
  return states.join(",");
}

async function loadGraph() {
  const t0 = performance.now();
  $("#graph-status").textContent = "loading…";
  const data = await api(`/ui/api/graph?states=${graphStates()}`);
  const t1 = performance.now();
  const maxBytes = Math.max(1, ...data.nodes.map((n) => n.bytes || 0));
  const hasParent = new Set(data.edges.filter((e) => e.state === "verified" || e.state === "inferred").map((e) => e.target));
  const hasChild = new Set(data.edges.filter((e) => e.state === "verified" || e.state === "inferred").map((e) => e.source));
  const linked = new Set(data.edges.flatMap((e) => [e.source, e.target]));
  const hideIsolated = $("#hide-isolated").checked;
  const elements = [];
  for (const n of data.nodes) {
    if (hideIsolated && !linked.has(n.id)) continue;
    const cls = [hasParent.has(n.id) ? "child" : hasChild.has(n.id) ? "parent" : "alone"];
    if (r2d2.planDeleted.has(n.id)) cls.push("delete");
    elements.push({ group: "nodes", classes: cls.join(" "), data: {
      id: String(n.id), label: shortName(n.location), location: n.location, bytes: n.bytes,
      size: 8 + 52 * Math.sqrt((n.bytes || 0) / maxBytes) } });
  }
  for (const e of data.edges) {
    const except = e.except_columns || [];
    const classes = [e.relation === "overlaps" ? "overlaps" : "", except.length ? "except" : ""].filter(Boolean);
    elements.push({ group: "edges", classes: classes.join(" "), data: {
      id: `e${e.id}`, source: String(e.source), target: String(e.target), relation: e.relation, state: e.state,
      stage: e.stage, fraction: e.fraction, except: except.join(", "),
      label: e.relation === "overlaps" && e.fraction != null ? pct(e.fraction) : "",
      tip: edgeNote(e) || `${e.relation}, ${e.state} · ${e.stage}` } });
  }
  if (r2d2.cy) r2d2.cy.destroy();
  const n = elements.filter((x) => x.group === "nodes").length;
  const cy = (r2d2.cy = cytoscape({
    container: $("#cy"), elements, style: graphStyle(), wheelSensitivity: 0.3, minZoom: 0.02, maxZoom: 6,
    textureOnViewport: n > LARGE_GRAPH, hideEdgesOnViewport: n > LARGE_GRAPH, motionBlur: false,
    pixelRatio: n > LARGE_GRAPH ? 1 : "auto", layout: { name: "preset" } }));
  const t2 = performance.now();
  const chosen = new URLSearchParams(location.search).get("layout") || $("#layout").value;
  const layout = cy.layout(layoutOptions(chosen, n));
  layout.run();
  const t3 = performance.now();
  edgeTip(cy);
  cy.on("tap", "node", (evt) => showTable(Number(evt.target.id())));
  cy.on("tap", (evt) => { if (evt.target === cy) clearHighlight(); });
  // "rendered" = the first frame drawn after the layout: wait for cytoscape's render, then two frames.
  await new Promise((resolve) => {
    let done = false;
    const finish = () => { if (!done) { done = true; requestAnimationFrame(() => requestAnimationFrame(resolve)); } };
    cy.one("render", finish);
    cy.forceRender?.();
    setTimeout(finish, 1000);
  });
  const t4 = performance.now();
  const layoutName = layout.options.name;
  const detail = { nodes: cy.nodes().length, edges: cy.edges().length, layout: layoutName, truncated: data.truncated,
                   fetchMs: Math.round(t1 - t0), buildMs: Math.round(t2 - t1), layoutMs: Math.round(t3 - t2),
                   drawMs: Math.round(t4 - t3), totalMs: Math.round(t4 - t0), sinceNavigationMs: Math.round(t4) };
  $("#graph-status").textContent = `${fmtInt(detail.nodes)} tables, ${fmtInt(detail.edges)} edges · ${layoutName}` +
    ` · ${detail.totalMs} ms` + (data.truncated ? " · truncated" : "");
  emit("r2d2:graph-rendered", detail);
}

function clearHighlight() {
  if (!r2d2.cy) return;
  r2d2.cy.elements().removeClass("faded hl");
}

function highlight(id) {
  const cy = r2d2.cy;
  if (!cy) return;
  const node = cy.getElementById(String(id));
  if (node.empty()) return;
  cy.elements().unselect();
  node.select();
  const hood = node.closedNeighborhood();
  cy.elements().addClass("faded");
  hood.removeClass("faded");
  hood.edges().addClass("hl");
}

function edgeItem(e, otherId, otherLoc) {
  const note = edgeNote(e);
  const li = el("li", { "data-table": otherId, title: note ? `${otherLoc}\n${note}` : otherLoc },
    shortName(otherLoc),
    el("span", { class: `tag rel-${e.relation}` }, e.relation === "overlaps" && e.fraction != null
      ? `overlaps ${pct(e.fraction)}` : e.relation),
    e.except_columns && e.except_columns.length
      ? el("span", { class: "tag rel-except" }, `except ${e.except_columns.join(", ")}`) : "",
    el("span", { class: "tag" }, `${e.state} · ${e.stage}`),
    e.multiset ? el("span", { class: "tag" }, "multiset") : "");
  li.addEventListener("click", () => {
    showTable(otherId);
    const node = r2d2.cy?.getElementById(String(otherId));
    if (node && node.nonempty()) r2d2.cy.animate({ center: { eles: node } }, { duration: 200 });
  });
  return li;
}

async function showTable(id) {
  highlight(id);
  const [t, parents, children] = await Promise.all([
    api(`/tables/${id}`), api(`/tables/${id}/parents?limit=200`), api(`/tables/${id}/children?limit=200`)]);
  $("#details-hint").hidden = true;
  $("#profile").hidden = false;
  $("#profile-name").textContent = shortName(t.location);
  $("#profile-location").textContent = t.location;
  const facts = [
    ["format", t.format], ["status", t.status], ["rows", fmtInt(t.num_rows)], ["bytes", fmtBytes(t.num_bytes)],
    ["files", fmtInt(t.num_files)], ["fingerprint", (t.fingerprint || "–").slice(0, 16)],
    ["profiled", fmtTime(t.profiled_at)], ["latency limit", fmtSeconds(t.latency_limit_s)],
    ["accesses / day", t.access_per_day == null ? "–" : t.access_per_day],
  ];
  const deleted = r2d2.planDeleted.get(id);
  if (deleted) facts.push(["latest plan", `delete; rebuild from ${shortName(deleted.parent_location)}`]);
  $("#profile-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const list = (ul, page, other) => {
    ul.replaceChildren(...(page.items.length ? page.items.map((e) => edgeItem(e, e[`${other}_id`], e[other]))
      : [el("li", { class: "muted" }, "none")]));
    if (page.total > page.items.length) ul.append(el("li", { class: "muted" }, `… ${page.total - page.items.length} more`));
  };
  list($("#parents"), parents, "parent");
  list($("#children"), children, "child");
  const cols = (t.profile && t.profile.columns) || [];
  $("#columns tbody").replaceChildren(...cols.map((c) => el("tr", {}, el("td", {}, c.name),
    el("td", {}, c.physical_type), el("td", {}, c.family))));
  emit("r2d2:details-shown", { id, location: t.location, parents: parents.total, children: children.total });
}

function findTable(text) {
  const cy = r2d2.cy;
  if (!cy || !text) return;
  const q = text.toLowerCase();
  const hit = cy.nodes().filter((n) => n.data("location").toLowerCase().includes(q));
  if (hit.nonempty()) {
    cy.animate({ fit: { eles: hit, padding: 80 } }, { duration: 250 });
    if (hit.length === 1) showTable(Number(hit.id())).catch(report);
  }
}

// ---- detect funnel --------------------------------------------------------------------------------

async function loadFunnel() {
  const runs = await api("/runs?kind=detect&status=succeeded&limit=1");
  const run = runs.items[0];
  const tbody = $("#funnel-table tbody");
  if (!run) {
    $("#funnel-run").textContent = "— none yet";
    tbody.replaceChildren();
    emit("r2d2:funnel-rendered", { run: null, stages: 0 });
    return;
  }
  $("#funnel-run").textContent = `#${run.id}, finished ${fmtTime(run.finished_at)}`;
  const stages = run.stages || [];
  const data = {
    labels: stages.map((s) => s.name),
    datasets: [
      { label: "candidates in", data: stages.map((s) => Math.max(s.candidates_in, 0.8)), backgroundColor: "#93c5fd" },
      { label: "candidates out", data: stages.map((s) => Math.max(s.candidates_out, 0.8)), backgroundColor: "#2563eb" },
    ],
  };
  r2d2.charts.funnel?.destroy();
  r2d2.charts.funnel = new Chart($("#funnel-chart"), {
    type: "bar", data,
    options: { maintainAspectRatio: false, animation: false,
      scales: { y: { type: "logarithmic", title: { display: true, text: "pairs" } } },
      plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fmtInt(stages[c.dataIndex][
        c.datasetIndex ? "candidates_out" : "candidates_in"])}` } } } } });
  tbody.replaceChildren(...stages.map((s) => el("tr", {},
    el("td", {}, s.name), el("td", { class: "num" }, fmtInt(s.candidates_in)),
    el("td", { class: "num" }, fmtInt(s.candidates_out)), el("td", { class: "num" }, fmtInt(s.reused)),
    el("td", { class: "num" }, fmtInt(s.reexamined)), el("td", { class: "num" }, fmtInt(s.inferred)),
    el("td", { class: "num" }, (s.seconds ?? 0).toFixed(2)), el("td", { class: "num" }, fmtBytes(s.bytes_read)))));
  emit("r2d2:funnel-rendered", { run: run.id, stages: stages.length });
}

// ---- plans ----------------------------------------------------------------------------------------

async function loadPlans() {
  const plans = (await api("/ui/api/plans?limit=50")).items;
  const select = $("#plan-select");
  select.replaceChildren(...plans.map((p) => el("option", { value: p.id },
    `#${p.id} · ${fmtTime(p.created_at)} · ${p.solver}/${p.status}`)));
  $("#plan-empty").hidden = plans.length > 0;
  $("#plan-body").hidden = plans.length === 0;
  if (plans.length) await showPlan(plans[0].id);
  else emit("r2d2:plan-rendered", { plan: null, deleted: 0 });
}

function barChart(key, canvas, labels, datasets, options = {}) {
  r2d2.charts[key]?.destroy();
  r2d2.charts[key] = new Chart(canvas, { type: "bar", data: { labels, datasets },
    options: { maintainAspectRatio: false, animation: false, ...options } });
}

async function showPlan(id) {
  const p = await api(`/ui/api/plans/${id}`);
  const decisions = p.decisions || [];
  const deleted = decisions.filter((d) => d.action === "delete");
  const lakeBytes = decisions.reduce((s, d) => s + d.bytes, 0);
  const afterBytes = lakeBytes - p.savings_bytes;
  $("#plan-meta").textContent = `objective ${fmtMoney(p.objective)}/month, gap ${(100 * p.gap).toFixed(2)} %, ` +
    `solved in ${p.solve_seconds.toFixed(2)} s` + (p.message ? ` · ${p.message}` : "");
  $("#plan-deleted").textContent = `${deleted.length} of ${decisions.length}`;
  $("#plan-bytes").textContent = fmtBytes(p.savings_bytes);
  $("#plan-money").textContent = fmtMoney(p.savings_per_month);
  $("#plan-cost").textContent = `${fmtMoney(p.baseline_cost)} → ${fmtMoney(p.objective)}`;

  const storageNow = decisions.reduce((s, d) => s + (d.action === "keep" ? d.monthly_storage_cost : 0), 0);
  const recipes = deleted.reduce((s, d) => s + d.monthly_storage_cost, 0);
  const access = deleted.reduce((s, d) => s + d.monthly_access_cost, 0);
  barChart("bytes", $("#plan-bytes-chart"), ["now", "after the plan"], [
    { label: "kept tables", data: [lakeBytes, afterBytes - deleted.reduce((s, d) => s + d.recipe_bytes, 0)],
      backgroundColor: "#0d9488", stack: "s" },
    { label: "recipes", data: [0, deleted.reduce((s, d) => s + d.recipe_bytes, 0)], backgroundColor: "#f59e0b", stack: "s" },
    { label: "saved", data: [0, p.savings_bytes], backgroundColor: "#d1fae5", stack: "s" },
  ], { scales: { y: { stacked: true, ticks: { callback: (v) => fmtBytes(v) } }, x: { stacked: true } },
       plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fmtBytes(c.raw)}` } } } });
  barChart("money", $("#plan-money-chart"), ["now", "after the plan"], [
    { label: "storage of kept tables", data: [p.baseline_cost, storageNow], backgroundColor: "#0d9488", stack: "m" },
    { label: "storage of recipes", data: [0, recipes], backgroundColor: "#f59e0b", stack: "m" },
    { label: "rebuilds on access", data: [0, access], backgroundColor: "#dc2626", stack: "m" },
  ], { scales: { y: { stacked: true, ticks: { callback: (v) => fmtMoney(v) } }, x: { stacked: true } },
       plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fmtMoney(c.raw)}` } } } });
  const worst = [...deleted].sort((a, b) => (b.est_latency_s || 0) - (a.est_latency_s || 0)).slice(0, 40);
  const limitOf = (d) => (d.latency_limit_s == null || d.latency_limit_s === "Infinity" ? null : d.latency_limit_s);
  $("#plan-latency-chart").parentElement.style.height = `${90 + 16 * Math.max(worst.length, 3)}px`;
  const lat = worst.map((d) => d.est_latency_s).filter((x) => x > 0);
  const logScale = lat.length > 0 && Math.max(...lat) / Math.min(...lat) > 100;
  barChart("latency", $("#plan-latency-chart"), worst.map((d) => shortName(d.location)), [
    { label: "estimated rebuild latency (s)", data: worst.map((d) => d.est_latency_s), backgroundColor: "#2563eb" },
    { label: "latency limit (s)", data: worst.map(limitOf), backgroundColor: "#e5e7eb" },
  ], { indexAxis: "y", scales: { x: { type: logScale ? "logarithmic" : "linear", beginAtZero: !logScale,
                                      title: { display: true, text: "seconds" } },
                                 y: { ticks: { autoSkip: false, font: { size: 10 } } } },
       plugins: { subtitle: { display: worst.some((d) => limitOf(d) == null),
                              text: "tables without a bar for the limit have no latency limit" } } });
  $("#plan-table tbody").replaceChildren(...deleted.map((d) => {
    const limit = limitOf(d);
    return el("tr", {}, el("td", { title: d.location }, shortName(d.location)),
      el("td", { title: d.parent_location }, shortName(d.parent_location)),
      el("td", { class: "num" }, fmtBytes(d.bytes)), el("td", { class: "num" }, fmtBytes(d.recipe_bytes)),
      el("td", { class: "num" + (limit != null && d.est_latency_s > limit ? " over" : "") }, fmtSeconds(d.est_latency_s)),
      el("td", { class: "num" }, fmtSeconds(limit)),
      el("td", { class: "num" }, fmtMoney(d.monthly_storage_cost + d.monthly_access_cost)));
  }));
  // Mark what the plan deletes in the graph.
  r2d2.planDeleted = new Map(deleted.map((d) => [d.table_id, d]));
  if (r2d2.cy) {
    r2d2.cy.nodes().removeClass("delete");
    for (const d of deleted) r2d2.cy.getElementById(String(d.table_id)).addClass("delete");
  }
  emit("r2d2:plan-rendered", { plan: p.id, deleted: deleted.length });
}

// ---- runs and progress ----------------------------------------------------------------------------

let pollTimer = null;
let lastRunning = new Set();

function progressText(run) {
  const pr = run.progress || {};
  if (pr.total != null) return `${fmtInt(pr.done)} / ${fmtInt(pr.total)} ${pr.unit || ""}`.trim();
  return pr.message || pr.stage || "";
}

async function pollRuns() {
  clearTimeout(pollTimer);
  let busy = false;
  try {
    const page = await api("/runs?limit=20");
    const running = page.items.filter((r) => r.status === "running");
    busy = running.length > 0;
    const banner = $("#run-banner");
    banner.hidden = !busy;
    if (busy) {
      const r = running[0];
      $("#run-banner-text").textContent = `${r.kind} run #${r.id} running · ${progressText(r) || "starting"}`;
      const pr = r.progress || {};
      const bar = $("#run-banner-progress");
      if (pr.total) bar.value = pr.done / pr.total; else bar.removeAttribute("value");
    }
    $("#runs-table tbody").replaceChildren(...page.items.map((r) => el("tr", {},
      el("td", {}, r.id), el("td", {}, r.kind), el("td", { class: `status-${r.status}` }, r.status),
      el("td", {}, fmtTime(r.started_at)), el("td", {}, fmtTime(r.finished_at)),
      el("td", {}, r.status === "failed" && r.errors.length ? `error: ${JSON.stringify(r.errors[0]).slice(0, 120)}`
        : progressText(r)))));
    // A run that just finished: refresh what it changed.
    const now = new Set(running.map((r) => r.id));
    const finished = [...lastRunning].filter((id) => !now.has(id));
    lastRunning = now;
    if (finished.length) {
      if (loaded.has("funnel")) loadFunnel().catch(report);
      $("#graph-status").textContent += " · a run finished: Reload for new edges";
    }
    emit("r2d2:runs-rendered", { running: running.map((r) => r.id), total: page.total });
  } finally {
    if (token()) pollTimer = setTimeout(() => pollRuns().catch(report), busy ? POLL_BUSY_MS : POLL_IDLE_MS);
  }
}

// ---- start-up -------------------------------------------------------------------------------------

function start() {
  const tab = (location.hash || "#graph").slice(1);
  loaded.add("runs");
  pollRuns().catch(report);
  if (!loaded.has("plan")) {
    // The plan marks deleted tables in the graph; load its list quietly in the background.
    loaded.add("plan");
    loadPlans().catch(report);
  }
  showTab(["graph", "funnel", "plan", "runs"].includes(tab) ? tab : "graph");
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("#login-form").addEventListener("submit", signIn);
  $("#login").addEventListener("cancel", (e) => e.preventDefault());
  $("#logout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); });
  $("#fit").addEventListener("click", () => r2d2.cy?.fit(undefined, 20));
  const reload = () => loadGraph().catch(report);
  $("#reload-graph").addEventListener("click", reload);
  for (const id of ["#layout", "#show-candidates", "#show-pruned", "#hide-isolated"]) $(id).addEventListener("change", reload);
  $("#search").addEventListener("change", (e) => findTable(e.target.value.trim()));
  $("#plan-select").addEventListener("change", (e) => showPlan(Number(e.target.value)).catch(report));
  if (token()) start(); else askToken();
});
