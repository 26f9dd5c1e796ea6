// Property fuzzing of parseServices (lib/services.ts) with fast-check, for a bounded time: jazzer.js's prebuilt fuzzer needs glibc 2.38.
//
// node fuzz/fuzz_services.mjs [seconds] [crashers dir] [corpus dir]: runs until the time is up or
// an input breaks a property; a breaking input (shrunk) is written to the crashers dir and the
// exit code is 1. Needs `npm run build` (it imports dist/).
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import fc from 'fast-check';

import { parseServices } from '../dist/services.js';

import { checkServices } from './check-services.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const seconds = Number(process.argv[2] ?? process.env.FUZZ_SECONDS ?? 60);
const crashers = process.argv[3] ?? join(here, 'crashers', 'services');
const corpus = process.argv[4] ?? join(here, 'corpus', 'services');

const seeds = readdirSync(corpus).map((name) => readFileSync(join(corpus, name), 'utf8'));
const seedLines = seeds.flatMap((text) => text.split('\n'));

// Texts near real files: seed lines, shuffled, cut and mixed with tokens of the format and noise.
const token = fc.oneof(
  fc.constantFrom(
    'http',
    'www',
    '80/tcp',
    '65535/udp',
    '65536/tcp',
    '0/tcp',
    '/tcp',
    '80/',
    '#',
    ' ',
    '\t',
    '\r',
    '\v',
    '\f',
    '\n',
    '\u00a0',
    '\u2028',
    'TCP',
    'é',
  ),
  fc.integer({ min: 0, max: 1e6 }).map((port) => `${port}/tcp`),
  fc.string({ unit: 'grapheme-ascii', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
);
const mutatedLine = fc.tuple(fc.constantFrom(...seedLines), fc.array(fc.tuple(fc.nat(), token), { maxLength: 4 })).map(([line, edits]) => {
  let text = line;
  for (const [at, insert] of edits) {
    const cut = at % (text.length + 1);
    text = text.slice(0, cut) + insert + text.slice(cut + (at % 3));
  }
  return text;
});
const text = fc.oneof(
  fc.array(mutatedLine, { maxLength: 40 }).map((lines) => lines.join('\n')),
  fc.array(token, { maxLength: 60 }).map((tokens) => tokens.join('')),
  fc.string({ unit: 'binary', maxLength: 400 }),
  fc.constantFrom(...seeds),
);

const started = Date.now();
let runs = 0;
const details = fc.check(
  fc.property(text, (input) => {
    runs += 1;
    checkServices(parseServices, input);
  }),
  { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false },
);
const elapsed = ((Date.now() - started) / 1000).toFixed(0);
if (details.failed && details.counterexample !== null) {
  const [input] = details.counterexample;
  mkdirSync(crashers, { recursive: true });
  const file = join(crashers, `crash-${createHash('sha1').update(input).digest('hex')}`);
  writeFileSync(file, input, 'utf8');
  console.error(
    `fuzz_services: broken after ${runs} runs in ${elapsed} s: ${String(details.errorInstance)}\n  input: ${JSON.stringify(input)}\n  kept in ${file}`,
  );
  process.exit(1);
}
console.log(`fuzz_services: ${runs} runs in ${elapsed} s, no property broken`);
