// @auth/core's decode() timed in Node, for bench/run.py's token-decode comparison.
//
// usage: node bench/authjs_decode.mjs <node_modules directory>
// stdin:  {"token", "secret", "salt", "warmup", "count", "name"}
// stdout: {"ops_per_s", "count", "seconds", "node", "authjs"}
//
// Single flight: `count` decodes of the same token, each awaited before the next starts,
// after `warmup` untimed ones. Every result's `name` claim must equal `name`, else exit 1.
// @auth/core is imported by file path from the given node_modules (tests/node_modules, set
// up by `npm ci --prefix tests`): ES modules do not read NODE_PATH.
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [nodeModules] = process.argv.slice(2);
if (!nodeModules) {
  console.error("usage: node authjs_decode.mjs <node_modules directory>");
  process.exit(2);
}
const core = path.join(nodeModules, "@auth", "core");
const { decode } = await import(pathToFileURL(path.join(core, "jwt.js")).href);
const version = JSON.parse(readFileSync(path.join(core, "package.json"), "utf8")).version;

const input = JSON.parse(readFileSync(0, "utf8"));
const { token, secret, salt, warmup, count, name } = input;

async function run(n) {
  for (let i = 0; i < n; i++) {
    const claims = await decode({ token, secret, salt });
    if (!claims || claims.name !== name) {
      console.error(`decode() answered ${JSON.stringify(claims)}`);
      process.exit(1);
    }
  }
}

await run(warmup);
const start = process.hrtime.bigint();
await run(count);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
process.stdout.write(
  JSON.stringify({
    ops_per_s: count / seconds,
    count,
    seconds,
    node: process.version,
    authjs: version,
  }) + "\n",
);
