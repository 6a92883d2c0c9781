// Drive Neo4j Browser in headless Chromium and save a screenshot of one query's graph.
//
//   NEO4J_PASSWORD=... node screenshot.mjs --browser-url http://127.0.0.1:7474/browser/ \
//     --bolt-uri bolt://127.0.0.1:7687 --user neo4j --grass ../../plugin/same_as.grass \
//     --query ../../cypher/browser_top_same_as.cypher \
//     --param 'minScore => 0.9' --param 'limit => 50' --out same_as.png
//
// Steps: log in through Browser's connect form, apply the style with `:style <grass>`, set
// the query's parameters with one `:param name => value` per --param, run the query, show
// its frame full screen, wait for the graph to render and settle, save the screenshot.
// `name => value` evaluates the value with Cypher, so 50 stays an integer; the map form
// `:param {limit: 50}` is parsed by Browser itself and sends 50.0, which LIMIT refuses.
//
// The password is read from $NEO4J_PASSWORD, never from argv. On success the last stdout
// line is JSON: {"nodes", "relationships", "nodeCaptions", "relationshipCaptions", "out"},
// counted in the rendered SVG. Any failed step exits 1 with one line on stderr that says
// which step failed and why, after saving the page as it was to <out>.failed.png.
//
// Chromium: Debian's /usr/bin/chromium (--chromium or $CHROMIUM to change), started with
// networking it does not need switched off; every request that is not to the loopback
// address is aborted, so the page never waits for the internet.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opt } = parseArgs({
  options: {
    'browser-url': { type: 'string' },
    'bolt-uri': { type: 'string' },
    user: { type: 'string', default: 'neo4j' },
    query: { type: 'string' }, // a file holding one Cypher statement
    param: { type: 'string', multiple: true, default: [] }, // ":param" arguments, in order
    grass: { type: 'string' }, // a .grass file
    out: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
    width: { type: 'string', default: '1280' },
    height: { type: 'string', default: '800' },
    timeout: { type: 'string', default: '120' }, // seconds, for everything
  },
});

function die(step, message) {
  console.error(`screenshot.mjs: ${step} failed: ${message}`);
  process.exit(1);
}

for (const name of ['browser-url', 'bolt-uri', 'query', 'grass', 'out']) {
  if (!opt[name]) die('arguments', `--${name} is required`);
}
const password = process.env.NEO4J_PASSWORD;
if (!password) die('arguments', 'set the password in $NEO4J_PASSWORD');
const bolt = /^(neo4j|bolt)(\+s|\+ssc)?:\/\/(.+)$/.exec(opt['bolt-uri']);
if (!bolt) die('arguments', `--bolt-uri must look like bolt://host:port, got ${opt['bolt-uri']}`);
const query = readFileSync(opt.query, 'utf8');
const grass = readFileSync(opt.grass, 'utf8');
const STEP_MS = 30_000;

const deadline = setTimeout(() => die('run', `not done after ${opt.timeout} s`),
  Number(opt.timeout) * 1000);
deadline.unref();

