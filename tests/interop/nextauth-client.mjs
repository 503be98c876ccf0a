// Runs next-auth's own client functions (next-auth/react, pinned in tests/package.json) against
// two servers with the same requests, for tests/test_nextauth_client.py:
//   - "authjs": a real @auth/core server (Auth() behind node:http), started here;
//   - "ours":   the server whose origin is argv[2] (the Flask test app).
// Both have a Credentials provider (alice / pw -> id "1", Alice, alice@example.com), the JWT
// strategy and a jwt callback that takes `name` from a session update, under /api/auth.
//
// stdout: {"authjs": steps, "ours": steps}, each step {"step": name, "result": ...} or
// {"step": name, "threw": "<Error name>: <message>"}; each server's origin reads "<origin>",
// session expiries "<expires>" and a CSRF token "<csrfToken>", so the two runs compare equal.
//
// Node has fetch but no browser around it. The only globals provided are what a browser adds
// to these calls: a cookie jar behind fetch (one per server, same-origin only). The client
// runs in next-auth's server mode (no `window`), where it calls NEXTAUTH_URL's absolute URLs.
import { createServer } from "node:http";
import { Auth } from "@auth/core";
import Credentials from "@auth/core/providers/credentials";
import { createElement } from "react";
import { renderToString } from "react-dom/server";

const SECRET = "nextauth-client-test-secret-0123456789abcdef";
const silent = { debug() {}, warn() {}, error() {} };

// ---- a browser's cookie jar, behind fetch -------------------------------------------------
const nodeFetch = globalThis.fetch;
const jar = { cookies: new Map(), refused: null };

function keep(setCookie) {
  const [pair, ...attributes] = setCookie.split(";");
  const name = pair.slice(0, pair.indexOf("=")).trim();
  const value = pair.slice(pair.indexOf("=") + 1).trim();
  const attribute = (key) =>
    attributes.map((a) => a.trim().split("=")).find(([k]) => k.toLowerCase() === key)?.[1];
  const maxAge = attribute("max-age");
  const expires = attribute("expires");
  const gone =
    (maxAge !== undefined && Number(maxAge) <= 0) ||
    (expires !== undefined && Date.parse(expires) <= Date.now());
  if (gone) jar.cookies.delete(name);
  else if (!(jar.refused && name.includes(jar.refused))) jar.cookies.set(name, value);
}

globalThis.fetch = async (input, init = {}) => {
  const headers = new Headers(init.headers);
  if (jar.cookies.size) {
    headers.set("cookie", [...jar.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
  }
  const response = await nodeFetch(input, { ...init, headers, redirect: "manual" });
  for (const setCookie of response.headers.getSetCookie()) keep(setCookie);
  return response;
};

// ---- a real @auth/core server ---------------------------------------------------------------
const authConfig = {
  secret: SECRET,
  trustHost: true,
  basePath: "/api/auth",
  logger: silent,
  providers: [
    Credentials({
      credentials: { username: {}, password: {} },
      authorize: ({ username, password }) =>
        username === "alice" && password === "pw"
          ? { id: "1", name: "Alice", email: "alice@example.com" }
          : null,
    }),
  ],
  callbacks: {
    jwt({ token, trigger, session }) {
      if (trigger === "update" && typeof session?.name === "string") token.name = session.name;
      return token;
    },
  },
};

async function handle(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    for (const one of [value].flat()) headers.append(key, one);
  }
  const hasBody = !["GET", "HEAD"].includes(req.method);
  const request = new Request(`http://${req.headers.host}${req.url}`, {
    method: req.method,
    headers,
    body: hasBody ? Buffer.concat(chunks) : undefined,
  });
  const response = req.url.startsWith("/api/auth/")
    ? await Auth(request, authConfig)
    : new Response("Not Found", { status: 404 });
  res.statusCode = response.status;
  response.headers.forEach((value, key) => key !== "set-cookie" && res.setHeader(key, value));
  const cookies = response.headers.getSetCookie();
  if (cookies.length) res.setHeader("set-cookie", cookies);
  res.end(Buffer.from(await response.arrayBuffer()));
}

function startAuthjs() {
  const server = createServer((req, res) =>
    handle(req, res).catch((error) => {
      res.statusCode = 599; // never an Auth.js answer: the comparison shows the failure
      res.end(String(error));
    }),
  );
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve([server, `http://127.0.0.1:${server.address().port}`])),
  );
}

