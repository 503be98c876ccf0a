// The built-in pages in a real browser: layout, contrast and screenshots.
//
//   node tests/browser/pages.mjs --url http://127.0.0.1:5000 [--out docs/_static/screenshots]
//        [--pages signin,signout] [--email demo@example.com] [--password demo-password]
//        [--timeout 10000]
//
// Drives Debian's Chromium (/usr/bin/chromium) with playwright-core over examples/pages:
// signs in with the password form and asks for an email link (real flows), then loads each
// built-in page (sign-in, sign-in with an error, sign-out, verify-request, error) in the light
// and the dark colour scheme at 320, 390 and 1200 px wide, and checks on every one:
//   - no horizontal scrolling (the document is no wider than the viewport);
//   - every piece of text has a contrast of at least 4.5:1 with the background it is drawn on,
//     both read from the computed styles;
//   - errors are announced (role="alert"); focus is visible (an outline on Tab); every image
//     (the theme's logo) loads.
// With --out, saves the screenshots the docs show. Prints one line on stdout: a JSON object
// with `ok`, `checked` (pages x schemes x widths), `failures` and `screenshots`; exit 0 when ok.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { launch } from './chromium.mjs';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    out: { type: 'string' },
    email: { type: 'string', default: 'demo@example.com' },
    password: { type: 'string', default: 'demo-password' },
    pages: { type: 'string' },
    timeout: { type: 'string', default: '10000' },
  },
});
if (!opts.url) {
  process.stderr.write('usage: pages.mjs --url <app origin> [--out <dir>]\n');
  process.exit(2);
}
const base = new URL(opts.url);
const timeout = Number(opts.timeout);
const MIN_CONTRAST = 4.5;
const WIDTHS = { narrow: 320, phone: 390, desktop: 1200 };
const SCHEMES = ['light', 'dark'];
// The screenshots of the docs: [file, page, scheme, viewport].
const SHOTS = [
  ['signin-light.png', 'signin', 'light', { width: 1200, height: 900 }],
  ['signin-dark.png', 'signin', 'dark', { width: 1200, height: 900 }],
  ['signin-phone.png', 'signin', 'light', { width: 390, height: 844 }],
  ['signin-error.png', 'signinError', 'light', { width: 1200, height: 900 }],
  ['signout.png', 'signout', 'light', { width: 1200, height: 900 }],
  ['verify-request.png', 'verifyRequest', 'light', { width: 1200, height: 900 }],
  ['error.png', 'error', 'dark', { width: 1200, height: 900 }],
];

const result = { ok: false, url: base.href, checked: 0, failures: [], screenshots: [] };
const auth = (path) => new URL(`/api/auth${path}`, base).href;

// Runs in the page: every element with text of its own, its colour and the colour it is
// drawn on (the nearest opaque background), and the contrast of the two.
function measureContrast(minimum) {
  const parse = (css) => {
    const m = css.match(/rgba?\(([\d.]+),?\s*([\d.]+),?\s*([\d.]+)(?:\s*[,/]\s*([\d.]+))?\)/);
    if (!m) return null;
    return { rgb: [Number(m[1]), Number(m[2]), Number(m[3])], alpha: m[4] === undefined ? 1 : Number(m[4]) };
  };
  const channel = (v) => {
    const c = v / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const backgroundOf = (element) => {
    for (let el = element; el; el = el.parentElement) {
      const bg = parse(getComputedStyle(el).backgroundColor);
      if (bg && bg.alpha > 0) return bg.rgb;
    }
    return [255, 255, 255];
  };
  const failures = [];
  let texts = 0;
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.visibility === 'hidden' || style.display === 'none') continue;
    texts += 1;
    const color = parse(style.color);
    const background = backgroundOf(el);
    const value = ratio(color.rgb, background);
    if (value < minimum || color.alpha < 1) {
      failures.push({
        text: el.textContent.trim().slice(0, 60),
        color: style.color,
        background: `rgb(${background.join(', ')})`,
        contrast: Math.round(value * 100) / 100,
      });
    }
  }
  return { texts, failures };
}

