// Runs Auth.js (@auth/core, pinned in tests/package.json) for tests/test_interop.py.
//
// stdin:  a JSON array of operations, each {"op": ..., ...arguments}
// stdout: a JSON array of results in the same order, each {"ok": true, ...} or
//         {"ok": false, "error": "<name>: <message>"}; one failing operation never stops the batch.
//
// Operations:
//   encode    {claims, secret, salt, maxAge?}  -> {token}   @auth/core/jwt encode
//   decode    {token, secret, salt}            -> {claims}  @auth/core/jwt decode
//   getToken  {cookie, secret, salt?, secureCookie?} -> {claims}  @auth/core/jwt getToken:
//             reads the session cookie (joining chunks) from a Cookie header, then decodes
//   sessionCookies {claims, secret, salt, maxAge?, name?} -> {token, cookies: [{name, value}]}
//             what Auth.js does at sign-in: encode, then its own SessionStore splits the value
//             into cookies `<name>`, or `<name>.0`, `<name>.1`, ... (name defaults to salt)
//   deriveKey {secret, salt, enc?}             -> {key (hex), kid}  the HKDF key and kid, as
//             @auth/core's (unexported) getDerivedEncryptionKey and thumbprint compute them
//   encryptGcm {claims, secret, salt, maxAge?, kid?} -> {token, authjs}
//             an "A256GCM" token made with jose's EncryptJWT (Auth.js decodes A256GCM but
//             only encodes A256CBC-HS512); with kid: true the header carries the kid that
//             @auth/core's decode expects for that key; `authjs` is what @auth/core's decode
//             reads in the token
import { decode, encode, getToken } from "@auth/core/jwt";
import { hkdf } from "@panva/hkdf";
import { EncryptJWT, base64url, calculateJwkThumbprint } from "jose";

const KEY_LENGTHS = { "A256CBC-HS512": 64, A256GCM: 32 };

async function deriveKey(secret, salt, enc = "A256CBC-HS512") {
  const length = KEY_LENGTHS[enc];
  if (!length) throw new Error(`unsupported enc ${enc}`);
  const info = `Auth.js Generated Encryption Key (${salt})`;
  const key = await hkdf("sha256", secret, salt, info, length);
  // The same expression as @auth/core/jwt.js: SHA-512 for the 64-byte key, SHA-256 for 32 bytes.
  const kid = await calculateJwkThumbprint(
    { kty: "oct", k: base64url.encode(key) },
    `sha${key.byteLength << 3}`,
  );
  return { key, kid };
}

let sessionStore;
async function loadSessionStore() {
  // SessionStore is internal (not in the package's "exports"); load its module by file URL.
  if (!sessionStore) {
    const jwtUrl = import.meta.resolve("@auth/core/jwt");
    ({ SessionStore: sessionStore } = await import(new URL("./lib/utils/cookie.js", jwtUrl)));
  }
  return sessionStore;
}

const silent = { debug() {}, warn() {}, error() {} };

const ops = {
  async encode({ claims, secret, salt, maxAge }) {
    return { token: await encode({ token: claims, secret, salt, maxAge }) };
  },
  async decode({ token, secret, salt }) {
    return { claims: await decode({ token, secret, salt }) };
  },
  async getToken({ cookie, secret, salt, secureCookie = false }) {
    const req = { headers: { cookie } };
    return { claims: await getToken({ req, secret, salt, secureCookie, logger: silent }) };
  },
  async sessionCookies({ claims, secret, salt, maxAge, name = salt }) {
    const token = await encode({ token: claims, secret, salt, maxAge });
    const SessionStore = await loadSessionStore();
    const store = new SessionStore({ name, options: {} }, {}, silent);
    const cookies = store.chunk(token, {}).map(({ name, value }) => ({ name, value }));
    return { token, cookies };
  },
  async deriveKey({ secret, salt, enc }) {
    const { key, kid } = await deriveKey(secret, salt, enc);
    return { key: Buffer.from(key).toString("hex"), kid };
  },
  async encryptGcm({ claims, secret, salt, maxAge = 30 * 24 * 60 * 60, kid = false }) {
    const enc = "A256GCM";
    const derived = await deriveKey(secret, salt, enc);
    const header = kid ? { alg: "dir", enc, kid: derived.kid } : { alg: "dir", enc };
    const now = Math.floor(Date.now() / 1000);
    const token = await new EncryptJWT(claims)
      .setProtectedHeader(header)
      .setIssuedAt(now)
      .setExpirationTime(now + maxAge)
      .setJti(crypto.randomUUID())
      .encrypt(derived.key);
    return { token, authjs: await decode({ token, secret, salt }) };
  },
};

async function run(request) {
  const fn = Object.hasOwn(ops, request?.op) ? ops[request.op] : null;
  if (!fn) return { ok: false, error: `UnknownOperation: ${JSON.stringify(request?.op)}` };
  try {
    return { ok: true, ...(await fn(request)) };
  } catch (error) {
    return { ok: false, error: `${error?.name ?? "Error"}: ${error?.message ?? error}` };
  }
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const requests = JSON.parse(Buffer.concat(chunks).toString("utf8"));
if (!Array.isArray(requests)) throw new TypeError("stdin must be a JSON array of operations");
const results = [];
for (const request of requests) results.push(await run(request));
process.stdout.write(JSON.stringify(results));
