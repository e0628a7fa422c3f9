// Drives Debian's headless Chromium with playwright-core (from ui/node_modules) for tests/test_ui.py.
//
//   node tests/ui/drive.mjs '<json>'   where json = {scenario, base, token, out, ...}
//
// Scenarios (each prints one JSON object on stdout):
//   page:     sign in through the dialog, wait for the graph, click table `table` on the canvas, read the
//             profile panel, open the funnel, plan and runs tabs; screenshots of each into `out`.
//   progress: token preset; wait until the run banner shows run `run` as running; screenshot.
//   styles:   token preset; read every drawn edge's relation, line style, colour and label; hover an
//             overlaps and an except-keys edge with the mouse and read the tooltip; read the legend.
//   bench:    token preset; load /ui/?layout=L for each L in `layouts`, `repeat` times each, and report
//             the "r2d2:graph-rendered" event details (time since navigation start, and its parts).
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "ui", "package.json"));
const { chromium } = require("playwright-core");

const args = JSON.parse(process.argv[2]);
const TIMEOUT = args.timeout_ms ?? 60000;

const browser = await chromium.launch({
  executablePath: args.chromium ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  // playwright gives each launch a new, temporary --user-data-dir of its own and deletes it on close.
});
const errors = [];

async function newPage(presetToken) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // Offline check: only the server under test may be reached.
  await context.route("**/*", (route) => (route.request().url().startsWith(args.base) ? route.continue() : route.abort()));
  if (presetToken) {
    await context.addInitScript((t) => sessionStorage.setItem("r2d2.token", t), args.token);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("requestfailed", (r) => errors.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
  return page;
}

const cells = (page, sel) => page.$$eval(`${sel} tbody tr`, (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
const waitEvent = (page, name) => page.waitForFunction(
  (n) => window.r2d2 && window.r2d2.events.find((e) => e.name === n), name).then((h) => h.jsonValue());

async function scenarioPage() {
  const page = await newPage(false);
  const t0 = Date.now();
  await page.goto(`${args.base}/ui/`);
  await page.locator("#login[open]").waitFor();
  const loginShown = await page.locator("#token").isVisible();
  if (args.bad_token) {  // a wrong token is refused and the dialog stays
    await page.fill("#token", args.bad_token);
    await page.click("#login-submit");
    await page.waitForFunction(() => document.querySelector("#login-error").textContent.includes("401"));
    const expected = errors.splice(0).filter((e) => !e.includes("status of 401"));
    errors.push(...expected);  // the refused token's 401 is the point; anything else is not
  }
  await page.fill("#token", args.token);
  await page.click("#login-submit");
  const rendered = (await waitEvent(page, "r2d2:graph-rendered")).detail;
  const stored = await page.evaluate(() => sessionStorage.getItem("r2d2.token"));
  // A real mouse click on the node's position on the canvas.
  const pos = await page.evaluate((id) => {
    const node = window.r2d2.cy.getElementById(String(id));
    node.cy().center(node);
    const p = node.renderedPosition();
    const box = document.querySelector("#cy").getBoundingClientRect();
    return { x: box.left + p.x, y: box.top + p.y };
  }, args.table);
  await page.waitForTimeout(100);
  await page.mouse.click(pos.x, pos.y);
  await waitEvent(page, "r2d2:details-shown");
  const details = {
    name: await page.textContent("#profile-name"),
    location: await page.textContent("#profile-location"),
    facts: await page.textContent("#profile-facts"),
    parents: await page.locator("#parents li").allTextContents(),
    children: await page.locator("#children li").allTextContents(),
    columns: await page.locator("#columns tbody tr").count(),
    selected: await page.evaluate(() => window.r2d2.cy.nodes(":selected").map((n) => n.id())),
  };
  await page.screenshot({ path: join(args.out, "ui-graph.png") });

  await page.click("#tabs button[data-tab=funnel]");
  const funnel = (await waitEvent(page, "r2d2:funnel-rendered")).detail;
  const funnelRows = await cells(page, "#funnel-table");
  const funnelChart = await page.evaluate(() => window.r2d2.charts.funnel?.data.labels);
  await page.screenshot({ path: join(args.out, "ui-funnel.png") });

  await page.click("#tabs button[data-tab=plan]");
  const plan = (await waitEvent(page, "r2d2:plan-rendered")).detail;
  await page.waitForTimeout(100);
  const planRows = await cells(page, "#plan-table");
  const cards = {
    deleted: await page.textContent("#plan-deleted"), bytes: await page.textContent("#plan-bytes"),
    money: await page.textContent("#plan-money"), cost: await page.textContent("#plan-cost"),
  };
  const planCharts = await page.evaluate(() => Object.fromEntries(["bytes", "money", "latency"].map(
    (k) => [k, window.r2d2.charts[k] ? window.r2d2.charts[k].data.datasets.map((d) => d.data.length) : null])));
  const deletedMarked = await page.evaluate(() => window.r2d2.cy.nodes(".delete").length);
  await page.screenshot({ path: join(args.out, "ui-plan.png"), fullPage: true });

  await page.click("#tabs button[data-tab=runs]");
  const runRows = await cells(page, "#runs-table");
  return { loginShown, stored: stored === args.token, rendered, details, funnel, funnelRows, funnelChart, plan,
           planRows, cards, planCharts, deletedMarked, runRows, seconds: (Date.now() - t0) / 1000 };
}

async function scenarioProgress() {
  const page = await newPage(true);
  await page.goto(`${args.base}/ui/#runs`);
  await page.waitForFunction((id) => {
    const b = document.querySelector("#run-banner");
    return !b.hidden && b.textContent.includes(`#${id} running`);
  }, args.run);
  const banner = await page.textContent("#run-banner-text");
  const row = await page.locator("#runs-table tbody tr").first().textContent();
  await page.screenshot({ path: join(args.out, "ui-progress.png") });
  return { banner, row };
}

async function scenarioStyles() {
  const page = await newPage(true);
  await page.goto(`${args.base}/ui/#graph`);
  await waitEvent(page, "r2d2:graph-rendered");
  const edges = await page.evaluate(() => window.r2d2.cy.edges().map((e) => ({
    id: e.id(), parent: e.source().data("location"), child: e.target().data("location"), relation: e.data("relation"),
    state: e.data("state"), lineStyle: e.style("line-style"), colour: e.style("line-color"), label: e.style("label"),
    classes: e.classes() })));
  const tips = {};
  for (const cls of ["overlaps", "except"]) {
    // A real mouse over an edge of this kind, zoomed in on it: points along the edge are tried until
    // its own tooltip shows (a node or another edge may lie over its middle in a large graph). The
    // next edge of the kind (up to 5) is tried when none shows: the layout can put an edge's two
    // tables on top of each other, leaving no point of it to hover.
    let spots = null;
    let shown = null;
    for (let nth = 0; nth < 5 && !shown; nth++) {
      const found = await page.evaluate(([c, n]) => {
        const cy = window.r2d2.cy;
        const e = cy.edges(`.${c}`)[n];
        if (!e) return null;
        cy.fit(e, 200);
        const a = e.source().renderedPosition();
        const b = e.target().renderedPosition();
        const box = document.querySelector("#cy").getBoundingClientRect();
        return { id: e.id(), points: [0.5, 0.42, 0.58, 0.35, 0.65, 0.28, 0.72].map(
          (f) => ({ x: box.left + a.x + f * (b.x - a.x), y: box.top + a.y + f * (b.y - a.y) })) };
      }, [cls, nth]);
      if (!found) break;
      spots = found;
      await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
      await page.waitForTimeout(150);
      for (const p of spots.points) {
        await page.mouse.move(1, 1);
        await page.mouse.move(p.x, p.y, { steps: 4 });
        shown = await page.waitForFunction((id) => {
          const ev = window.r2d2.events.filter((x) => x.name === "r2d2:edge-tip").pop();
          return ev && ev.detail.id === id && !document.querySelector("#edge-tip").hidden ? ev.detail : null;
        }, spots.id, { timeout: 1000 }).then((h) => h.jsonValue()).catch(() => null);
        if (shown) break;
      }
    }
    if (!spots) continue;
    tips[cls] = { edge: spots.id, text: await page.textContent("#edge-tip"), event: shown };
    await page.screenshot({ path: join(args.out, `ui-edge-${cls}.png`) });
    await page.mouse.move(1, 1);
  }
  const legend = await page.locator("#legend span").allTextContents();
  return { edges, tips, legend };
}

async function scenarioBench() {
  const out = [];
  for (const layout of args.layouts) {
    for (let i = 0; i < (args.repeat ?? 1); i++) {
      const page = await newPage(true);
      await page.goto(`${args.base}/ui/?layout=${layout}#graph`);
      const ev = await waitEvent(page, "r2d2:graph-rendered");
      if (args.screenshot && i === 0) await page.screenshot({ path: join(args.out, `ui-2000-${layout}.png`) });
      // Usable: zoom and pan respond (time one zoom step rendered).
      const zoomMs = await page.evaluate(() => new Promise((resolve) => {
        const cy = window.r2d2.cy;
        const t = performance.now();
        cy.one("render", () => requestAnimationFrame(() => resolve(performance.now() - t)));
        cy.zoom({ level: cy.zoom() * 2, renderedPosition: { x: 300, y: 300 } });
      }));
      out.push({ layout, ...ev.detail, zoomMs: Math.round(zoomMs) });
      await page.context().close();
    }
  }
  return { runs: out };
}

let result;
try {
  const scenarios = { page: scenarioPage, progress: scenarioProgress, styles: scenarioStyles, bench: scenarioBench };
  result = await scenarios[args.scenario]();
  result.errors = errors;
  result.browser = browser.version();
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result) + "\n");