let browser;
try {
  browser = await launch(timeout);
  result.browserVersion = browser.version();
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  context.setDefaultTimeout(timeout);
  await context.route('**/*', (route) => {
    const { origin } = new URL(route.request().url());
    return origin === base.origin ? route.continue() : route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));

  // The real flows: ask for an email link (lands on verify-request), sign in with the form.
  await page.goto(auth('/signin'));
  await page.locator('form[action$="/signin/email"] input[name="email"]').fill(opts.email);
  await page.locator('form[action$="/signin/email"] button[type="submit"]').click();
  await page.waitForURL((u) => u.pathname.endsWith('/verify-request'));
  const verifyRequest = page.url();

  await page.goto(auth('/signin?callbackUrl=%2F'));
  await page.getByLabel('Email', { exact: true }).first().fill(opts.email);
  await page.getByLabel('Password', { exact: true }).fill('wrong-password');
  await page.locator('form[action$="/callback/credentials"] button').click();
  await page.waitForURL((u) => u.searchParams.get('error') === 'CredentialsSignin');
  const signinError = page.url();
  await page.getByLabel('Password', { exact: true }).fill(opts.password);
  await page.locator('form[action$="/callback/credentials"] input[type="email"]').fill(opts.email);
  await page.locator('form[action$="/callback/credentials"] button').click();
  await page.waitForURL((u) => u.pathname === '/');

  const pages = {
    signin: auth('/signin'),
    signinError,
    signout: auth('/signout?callbackUrl=%2F'),
    verifyRequest,
    error: auth('/error?error=Verification'),
    configuration: auth('/error?error=Configuration'),
  };
  const signedIn = await page.request.get(auth('/session')).then((r) => r.json());
  if (signedIn?.user?.email !== opts.email) throw new Error('the password form did not sign in');

  const only = opts.pages ? new Set(opts.pages.split(',')) : null;
  for (const [name, url] of Object.entries(pages)) {
    if (only && !only.has(name)) continue;
    for (const scheme of SCHEMES) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [widthName, width] of Object.entries(WIDTHS)) {
        await page.setViewportSize({ width, height: 800 });
        const response = await page.goto(url);
        const where = `${name} ${scheme} ${width}px`;
        result.checked += 1;
        if (!response || (response.status() >= 500 && name !== 'configuration')) {
          result.failures.push({ where, problem: `answered ${response?.status()}` });
          continue;
        }
        const overflow = await page.evaluate(() => {
          const doc = document.documentElement;
          return doc.scrollWidth - doc.clientWidth;
        });
        if (overflow > 0) {
          result.failures.push({ where, problem: `scrolls ${overflow}px sideways` });
        }
        const { texts, failures } = await page.evaluate(measureContrast, MIN_CONTRAST);
        if (texts === 0) result.failures.push({ where, problem: 'no text found' });
        for (const failure of failures) result.failures.push({ where, problem: 'contrast', ...failure });
        if (['signinError', 'error', 'configuration'].includes(name)) {
          const alerts = await page.locator('[role="alert"]').count();
          if (alerts !== 1) result.failures.push({ where, problem: `${alerts} role="alert" elements` });
        }
        if (widthName === 'desktop') {
          const broken = await page.evaluate(() =>
            [...document.images].filter((img) => !img.complete || img.naturalWidth === 0).map((img) => img.src));
          if (broken.length) result.failures.push({ where, problem: 'images not shown', broken });
          await page.keyboard.press('Tab');
          const outline = await page.evaluate(() => {
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            const style = getComputedStyle(el);
            return { tag: el.tagName, style: style.outlineStyle, width: style.outlineWidth };
          });
          if (!outline || outline.style === 'none' || outline.width === '0px') {
            result.failures.push({ where, problem: 'no visible focus on Tab', outline });
          }
        }
      }
    }
  }
  // Both schemes were really shown: the page's background differs between them.
  const backgrounds = new Set();
  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto(pages.signin);
    backgrounds.add(await page.evaluate(() => getComputedStyle(document.body).backgroundColor));
  }
  result.schemeBackgrounds = [...backgrounds];
  if (backgrounds.size !== SCHEMES.length) {
    result.failures.push({ where: 'signin', problem: 'the dark scheme looks like the light one' });
  }

  if (opts.out) {
    mkdirSync(opts.out, { recursive: true });
    for (const [file, name, scheme, viewport] of SHOTS) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize(viewport);
      await page.goto(pages[name]);
      const path = join(opts.out, file);
      await page.screenshot({ path, fullPage: true });
      result.screenshots.push(path);
    }
  }
  if (pageErrors.length) result.failures.push({ where: 'scripts', problem: pageErrors.join('; ') });
  result.ok = result.failures.length === 0;
} catch (error) {
  result.error = String(error?.message ?? error)
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n').slice(0, 6).join('\n');
} finally {
  await browser?.close().catch(() => {});
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(result.ok ? 0 : 1);
