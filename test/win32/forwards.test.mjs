// portproxy forwards on Windows: real values in the registry's portproxy keys, read by the addon, findForwards and `portclash forwards` (npm run test:win32 runs it under wine).
//
// The rules are written with reg.exe, as netsh writes them (`listenaddress/listenport` =
// `connectaddress/connectport`, REG_SZ), and the whole PortProxy key is deleted before and after:
// the wine prefix is kept from run to run. Only under wine: on Windows, writing HKLM needs an
// administrator, and iphlpsvc would start listening on the ports. Targets are in documentation
// ranges (192.0.2.0/24, 2001:db8::/32).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * @typedef {import('../../lib/binding.js').NativeBinding} NativeBinding
 * @typedef {import('../../dist/index.js').ForwardsReport} ForwardsReport
 */

const { findForwards, listSockets } = await import('../../dist/index.js');
const { runCli } = await import('../../dist/cli/run.js');

const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
// node-gyp-build has no types: what it returns is said where it is called, as lib/binding.ts does
const require = /** @type {(id: string) => unknown} */ (createRequire(import.meta.url));
const nodeGypBuild = /** @type {(dir: string) => unknown} */ (require('node-gyp-build'));
const binding = /** @type {Required<Pick<NativeBinding, 'readRegistryValues'>>} */ (nodeGypBuild(packageRoot));

const underWine = process.env.PORTCLASH_UNDER_WINE === '1';
const PORTPROXY = 'HKLM\\SYSTEM\\CurrentControlSet\\Services\\PortProxy';
const KEY = (/** @type {string} */ type) => `${PORTPROXY}\\${type}\\tcp`;

/**
 * Runs reg.exe; its output is not wanted (and under wine a pipe would not do).
 * @param {...string} args
 * @returns {number | null} its exit status
 */
function reg(...args) {
  return spawnSync('reg', args, { stdio: 'ignore', timeout: 60_000 }).status;
}

/**
 * Adds one value as netsh would, or of another type to see it refused.
 * @param {string} type
 * @param {string} name
 * @param {string} data
 * @param {string} [registryType]
 */
function addRule(type, name, data, registryType = 'REG_SZ') {
  assert.equal(reg('add', KEY(type), '/v', name, '/t', registryType, '/d', data, '/f'), 0, `reg add ${KEY(type)} /v ${name}`);
}

/** @param {...string} argv */
async function cli(...argv) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, stdout, stderr };
}

