// A real OpenID Provider for the test suite: panva's `oidc-provider` (tests/package.json).
//
// Started by tests/oidc_provider.py (`start_op` / `running_op`); see that module.
//
//   node tests/op/server.mjs '<config json>'     (or the JSON on stdin when argv has none)
//
// Config (every key optional):
//   host     "127.0.0.1"
//   port     0 (a free port; the actual one is in the issuer printed on READY)
//   clients  [{ client_id, client_secret, redirect_uris, ...more client metadata }]
//            each gets grant_types ["authorization_code", "refresh_token"], response_types
//            ["code"], token_endpoint_auth_method "client_secret_basic" and
//            id_token_signed_response_alg "RS256" unless it says otherwise
//   ttl      seconds per token kind, merged over { AccessToken: 60, AuthorizationCode: 60,
//            IdToken: 3600, RefreshToken: 86400, Interaction: 600, Session: 86400, Grant: 86400 }
//
// GET /test/refresh-grants answers {"count": <refresh_token grants asked for so far>}.
//
// Prints exactly one line on stdout, `READY <issuer>`, once it listens; everything else (logs,
// errors) goes to stderr. oidc-provider's development-only NOTICE/WARNING lines are dropped
// unless OP_VERBOSE is set. Exits on SIGTERM/SIGINT and when stdin closes, so an abandoned
// process (its parent died) does not outlive the test run.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { format } from 'node:util';

// --- quiet, stdout-clean logging (before oidc-provider is imported: it warns on import) ---------

const verbose = Boolean(process.env.OP_VERBOSE);
const devNoise = /^(?:\x1b\[[0-9;]*m)?oidc-provider (?:NOTICE|WARNING): /;
const toStderr = (...args) => {
  if (!verbose && typeof args[0] === 'string' && devNoise.test(args[0])) return;
  process.stderr.write(`${format(...args)}\n`);
};
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;
console.debug = toStderr;

const { default: Provider } = await import('oidc-provider');

// --- configuration ----------------------------------------------------------------------------

// Without argv, the config is the first line of stdin (stdin then stays open: closing it stops).
let stdinEnded = false;
process.stdin.once('end', () => { stdinEnded = true; });

function readFirstLine() {
  return new Promise((resolve) => {
    let buffer = '';
    const onData = (chunk) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline >= 0) {
        process.stdin.off('data', onData);
        resolve(buffer.slice(0, newline));
      }
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', onData);
    process.stdin.once('end', () => resolve(buffer));
  });
}

const raw = process.argv[2] ?? (await readFirstLine());
const config = raw.trim() ? JSON.parse(raw) : {};
const host = config.host ?? '127.0.0.1';
const port = config.port ?? 0;

const ttl = {
  AccessToken: 60,
  AuthorizationCode: 60,
  IdToken: 3600,
  RefreshToken: 24 * 3600,
  Interaction: 600,
  Session: 24 * 3600,
  Grant: 24 * 3600,
  ...config.ttl,
};

const clients = (config.clients ?? []).map((client) => ({
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS256',
  ...client,
}));

// A fresh RSA signing key per process (its public half is served at /jwks).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomBytes(8).toString('hex'),
  alg: 'RS256',
  use: 'sig',
};

function capitalize(login) {
  return login ? login[0].toUpperCase() + login.slice(1) : login;
}

// What `<name>~<variant>` logins assert as email_verified (the email is `<name>@example.com`).
const EMAIL_VERIFIED = { false: false, string: 'true', empty: '', absent: undefined };

// Any login is an account: sub = the login typed in the devInteractions form. A login
// `<name>~false` (or ~string, ~empty, ~absent) has the email of `<name>`, not verified.
async function findAccount(_ctx, id) {
  const [name, variant] = id.split('~');
  const claims = {
    sub: id,
    email: `${name}@example.com`,
    email_verified: variant in EMAIL_VERIFIED ? EMAIL_VERIFIED[variant] : true,
    name: capitalize(name),
    picture: `https://example.com/${name}.png`,
  };
  if (claims.email_verified === undefined) delete claims.email_verified;
  return { accountId: id, async claims() { return claims; } };
}

// --- the server ---------------------------------------------------------------------------------

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, host, resolve);
});
const issuer = `http://${host}:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  findAccount,
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'picture'],
  },
  // Put the scope's claims in the id_token too, not only at userinfo.
  conformIdTokenClaims: false,
  // PKCE (S256, the only method oidc-provider offers) for every client, confidential too.
  pkce: { required: () => true },
  // A refresh token for every authorization_code grant of a client allowed the refresh_token
  // grant, offline_access or not.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  // Every refresh rotates: the used refresh token is consumed, and presenting it again is
  // invalid_grant (and revokes the whole grant, as reuse detection).
  rotateRefreshToken: true,
  ttl,
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><title>oidc-provider error</title><pre>${
      JSON.stringify(out, null, 2).replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`)
    }</pre>`;
  },
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));

// How many refresh_token grants were asked for: GET /test/refresh-grants answers
// {"count": n} (answered and refused alike), so a test can tell how often its apps refreshed
// (tests/oidc_provider.py: OP.refresh_grants()).
let refreshGrants = 0;
const countRefresh = (ctx) => {
  if (ctx.oidc?.params?.grant_type === 'refresh_token') refreshGrants += 1;
};
provider.on('grant.success', countRefresh);
provider.on('grant.error', countRefresh);
if (verbose) {
  for (const event of ['authorization.error', 'grant.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => console.error(event, err));
  }
}

// oidc-provider checks static client metadata lazily; check it now, so a bad config fails here.
try {
  for (const { client_id: clientId } of clients) {
    if (!(await provider.Client.find(clientId))) throw new Error(`client ${clientId} not found`);
  }
} catch (err) {
  console.error('invalid client configuration:', err.error_description ?? err.message, err);
  process.exit(2);
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.method === 'GET' && req.url === '/test/refresh-grants') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ count: refreshGrants }));
    return;
  }
  callback(req, res);
});
server.removeAllListeners('error');
server.on('error', (err) => console.error('http server error', err));

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
if (stdinEnded) stop();

process.stdout.write(`READY ${issuer}\n`);
