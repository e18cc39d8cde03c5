#!/usr/bin/env node
'use strict';
/**
 * Fast test of the TensorFlow.js adapter (CTest kits/tfjs):
 *   1. TensorFlow.js is installed (else: fail, saying to run `npm ci` in adapters/tfjs; never skipped);
 *   2. in process: the adapter's start-up registers a gradient for every kernel it runs
 *      (tf.getGradient), and tfjs-core's CommonJS bundle alone registers none of them;
 *   3. the adapter started with GRADSPEC_TFJS_NO_GRADIENTS=1 exits 1 naming the missing gradients,
 *      before any handshake (it fails loudly, never computes without gradients);
 *   4. `gradspec run` over cases/standard/{softmax,layer_norm,linear,attention}.json in float32:
 *      exit 0, 30 cases, all pass;
 *   5. the same with GRADSPEC_TFJS_BUG=1 (softmax backward with a wrong cotangent): exit 1, each of
 *      the 5 softmax cases fails on gradients.x, the other 25 still pass.
 *
 *   node adapters/tfjs/selftest.js [--gradspec PATH]     (else $GRADSPEC, else `gradspec` on PATH)
 */

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const HERE = __dirname;
const ROOT = path.resolve(HERE, '..', '..');
const ADAPTER = path.join(HERE, 'gradspec_tfjs_adapter.js');
const SUITES = { softmax: 5, layer_norm: 6, linear: 5, attention: 14 };

let failures = 0;
const out = (s) => process.stdout.write(`${s}\n`);
function check(ok, what) {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
  if (!ok) failures += 1;
}

function gradspecPath() {
  const i = process.argv.indexOf('--gradspec');
  if (i > 0 && process.argv[i + 1]) return process.argv[i + 1];
  return process.env.GRADSPEC || 'gradspec';
}

function installed() {
  for (const p of ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu']) {
    if (!fs.existsSync(path.join(HERE, 'node_modules', ...p.split('/'), 'package.json'))) return false;
  }
  return true;
}

/** gradspec run over the four suites (symlinked into one folder: one adapter start). */
function runSuites(env) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradspec-tfjs-'));
  try {
    for (const op of Object.keys(SUITES)) fs.symlinkSync(path.join(ROOT, 'cases', 'standard', `${op}.json`), path.join(dir, `${op}.json`));
    const summary = path.join(dir, 'summary.json');
    const res = spawnSync(gradspecPath(), ['run', '--suite', dir, '--adapter', `"${process.execPath}" "${ADAPTER}"`,
      '--dtype', 'float32', '--json', summary], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120000 });
    if (res.error) throw new Error(`cannot run ${gradspecPath()}: ${res.error.message} (pass --gradspec PATH or set GRADSPEC)`);
    const json = fs.existsSync(summary) ? JSON.parse(fs.readFileSync(summary, 'utf8')) : null;
    return { status: res.status, out: res.stdout + res.stderr, json };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  if (!installed()) {
    out(`FAIL TensorFlow.js is not installed in ${path.relative(ROOT, HERE)}/node_modules: ` +
      `run \`cd ${path.relative(ROOT, HERE)} && npm ci\` (the npm registry is needed once)`);
    process.exit(1);
  }
  const t0 = Date.now();

  // 2. Gradients registered in process, and absent from the CommonJS bundle alone.
  const adapter = require(ADAPTER);
  const missingBefore = adapter.KERNELS_WITH_GRADIENTS.filter((k) => !adapter.tf.getGradient(k));
  check(missingBefore.length === adapter.KERNELS_WITH_GRADIENTS.length,
    `tfjs-core's CommonJS bundle registers none of the ${adapter.KERNELS_WITH_GRADIENTS.length} gradients the adapter needs`);
  await adapter.loadGradients();
  const missing = adapter.KERNELS_WITH_GRADIENTS.filter((k) => !adapter.tf.getGradient(k));
  check(missing.length === 0, `after start-up every needed gradient is registered${missing.length ? ` (missing: ${missing})` : ''}`);
  check(adapter.tf.getBackend() === 'cpu', 'backend is cpu');
  const version = require(path.join(HERE, 'node_modules', '@tensorflow', 'tfjs-core', 'package.json')).version;
  check(adapter.tf.version_core === version, `tf.version_core ${adapter.tf.version_core} is the installed tfjs-core ${version}`);

  // 3. Without the registrations the adapter refuses to start.
  const bare = spawnSync(process.execPath, [ADAPTER], { input: '', encoding: 'utf8', env: { ...process.env, GRADSPEC_TFJS_NO_GRADIENTS: '1' }, timeout: 60000 });
  check(bare.status === 1 && bare.stdout === '' && /no gradient registered for kernel\(s\) .*Softmax/.test(bare.stderr),
    `without gradient registrations: exit 1, no handshake, "no gradient registered" (got exit ${bare.status})`);

  // 4. The four standard suites pass.
  const total = Object.values(SUITES).reduce((a, b) => a + b, 0);
  const good = runSuites({});
  const s = good.json && good.json.summary;
  check(good.status === 0, `gradspec run (softmax, layer_norm, linear, attention) exits 0 (got ${good.status})`);
  check(s && s.pass === total && s.fail === 0 && s.error === 0 && s.skipped === 0 && s.acceptable === 0,
    `${total} cases pass (got ${JSON.stringify(s)})`);

  // 5. The planted backward bug is caught, case by case.
  const bug = runSuites({ GRADSPEC_TFJS_BUG: '1' });
  const b = bug.json && bug.json.summary;
  check(bug.status === 1, `with GRADSPEC_TFJS_BUG=1 gradspec run exits 1 (got ${bug.status})`);
  check(b && b.fail === SUITES.softmax && b.pass === total - SUITES.softmax, `5 softmax cases fail, the rest pass (got ${JSON.stringify(b)})`);
  const failed = (bug.json ? bug.json.cases : []).filter((c) => c.verdict === 'fail').map((c) => c.id);
  check(failed.length === SUITES.softmax && failed.every((id) => id.startsWith('softmax/')), `the failing cases are the softmax ones (${failed.join(', ')})`);
  check(/fail +softmax\/\S+[^\n]*gradients\.x/.test(bug.out), 'gradspec names gradients.x in the failures');

  out(`${failures ? `${failures} check(s) failed` : 'all checks passed'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (failures) {
    out('--- gradspec output (good run) ---\n' + good.out + '\n--- (bug run) ---\n' + bug.out);
  }
  process.exit(failures ? 1 : 0);
}

main().catch((e) => { out(`FAIL ${e.stack || e}`); process.exit(1); });
