// Sign in to examples/oidc through a real browser and a real OpenID Provider.
//
//   node tests/browser/signin.mjs --url http://127.0.0.1:5000 --screenshot out.png \
//        [--login alice] [--password any] [--expect-name Alice] [--timeout 10000]
//
// Drives Debian's Chromium (/usr/bin/chromium) with playwright-core:
// the app's home page -> "Sign in" -> the provider's button on the built-in sign-in page ->
// the OP's devInteractions login form (any login and password) -> its consent form -> back
// on the app, where the greeting must show the expected name -> /profile, saved as a
// full-page PNG at --screenshot.
//
// Every request that leaves the loopback interface is aborted (the OP's page imports a web
// font, the app shows the user's picture URL): the run is hermetic and never waits on DNS.
//
// Prints exactly one line on stdout: a JSON object with `ok`, what was read from the pages,
// per-step timings (ms), and on failure `error`, `step` and the page's URL (a screenshot of
// the failing page is then saved at --screenshot, when possible). Exit status 0 when ok.

import { parseArgs } from 'node:util';
import { launch } from './chromium.mjs';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    screenshot: { type: 'string' },
    login: { type: 'string', default: 'alice' },
    password: { type: 'string', default: 'any-password' },
    'expect-name': { type: 'string' },
    timeout: { type: 'string', default: '10000' },
  },
});
if (!opts.url || !opts.screenshot) {
  process.stderr.write('usage: signin.mjs --url <app origin> --screenshot <file.png> [--login alice]\n');
  process.exit(2);
}
const appUrl = new URL(opts.url);
const expectName = opts['expect-name'] ?? opts.login[0].toUpperCase() + opts.login.slice(1);
const timeout = Number(opts.timeout);

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

const result = { ok: false, url: appUrl.href, login: opts.login, timings: {}, blocked: [] };
let step = 'launch';
let started = performance.now();
function done(name) {
  const now = performance.now();
  result.timings[name] = Math.round(now - started);
  started = now;
}

let browser;
let page;
try {
  browser = await launch(timeout);
  result.browserVersion = browser.version();
  done('launch');
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  context.setDefaultTimeout(timeout);
  context.setDefaultNavigationTimeout(timeout);
  await context.route('**/*', (route) => {
    const { hostname, href } = new URL(route.request().url());
    if (LOOPBACK.has(hostname) || href.startsWith('data:')) return route.continue();
    result.blocked.push(href);
    return route.abort('blockedbyclient');
  });
  page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  result.pageErrors = pageErrors;

  step = 'home';
  const home = await page.goto(appUrl.href);
  if (!home?.ok()) throw new Error(`home page answered ${home?.status()}`);
  done('home');

  step = 'signin-page';
  await page.locator('nav').getByRole('link', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.origin === appUrl.origin && u.pathname.endsWith('/signin'));
  done('signinPage');

  step = 'provider-button';
  const button = page.locator('form[action$="/signin/oidc"] button[type="submit"]');
  result.providerButton = (await button.textContent())?.trim();
  await button.click();
  step = 'op-login';
  await page.locator('input[name="login"]').fill(opts.login);
  result.opLoginUrl = page.url();
  await page.locator('input[name="password"]').fill(opts.password);
  done('toOpLogin');
  await page.locator('button[type="submit"]').click();

  step = 'op-consent';
  const greeting = page.locator('#greeting');
  const consent = page.locator('form:has(input[name="prompt"][value="consent"]) button[type="submit"]');
  await greeting.or(consent).first().waitFor();
  if (await consent.isVisible()) {
    result.consented = true;
    await consent.click();
  }
  done('opLoginAndConsent');

  step = 'greeting';
  await page.waitForURL((u) => u.origin === appUrl.origin && u.pathname === '/');
  result.greeting = (await greeting.innerText()).trim();
  result.email = (await page.locator('#email').innerText()).trim();
  result.picture = (await page.locator('#picture').innerText()).trim();
  if (!result.greeting.includes(expectName)) {
    throw new Error(`the greeting ${JSON.stringify(result.greeting)} does not show ${expectName}`);
  }
  done('backOnApp');

  step = 'profile';
  const profile = await page.goto(new URL('/profile', appUrl).href);
  if (!profile?.ok() || new URL(page.url()).pathname !== '/profile') {
    throw new Error(`/profile answered ${profile?.status()} at ${page.url()}`);
  }
  result.session = JSON.parse(await page.locator('#session').innerText());
  if (result.session?.user?.name !== expectName) {
    throw new Error(`/profile shows the session ${JSON.stringify(result.session)}`);
  }
  result.cookies = (await context.cookies(appUrl.href)).map((c) => c.name).sort();
  await page.screenshot({ path: opts.screenshot, fullPage: true });
  result.screenshot = opts.screenshot;
  done('profileAndScreenshot');
  result.ok = true;
} catch (error) {
  result.step = step;
  result.error = String(error?.message ?? error)
    .replace(/\x1b\[[0-9;]*m/g, '') // playwright colours its call log
    .split('\n').slice(0, 6).join('\n');
  if (page) {
    result.pageUrl = page.url();
    try {
      await page.screenshot({ path: opts.screenshot, fullPage: true, timeout: 3000 });
      result.screenshot = opts.screenshot;
    } catch {
      // the page is gone; the error says why
    }
  }
} finally {
  await browser?.close().catch(() => {});
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(result.ok ? 0 : 1);
