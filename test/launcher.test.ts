// The `portclash` executable's V8 code cache (lib/cli/launcher.cts): used only for the content it was
// made for, written by plain runs alone, whole or not at all. Each test runs a copy of the launcher
// and the bundle in a directory of its own (`--help` needs nothing else).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CLI } from './helpers/cli.js';

const BUNDLE = join(CLI, '..', 'bundle.cjs');
const CACHE = `bundle.cjs.v8-${process.versions.v8}.cache`;
const PLAIN_ENV = { ...process.env, NODE_OPTIONS: '', PORTCLASH_TRAIN_CODE_CACHE: '' };

/** The content id the bundle's first line names, which a cache's header must repeat. */
function contentId(): string {
  const id = /content ([0-9a-f]{64})\n/.exec(readFileSync(BUNDLE, 'latin1').slice(0, 200))?.[1];
  if (id === undefined) throw new Error(`${BUNDLE} does not name its content on its first line`);
  return id;
}

describe('the launcher and its code cache', () => {
  let directory: string;
  let help: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'portclash-launcher-'));
    copyFileSync(CLI, join(directory, 'launcher.cjs'));
    copyFileSync(BUNDLE, join(directory, 'bundle.cjs'));
    help = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8', env: PLAIN_ENV });
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  /** `--help` from the copy, with `flags` before the script; its output must be the real one. */
  const runCopy = (flags: string[] = []) => {
    const output = execFileSync(process.execPath, [...flags, join(directory, 'launcher.cjs'), '--help'], { encoding: 'utf8', env: PLAIN_ENV });
    expect(output).toBe(help);
  };
  const cacheHeader = () => readFileSync(join(directory, CACHE), 'latin1').split('\n', 1)[0];

  it('writes a missing cache at the first plain run, headed by the content id, and leaves no temporary file', () => {
    runCopy();
    expect(cacheHeader()).toBe(contentId());
    expect(readFileSync(join(directory, CACHE)).length).toBeGreaterThan(10_000);
    expect(readdirSync(directory).sort()).toEqual(['bundle.cjs', CACHE, 'launcher.cjs'].sort());
  });

  it('replaces a cache made for other content, and one whose bytes V8 rejects', () => {
    writeFileSync(join(directory, CACHE), `${'0'.repeat(64)}\nnot a cache`);
    runCopy();
    expect(cacheHeader()).toBe(contentId());
    writeFileSync(join(directory, CACHE), `${contentId()}\n${'x'.repeat(4096)}`);
    runCopy();
    expect(cacheHeader()).toBe(contentId());
    expect(readFileSync(join(directory, CACHE)).length).toBeGreaterThan(10_000);
  });

  it('does not use a cache V8 would take for a bundle of the same length but other content', () => {
    runCopy();
    // V8 checks only the source's length: the header's content id is what tells the two apart
    const changed = readFileSync(join(directory, 'bundle.cjs'), 'latin1')
      .replace(/content [0-9a-f]{64}\n/, `content ${'f'.repeat(64)}\n`)
      .replaceAll('Usage: portclash', 'Usagf: portclash');
    writeFileSync(join(directory, 'bundle.cjs'), changed, 'latin1');
    const output = execFileSync(process.execPath, [join(directory, 'launcher.cjs'), '--help'], { encoding: 'utf8', env: PLAIN_ENV });
    expect(output).toBe(help.replaceAll('Usage: portclash', 'Usagf: portclash'));
    expect(cacheHeader()).toBe('f'.repeat(64));
  });

  it('keeps a good cache as it is', () => {
    runCopy();
    const made = readFileSync(join(directory, CACHE));
    runCopy();
    expect(readFileSync(join(directory, CACHE)).equals(made)).toBe(true);
  });

  it('writes none for a run with Node flags, whose cache a plain run would reject', () => {
    runCopy(['--no-warnings']);
    expect(readdirSync(directory)).not.toContain(CACHE);
  });

  it('runs without a cache where one cannot be written, and leaves nothing behind', () => {
    // a directory where the cache would go: it cannot be read, and the rename over it fails
    mkdirSync(join(directory, CACHE));
    runCopy();
    expect(readdirSync(directory).sort()).toEqual(['bundle.cjs', CACHE, 'launcher.cjs'].sort());
    expect(readdirSync(join(directory, CACHE))).toEqual([]);
  });
});
