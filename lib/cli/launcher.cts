#!/usr/bin/env node
// The `portclash` executable: runs the bundled command line (bundle.cjs, made by scripts/build-cli.mjs)
// compiled with a V8 code cache. Node 20 has no compile cache of its own, and compiling the bundle
// was the largest part of a command's start-up. Like Python's __pycache__, the cache is written
// beside the bundle where it is missing, one file per V8 version, when that directory is writable.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

const BUNDLE = join(__dirname, 'bundle.cjs');
// The bundle's first line, which names its content (a SHA-256 of the rest, by the build): a cache
// made for other content is never used, even of the same length, which is all V8 itself checks.
const ID_LINE = /^\/\/ portclash command line \(scripts\/build-cli\.mjs\), content ([0-9a-f]{64})\n/;
const TRAIN_VARIABLE = 'PORTCLASH_TRAIN_CODE_CACHE';

/** The cache's bytes, after its header line (the content id it was made for); undefined where there is none for this content. */
function readCache(path: string, id: string): Buffer | undefined {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch {
    return undefined;
  }
  const header = `${id}\n`;
  return file.toString('latin1', 0, header.length) === header ? file.subarray(header.length) : undefined;
}

/** Writes a cache of `script` (the functions compiled so far included), whole or not at all; a directory that is not writable keeps none. */
function writeCache(path: string, id: string, script: Script): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, Buffer.concat([Buffer.from(`${id}\n`, 'latin1'), script.createCachedData()]));
    renameSync(temporary, path);
  } catch {
    rmSync(temporary, { force: true });
  }
}

const source = readFileSync(BUNDLE, 'utf8');
const id = ID_LINE.exec(source)?.[1];
const cachePath = join(__dirname, `bundle.cjs.v8-${process.versions.v8}.cache`);
const cachedData = id === undefined ? undefined : readCache(cachePath, id);
// the bundle is a function expression, CommonJS' own wrapper around the bundled modules
const script = new Script(source, { filename: BUNDLE, cachedData });
// Only a plain `node` writes one: V8 rejects a cache made under other flags, and a run with
// --cpu-prof or NODE_OPTIONS must not leave a cache every plain run would reject.
const plain = process.execArgv.length === 0 && (process.env.NODE_OPTIONS ?? '') === '';
// The build sets TRAIN_VARIABLE for runs of the everyday commands, each adding what it compiled.
const training = process.env[TRAIN_VARIABLE] === '1';
if (id !== undefined && (cachedData === undefined || script.cachedDataRejected === true || training) && plain) {
  // at exit, so that the cache holds the functions this command compiled too
  process.once('exit', () => writeCache(cachePath, id, script));
}
const main = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
const bundleModule = { exports: {} };
main.call(bundleModule.exports, bundleModule.exports, createRequire(BUNDLE), bundleModule, BUNDLE, __dirname);
