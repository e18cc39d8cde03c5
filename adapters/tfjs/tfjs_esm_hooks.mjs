// Module hooks (node:module register) that let Node load tfjs-core's ES-module build (dist/*.js):
// those files are ES modules in a package without "type": "module", and import each other without
// the ".js" extension (they are written for bundlers). Only files under @tensorflow/tfjs-core/dist/
// are affected; everything else resolves and loads as usual.
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ESM_DIST = '/@tensorflow/tfjs-core/dist/';

function inDist(url) {
  return typeof url === 'string' && url.startsWith('file:') && url.includes(ESM_DIST);
}

export async function resolve(specifier, context, next) {
  if (inDist(context.parentURL) && (specifier.startsWith('./') || specifier.startsWith('../'))) {
    const url = new URL(specifier, context.parentURL);
    const file = fileURLToPath(url);
    if (!existsSync(file) || !statSync(file).isFile()) {
      for (const tail of ['.js', '/index.js']) {
        if (existsSync(file + tail)) return { url: url.href + tail, format: 'module', shortCircuit: true };
      }
    }
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (inDist(url) && url.endsWith('.js') && !/\/tf-core[^/]*\.js$/.test(url)) {
    return next(url, { ...context, format: 'module' });
  }
  return next(url, context);
}
