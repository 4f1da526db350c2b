// Drives Debian's chromium (never a downloaded browser) through the hosted job pages of a running server
// (CONTRACT §13): the list, an offer, the apply form refused then accepted, the thank-you page, a closed offer.
// axe-core runs on the list, offer, error and thank-you pages. Prints one JSON object with what it saw; exits
// non-zero on the first broken expectation. With --shots DIR it also writes the screenshots of docs/screenshots.
//
//   node tests/browser/pages.mjs --base http://127.0.0.1:8080 --company demo --cv ../shared/corpus/cv/x.pdf \
//        [--offer TITLE] [--closed /jobs/demo/<offer_id>] [--email someone@example.com] [--shots docs/screenshots]
import { readFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
for (const required of ['base', 'company', 'cv']) {
  if (!args[required]) throw new Error(`--${required} is required`);
}
const here = dirname(fileURLToPath(import.meta.url));
const axeSource = readFileSync(join(here, 'node_modules/axe-core/axe.min.js'), 'utf8');
const email = args.email ?? `camille.martin.${Date.now()}@example.com`;
const widths = [1280, 390];

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/// axe-core's serious and critical violations on the current page. Evaluated through the DevTools protocol,
/// which the page's CSP (no script at all) does not apply to.
async function seriousViolations(page) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

async function shoot(browser, url, name, prepare) {
  if (!args.shots) return;
  mkdirSync(args.shots, { recursive: true });
  for (const width of widths) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    await page.goto(url);
    if (prepare) await prepare(page);
    await page.screenshot({ path: join(args.shots, `${name}-${width}.png`), fullPage: true });
    await page.close();
  }
}

// Playwright starts chromium with a new, empty profile of its own.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const report = { email, axe: {}, bytes: {} };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', (dialog) => { dialogs.push(dialog.message()); dialog.dismiss(); });
  const offOrigin = [];
  const base = new URL(args.base);
  page.on('request', (request) => {
    if (new URL(request.url()).origin !== base.origin) offOrigin.push(request.url());
  });
  // CONTRACT §13: all responses of one page load, decoded.
  const loadBytes = () => page.evaluate(() => {
    const [navigation] = performance.getEntriesByType('navigation');
    return performance.getEntriesByType('resource').reduce((sum, r) => sum + r.decodedBodySize, navigation.decodedBodySize);
  });

  // The list.
  const listUrl = `${args.base}/jobs/${args.company}`;
  let response = await page.goto(listUrl);
  expect(response.status() === 200, `list: status ${response.status()}`);
  await page.waitForLoadState('load');
  report.bytes.list = await loadBytes();
  report.axe.list = await seriousViolations(page);
  const firstOffer = page.locator('.offer-card h2 a').first();
  report.list_first_offer = await firstOffer.textContent();

  // An offer, reached by clicking.
  const chosen = args.offer ? page.locator('.offer-card h2 a', { hasText: args.offer }).first() : firstOffer;
  await Promise.all([page.waitForNavigation(), chosen.click()]);
  const offerUrl = page.url();
  report.offer_url = offerUrl;
  report.bytes.offer = await loadBytes();
  report.offer_title = await page.locator('h1').textContent();
  const ldText = await page.locator('script[type="application/ld+json"]').textContent();
  report.json_ld = JSON.parse(ldText);
  report.description = {
    scripts: await page.locator('.description script').count(),
    javascript_links: await page.locator('.description a[href^="javascript:"]').count(),
    iframes: await page.locator('.description iframe, .description img, .description input').count(),
    text: await page.locator('.description').innerText(),
  };
  report.axe.offer = await seriousViolations(page);

  // A refused application: a bad email; the other values come back, the message is tied to the field.
  await page.fill('#first_name', 'Camille');
  await page.fill('#last_name', 'Martin');
  await page.fill('#email', 'camille.martin-at-example.com');
  await page.fill('#phone', '+33 6 12 34 56 78');
  await page.fill('#cover_letter', 'Votre produit m’intéresse beaucoup.');
  await page.setInputFiles('#cv', args.cv);
  await page.check('#consent');
  const [refused] = await Promise.all([page.waitForNavigation(), page.click('form button[type="submit"]')]);
  expect(refused.status() === 400, `bad email: status ${refused.status()}`);
  report.error_page = {
    status: refused.status(),
    summary_links: await page.locator('.error-summary a').evaluateAll((links) => links.map((a) => a.getAttribute('href'))),
    email_invalid: await page.getAttribute('#email', 'aria-invalid'),
    email_describedby: await page.getAttribute('#email', 'aria-describedby'),
    email_message: await page.locator('#email-error').innerText(),
    kept: {
      first_name: await page.inputValue('#first_name'),
      last_name: await page.inputValue('#last_name'),
      email: await page.inputValue('#email'),
      phone: await page.inputValue('#phone'),
      cover_letter: await page.inputValue('#cover_letter'),
      consent: await page.isChecked('#consent'),
    },
  };
  report.axe.error = await seriousViolations(page);

  // Corrected and sent: post/redirect/get to the thank-you page.
  await page.fill('#email', email);
  await page.setInputFiles('#cv', args.cv);
  const [accepted] = await Promise.all([page.waitForNavigation(), page.click('form button[type="submit"]')]);
  report.thank_you = { status: accepted.status(), url: page.url(), heading: await page.locator('h1').textContent() };
  expect(accepted.status() === 200 && /\/applied/.test(page.url()), `apply: landed on ${page.url()} (${accepted.status()})`);
  report.axe.thank_you = await seriousViolations(page);

  // A closed offer: 410, no form, no JSON-LD, noindex.
  if (args.closed) {
    const closed = await page.goto(`${args.base}${args.closed}`);
    report.closed = {
      status: closed.status(),
      forms: await page.locator('form').count(),
      json_ld: await page.locator('script[type="application/ld+json"]').count(),
      robots: await page.getAttribute('meta[name="robots"]', 'content'),
      heading: await page.locator('h1').textContent(),
    };
  }
  report.dialogs = dialogs;
  report.off_origin_requests = offOrigin;

  await shoot(browser, listUrl, 'list');
  await shoot(browser, offerUrl, 'offer');
  await shoot(browser, offerUrl, 'error', async (shotPage) => {
    await shotPage.fill('#first_name', 'Camille');
    await shotPage.fill('#email', 'camille.martin-at-example.com');
    await Promise.all([shotPage.waitForNavigation(), shotPage.click('form button[type="submit"]')]);
  });
  await shoot(browser, report.thank_you.url, 'thank-you');
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