describe('portproxy forwards', { skip: !underWine && 'writes HKLM (an administrator on Windows, and iphlpsvc would listen): run under wine' }, () => {
  before(() => {
    reg('delete', PORTPROXY, '/f'); // a run that was killed may have left its rules
    addRule('v4tov4', '0.0.0.0/18080', '192.0.2.10/80');
    addRule('v4tov4', '127.0.0.1/18081', '192.0.2.11/81');
    addRule('v4tov6', '0.0.0.0/18083', '2001:db8::11/80');
    addRule('v6tov6', '::/18082', '2001:db8::10/80');
  });

  after(() => {
    reg('delete', PORTPROXY, '/f');
  });

  test('the addon reads each key: its values as REG_SZ text, ERROR_FILE_NOT_FOUND for a key never made', () => {
    const readings = binding.readRegistryValues(['v4tov4', 'v6tov4'].map((type) => KEY(type).slice('HKLM\\'.length)));
    assert.deepEqual(readings, [
      {
        errno: 0,
        syscall: null,
        changing: false,
        values: [
          { name: '0.0.0.0/18080', type: 1, data: '192.0.2.10/80', error: 0 },
          { name: '127.0.0.1/18081', type: 1, data: '192.0.2.11/81', error: 0 },
        ],
      },
      { errno: 2, syscall: 'RegOpenKeyExW', changing: false, values: [] },
    ]);
  });

  test('findForwards gives every rule, complete when every value is one', async () => {
    const report = await findForwards();
    assert.deepEqual(
      report.forwards.map((forward) => forward.kind === 'proxy' && [forward.type, forward.listenAddress, forward.ports, forward.target]),
      [
        ['v4tov4', '0.0.0.0', [[18080, 18080]], { address: '192.0.2.10', port: 80 }],
        ['v4tov4', '127.0.0.1', [[18081, 18081]], { address: '192.0.2.11', port: 81 }],
        ['v4tov6', '0.0.0.0', [[18083, 18083]], { address: '2001:db8::11', port: 80 }],
        ['v6tov6', '::', [[18082, 18082]], { address: '2001:db8::10', port: 80 }],
      ],
    );
    assert.equal(report.complete, true, JSON.stringify(report.unknown));
    const [first] = (await findForwards({ port: 18080, protocol: 'tcp' })).forwards;
    assert.deepEqual(first, {
      kind: 'proxy',
      protocol: 'tcp',
      family: 'IPv4',
      ports: [[18080, 18080]],
      listenAddress: '0.0.0.0',
      target: { address: '192.0.2.10', port: 80 },
      targetFamily: 'IPv4',
      type: 'v4tov4',
      key: KEY('v4tov4'),
      value: { name: '0.0.0.0/18080', data: '192.0.2.10/80' },
    });
    assert.deepEqual(await findForwards({ protocol: 'udp' }), { forwards: [], unknown: [], complete: true });
  });

  test('wine has no iphlpsvc: the rule is there, but nothing listens on its port', async () => {
    // on Windows svchost.exe (iphlpsvc) listens on 0.0.0.0:18080 while the rule exists
    assert.deepEqual(await listSockets({ port: 18080, protocol: 'tcp' }), []);
  });

  test('portclash forwards prints them, and --json gives what findForwards gives', async () => {
    const json = await cli('forwards', '--json');
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(/** @type {ForwardsReport} */ (JSON.parse(json.stdout)), await findForwards());

    const human = await cli('forwards', '--port', '18082');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^tcp6 +\[::\]:18082 +proxy +\[2001:db8::10\]:80 +portproxy v6tov6 ::\/18082$/m);
    assert.match(human.stdout, /iphlpsvc \(svchost\.exe\) listens on these ports itself/);

    const none = await cli('forwards', '--port', '18099');
    assert.equal(none.code, 1, none.stdout);
    assert.equal(none.stdout, 'No rule forwards port 18099.\n');
  });

  test('a value that is not a rule is unknown, with why, and the exit status says so', async () => {
    addRule('v4tov4', '0.0.0.0/18084', '5', 'REG_DWORD');
    addRule('v6tov4', 'not-a-rule', '192.0.2.12/80');
    try {
      const report = await findForwards({ port: 18084 });
      assert.equal(report.complete, false);
      assert.deepEqual(report.forwards, []);
      assert.deepEqual(
        report.unknown.map(({ source, type, value }) => ({ source, type, value })),
        [
          { source: 'rule', type: 'v4tov4', value: { name: '0.0.0.0/18084', data: null } },
          // no listen port to leave it out by: it stays in every answer
          { source: 'rule', type: 'v6tov4', value: { name: 'not-a-rule', data: '192.0.2.12/80' } },
        ],
      );
      assert.match(report.unknown[0]?.reason ?? '', /is of type REG_DWORD, where netsh writes REG_SZ/);
      const human = await cli('forwards', '--port', '18084');
      assert.equal(human.code, 3, human.stdout);
      assert.match(human.stdout, /May also forward/);
    } finally {
      assert.equal(reg('delete', KEY('v4tov4'), '/v', '0.0.0.0/18084', '/f'), 0);
      assert.equal(reg('delete', KEY('v6tov4'), '/f'), 0);
    }
  });
  test('the addon bounds what it reads: an odd-length REG_SZ, data past 64 KiB, NULs at the end', async () => {
    // reg.exe cannot write these; a .reg file can (hex(1): REG_SZ bytes as given)
    const hex = (/** @type {Buffer} */ bytes) => [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(',');
    const lines = [
      'Windows Registry Editor Version 5.00',
      '',
      `[${KEY('v4tov4').replace('HKLM', 'HKEY_LOCAL_MACHINE')}]`,
      `"0.0.0.0/18086"=hex(1):${hex(Buffer.from([0x31, 0x00, 0x32]))}`,
      `"0.0.0.0/18087"=hex(1):${hex(Buffer.from('192.0.2.10/80'.padEnd(40_000, 'x'), 'utf16le'))}`,
      `"0.0.0.0/18088"=hex(1):${hex(Buffer.from('192.0.2.10/80\0\0', 'utf16le'))}`,
      `"0.0.0.0/18089"=hex(1):${hex(Buffer.from('192.0.2.10/80', 'utf16le'))}`,
      '',
    ];
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'portclash-')), 'portproxy.reg');
    fs.writeFileSync(file, `\ufeff${lines.join('\r\n')}`, 'utf16le');
    try {
      assert.equal(reg('import', file), 0, `reg import ${file}`);
      const [reading] = binding.readRegistryValues([KEY('v4tov4').slice('HKLM\\'.length)]);
      assert.deepEqual(
        reading?.values.filter((value) => /\/1808[6-9]$/.test(value.name)),
        [
          { name: '0.0.0.0/18086', type: 1, data: null, error: 13 }, // ERROR_INVALID_DATA: 3 bytes are not UTF-16
          { name: '0.0.0.0/18087', type: 1, data: null, error: 234 }, // ERROR_MORE_DATA: 80,000 bytes
          { name: '0.0.0.0/18088', type: 1, data: '192.0.2.10/80', error: 0 },
          { name: '0.0.0.0/18089', type: 1, data: '192.0.2.10/80', error: 0 },
        ],
      );
      const report = await findForwards({ port: 18087 });
      assert.deepEqual(
        report.unknown.map(({ error, value }) => ({ error, value })),
        [{ error: 'ERROR_MORE_DATA', value: { name: '0.0.0.0/18087', data: null } }],
      );
      assert.equal((await findForwards({ port: 18088 })).forwards.length, 1);
    } finally {
      for (const port of [18086, 18087, 18088, 18089]) reg('delete', KEY('v4tov4'), '/v', `0.0.0.0/${port}`, '/f');
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});
