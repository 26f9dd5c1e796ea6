// Prints the tables of docs/bad-input.md: each bad call and CLI run of test/helpers/bad-input-cases.mjs, with the code and message it got here.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import * as portclash from '../dist/index.js';
import { apiCases, CLI_CASES } from '../test/helpers/bad-input-cases.mjs';

const CLI = fileURLToPath(new URL('../dist/cli/launcher.cjs', import.meta.url));
/** @param {string} text */
const cell = (text) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

const api = ['| call | code | message |', '|---|---|---|'];
for (const [name, call] of apiCases(portclash)) {
  const error = await Promise.resolve()
    .then(call)
    .then(
      () => null,
      /** @param {unknown} caught */ (caught) => caught,
    );
  const { code, message } = /** @type {{ code?: string, message?: string }} */ (error ?? { code: 'none', message: 'no error' });
  api.push(`| \`${name}\` | \`${code ?? '?'}\` | ${cell(message ?? '')} |`);
}

const cli = ['| command | exit | stderr |', '|---|---|---|'];
for (const [args] of CLI_CASES) {
  let status = 0;
  let stderr = '';
  try {
    execFileSync(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const failed = /** @type {{ status: number, stderr: Buffer }} */ (error);
    status = failed.status;
    stderr = failed.stderr.toString().trim();
  }
  const shown = args.map((arg) => (arg === '' ? "''" : /[\s[\]]/.test(arg) ? `'${arg}'` : arg)).join(' ');
  cli.push(`| \`portclash ${shown}\` | ${status} | ${cell(stderr)} |`);
}
console.log(`${api.join('\n')}\n\n${cli.join('\n')}`);