// ---- next-auth's client, as an app calls it ----------------------------------------------
process.env.NEXTAUTH_URL = "http://127.0.0.1:1/api/auth"; // replaced per server below
console.error = () => {}; // next-auth logs each failed fetch; the steps record what happened
const react = await import("next-auth/react");
const { __NEXTAUTH, SessionProvider, getCsrfToken, getProviders, getSession, signIn, signOut } =
  react;

/** `update` from useSession() inside <SessionProvider>, rendered once (React on the server). */
function sessionUpdate() {
  let update;
  function Capture() {
    update = react.useSession().update;
    return null;
  }
  renderToString(createElement(SessionProvider, { session: null }, createElement(Capture)));
  return update;
}

async function run(origin) {
  __NEXTAUTH.baseUrl = __NEXTAUTH.baseUrlServer = origin;
  __NEXTAUTH.basePath = __NEXTAUTH.basePathServer = "/api/auth";
  jar.cookies.clear();
  const steps = [];
  const step = async (name, call) => {
    try {
      steps.push({ step: name, result: (await call()) ?? null });
    } catch (error) {
      steps.push({ step: name, threw: `${error?.name}: ${error?.message}` });
    }
  };
  const credentials = (password) => ({
    redirect: false,
    redirectTo: `${origin}/after-signin`,
    username: "alice",
    password,
  });
  await step("getProviders", getProviders);
  await step("getCsrfToken", async () => {
    const token = await getCsrfToken();
    return typeof token === "string" && token.length >= 32 ? "<csrfToken>" : token;
  });
  await step("getSession signed out", getSession);
  await step("signIn wrong password", () => signIn("credentials", credentials("wrong")));
  await step("getSession after the wrong password", getSession);
  jar.refused = "csrf-token"; // a browser that did not keep the CSRF cookie
  for (const name of jar.cookies.keys()) if (name.includes("csrf-token")) jar.cookies.delete(name);
  await step("signIn without the CSRF cookie", () => signIn("credentials", credentials("pw")));
  jar.refused = null;
  await step("getSession after the missing CSRF cookie", getSession);
  await step("signIn", () => signIn("credentials", credentials("pw")));
  await step("getSession signed in", getSession);
  await step("update session", () => sessionUpdate()({ name: "Ada" }));
  await step("getSession updated", getSession);
  await step("signOut", () => signOut({ redirect: false, redirectTo: `${origin}/bye` }));
  await step("getSession signed out again", getSession);
  // Two answers the client functions above do not reach: a sign-out without the CSRF token,
  // and a session update with a wrong one, as Auth.js's client would send them.
  const raw = async (path, init) => {
    const response = await fetch(`${origin}/api/auth/${path}`, { method: "POST", ...init });
    return { status: response.status, body: await response.json() };
  };
  await step("signOut without the CSRF token", () =>
    raw("signout", {
      headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Auth-Return-Redirect": "1" },
      body: new URLSearchParams({ callbackUrl: `${origin}/bye` }),
    }),
  );
  await step("update with a wrong CSRF token", () =>
    raw("session", {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ csrfToken: "wrong", data: { name: "Eve" } }),
    }),
  );
  return JSON.parse(
    JSON.stringify(steps)
      .replaceAll(origin, "<origin>")
      .replace(/"expires":"\d{4}-\d\d-\d\dT[^"]*Z"/g, '"expires":"<expires>"'),
  );
}

const [server, authjsOrigin] = await startAuthjs();
const authjs = await run(authjsOrigin);
const ours = await run(process.argv[2]);
server.closeAllConnections();
server.close();
// next-auth opens a BroadcastChannel per getSession() and never closes it: exit explicitly.
process.stdout.write(JSON.stringify({ authjs, ours }), () => process.exit(0));