let step = 'launch Chromium';
let browser;
let page;
try {
  browser = await chromium.launch({
    executablePath: opt.chromium,
    headless: true,
    timeout: STEP_MS,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-dev-shm-usage', '--disable-extensions'],
  });
  const context = await browser.newContext({
    viewport: { width: Number(opt.width), height: Number(opt.height) },
  });
  context.setDefaultTimeout(STEP_MS);
  // Browser asks for fonts, analytics and product news on the internet: refuse at once.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    const local = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    return local || url.protocol === 'data:' || url.protocol === 'blob:'
      ? route.continue() : route.abort();
  });
  page = await context.newPage();

  step = `open ${opt['browser-url']}`;
  await page.goto(opt['browser-url']);
  await page.getByTestId('username').waitFor();

  // The force layout moves nodes for a few seconds: wait until two looks agree.
  async function settle() {
    let last = '';
    for (let i = 0; i < 40; i++) {
      const now = await page.locator('svg.neod3viz g.node').evaluateAll(
        (els) => els.map((e) => e.getAttribute('transform')).join('|'));
      if (now === last) return;
      last = now;
      await page.waitForTimeout(500);
    }
  }

  step = 'log in';
  await page.getByTestId('bolt-scheme-select').selectOption(`${bolt[1]}${bolt[2] || ''}://`);
  await page.getByTestId('boltaddress').fill(bolt[3]);
  await page.getByTestId('username').fill(opt.user);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('connect').click();
  const connected = page.getByText('You are connected as user');
  const refused = page.getByTestId('frame').filter({ hasText: /error|unauthorized|failed/i });
  await connected.or(refused).first().waitFor();
  if (!(await connected.isVisible())) {
    const why = (await refused.first().innerText()).replace(/\s+/g, ' ').trim();
    const code = /Neo\.\w+Error\.\S+.*$/.exec(why); // e.g. Neo.ClientError.Security.Unauthorized
    throw new Error((code ? code[0] : why).slice(0, 500));
  }

  // The usage-data banner takes room in the picture: close it when it is there.
  const banner = page.locator('div')
    .filter({ hasText: 'we collect information on product usage' })
    .filter({ has: page.locator('button') }).last();
  if (await banner.isVisible()) await banner.locator('button').first().click();

  const editor = page.locator('#monaco-main-editor');
  const frames = page.getByTestId('frame');
  // Type one command into the main editor and run it; returns its (newest) frame.
  async function run(command) {
    await editor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    // Pasted, not typed: typing would let the editor close brackets and quotes itself.
    await editor.locator('textarea').evaluate((area, text) => {
      const data = new DataTransfer();
      data.setData('text/plain', text);
      area.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true,
        cancelable: true }));
    }, command);
    const before = await frames.count();
    await page.getByTestId('editor-Run').click();
    if (command.trim() === ':clear') {
      await page.waitForFunction(
        () => document.querySelectorAll('[data-testid="frame"]').length === 0);
      return null;
    }
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="frame"]').length > n, before);
    return frames.first();
  }

  step = ':clear';
  await run(':clear');

  step = 'apply the style (:style)';
  const style = await run(`:style ${grass}`);
  await style.waitFor();
  const styleText = await style.innerText();
  if (/error/i.test(styleText)) throw new Error(styleText.replace(/\s+/g, ' ').slice(0, 500));

  for (const param of opt.param) {
    step = `set a parameter (:param ${param})`;
    const params = await run(`:param ${param}`);
    await params.getByText(/Set params|Successfully set/i).or(params.getByText(/error/i))
      .first().waitFor();
    const text = await params.innerText();
    if (/error/i.test(text)) throw new Error(text.replace(/\s+/g, ' ').slice(0, 500));
  }

  step = ':clear before the query';
  await run(':clear');

  step = 'run the query';
  const result = await run(query.trim());
  const viz = result.locator('svg.neod3viz');
  const svgNode = viz.locator('g.node');
  const failed = result.getByText(/^(Error|Neo\.ClientError|Neo\.DatabaseError)/);
  const empty = result.getByText(/no changes, no records/i);
  // A table-only result shows none of these: fall through to "no graph rendered".
  await svgNode.first().or(failed.first()).or(empty.first()).waitFor().catch(() => {});
  if (!(await svgNode.first().isVisible().catch(() => false))) {
    const text = (await result.innerText()).replace(/\s+/g, ' ').trim();
    throw new Error(`no graph rendered: ${text.slice(0, 500)}`);
  }

  step = 'show the graph full screen';
  await result.getByTitle('Fullscreen').click();
  // The overview panel would hide part of the graph: the legend is the edges' own colour.
  await result.getByLabel('Collapse the node properties display').click().catch(() => {});
  step = 'wait for the layout to settle';
  await settle();
  await result.getByLabel('zoom-to-fit').click();
  await page.waitForTimeout(1500); // the zoom is animated
  await page.mouse.move(0, Number(opt.height) - 1); // no hover highlight in the picture

  step = 'count what is drawn';
  const counts = await viz.evaluate((svg) => {
    const captions = (sel) => [...svg.querySelectorAll(sel)]
      .map((g) => [...g.querySelectorAll('text')].map((t) => t.textContent).join(' ').trim())
      .filter(Boolean);
    return {
      nodes: svg.querySelectorAll('g.node').length,
      relationships: svg.querySelectorAll('g.relationship').length,
      nodeCaptions: captions('g.node'),
      relationshipCaptions: captions('g.relationship'),
    };
  });

  step = `save ${opt.out}`;
  await page.screenshot({ path: opt.out });
  console.log(JSON.stringify({ ...counts, out: opt.out }));
} catch (err) {
  // What the page looked like when the step failed, next to where the picture would be.
  const failedPng = opt.out.replace(/(\.png)?$/i, '.failed.png');
  if (page && await page.screenshot({ path: failedPng }).then(() => true, () => false)) {
    console.error(`screenshot.mjs: the page at that moment: ${failedPng}`);
  }
  if (browser) await browser.close().catch(() => {});
  die(step, String(err && err.message ? err.message : err).split('\n')[0]);
}
await browser.close();
