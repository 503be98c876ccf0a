// Passkeys in a real browser: examples/passkeys with Chromium's virtual authenticator.
//
//   node tests/browser/passkey.mjs --url http://localhost:5000 --other http://localhost:5001 \
//        --screenshot out.png [--timeout 10000]
//
// --url is the app's AUTH_URL; --other serves the same app on another origin (another port:
// the same RP ID "localhost", so the browser signs there, and the server must refuse it).
// Through the Chrome DevTools Protocol (WebAuthn.enable, WebAuthn.addVirtualAuthenticator:
// ctap2, internal transport, resident keys, user verification) the steps are:
//   1. sign up with a new passkey on the built-in sign-in page,
//   2. sign out, 3. sign in with the passkey (no username: a discoverable credential),
//   4. sign out, then replay the recorded sign-in POST: once as is (its challenge cookie was
//      used up), once with the old challenge cookie put back (the sign counter refuses it),
//   5. sign in from the other origin: refused.
// Prints one JSON line: `ok`, what each step saw, the recorded ceremonies (`recorded`, for
// the unit tests' fixtures), and on failure `error`, `step`, the page's URL. Exit 0 when ok.

import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    other: { type: 'string' },
    screenshot: { type: 'string' },
    timeout: { type: 'string', default: '10000' },
  },
});
if (!opts.url || !opts.other || !opts.screenshot) {
  process.stderr.write('usage: passkey.mjs --url <AUTH_URL> --other <other origin> --screenshot <file.png>\n');
  process.exit(2);
}
const app = new URL(opts.url);
const other = new URL(opts.other);
const timeout = Number(opts.timeout);
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

const result = { ok: false, url: app.href, steps: {}, recorded: {} };
let step = 'launch';
let browser;
let page;

// The session as the current page's origin sees it (cookies do not depend on the port).
async function session() {
  return page.evaluate(async () => (await fetch('/api/auth/session')).json());
}

// The body of the next POST to the passkey callback, and the challenge cookie it carried.
function nextCallback(context) {
  return new Promise((resolve) => {
    const listener = async (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/api/auth/callback/passkey')) {
        page.off('request', listener);
        const cookie = (await request.allHeaders()).cookie ?? '';
        const challenge = cookie.split('; ').find((c) => c.startsWith('authjs.challenge='));
        resolve({ body: request.postDataJSON(), challengeCookie: challenge?.slice('authjs.challenge='.length) });
      }
    };
    page.on('request', listener);
  });
}

async function signOut(origin) {
  await page.goto(new URL('/api/auth/signout', origin).href);
  await page.locator('form button[type="submit"]').click();
  await page.waitForURL((u) => !u.pathname.endsWith('/signout'));
  if ((await session()) !== null) throw new Error('still signed in after signing out');
}

async function clickPasskey(origin, label) {
  await page.goto(new URL('/api/auth/signin', origin).href);
  await page.getByRole('button', { name: label }).click();
}

async function replay(body) {
  return page.evaluate(async (b) => {
    const r = await fetch('/api/auth/callback/passkey', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(b),
    });
    return { status: r.status, body: await r.json() };
  }, body);
}

try {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: LAUNCH_ARGS, timeout });
  result.browserVersion = browser.version();
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  context.setDefaultTimeout(timeout);
  context.setDefaultNavigationTimeout(timeout);
  page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  result.pageErrors = pageErrors;

  step = 'virtual-authenticator';
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  step = 'register';
  await page.goto(new URL('/api/auth/signin', app).href);
  await page.locator('input[name="name"]').fill('Ada');
  const registered = nextCallback(context);
  await page.getByRole('button', { name: 'Create an account with a passkey' }).click();
  result.recorded.register = (await registered).body;
  await page.waitForURL((u) => u.origin === app.origin && u.pathname === '/');
  result.steps.register = { greeting: (await page.locator('#greeting').innerText()).trim(), session: await session() };
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  result.steps.register.credentials = credentials.map((c) => ({ isResidentCredential: c.isResidentCredential, signCount: c.signCount, rpId: c.rpId }));

  step = 'sign-out';
  await signOut(app);

  step = 'sign-in';
  const signedIn = nextCallback(context);
  await clickPasskey(app, 'Sign in with Passkey');
  const signIn = await signedIn;
  result.recorded.authenticate = signIn.body;
  await page.waitForURL((u) => u.origin === app.origin && u.pathname === '/');
  result.steps.signIn = { greeting: (await page.locator('#greeting').innerText()).trim(), session: await session() };

  step = 'replay';
  await signOut(app);
  const asIs = await replay(signIn.body);
  const afterAsIs = await session();
  await context.addCookies([{ name: 'authjs.challenge', value: signIn.challengeCookie, url: app.origin, httpOnly: true, sameSite: 'Lax' }]);
  const withCookie = await replay(signIn.body);
  result.steps.replay = { asIs, afterAsIs, withCookie, afterWithCookie: await session() };

  step = 'wrong-origin';
  await clickPasskey(other, 'Sign in with Passkey');
  await page.waitForURL((u) => u.searchParams.get('error') !== null);
  result.steps.wrongOrigin = { url: page.url(), session: await session(), alert: (await page.locator('p.alert').first().innerText()).trim() };

  step = 'account';
  await clickPasskey(app, 'Sign in with Passkey');
  await page.waitForURL((u) => u.origin === app.origin && u.pathname === '/');
  await page.goto(new URL('/account', app).href);
  result.steps.account = { passkeys: (await page.locator('#passkeys li').allInnerTexts()).map((t) => t.trim()) };
  await page.screenshot({ path: opts.screenshot, fullPage: true });
  result.screenshot = opts.screenshot;
  result.ok = true;
} catch (error) {
  result.step = step;
  result.error = String(error?.message ?? error).replace(/\x1b\[[0-9;]*m/g, '').split('\n').slice(0, 6).join('\n');
  if (page) {
    result.pageUrl = page.url();
    try {
      await page.screenshot({ path: opts.screenshot, fullPage: true, timeout: 3000 });
    } catch {
      // the page is gone; the error says why
    }
  }
} finally {
  await browser?.close().catch(() => {});
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(result.ok ? 0 : 1);
