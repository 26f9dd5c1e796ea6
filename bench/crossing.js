// How rows cross from C++ into JS at 100k sockets: one packed ArrayBuffer vs one object per row.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { getBinding } from '../dist/binding.js';
import { LINUX_ROWS } from '../dist/linux/states.js';
import { RecordMaker } from '../dist/records.js';
import { RowTable } from '../dist/rows.js';
import { medianMs, printTable } from './stats.js';

/** @import { ProcNetSource } from '../dist/binding.js' */
/** @import { SocketRecord } from '../dist/records.js' */
/** @typedef {{ readObjects(path: string, protocol: number, family: number): object[] }} ObjectRowsAddon */

const here = fileURLToPath(new URL('.', import.meta.url));
const require = createRequire(import.meta.url);

/**
 * A /proc/net/tcp as the kernel would print it: 25% listeners, 75% established, 150-byte lines.
 * @param {string} path
 * @param {number} count
 */
function writeSyntheticTable(path, count) {
  const hex = (/** @type {number} */ value, /** @type {number} */ width) => value.toString(16).toUpperCase().padStart(width, '0');
  const lines = ['  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode'.padEnd(149)];
  for (let i = 0; i < count; i++) {
    const listening = i % 4 === 0;
    const local = `${hex(0x0100007f + (i % 250) * 2 ** 24, 8)}:${hex(1024 + (i % 60000), 4)}`;
    const remote = listening ? '00000000:0000' : `0100007F:${hex(20000 + (i % 40000), 4)}`;
    const line = `${String(i).padStart(4)}: ${local} ${remote} ${listening ? '0A' : '01'} 00000000:00000000 00:00000000 00000000  1000        0 ${100000 + i} 1 0000000000000000 100 0 0 10 0`;
    lines.push(line.padEnd(149));
  }
  writeFileSync(path, lines.join('\n') + '\n');
}

/**
 * The comparison addon in object-rows/, which returns one JS object per row.
 * @returns {ObjectRowsAddon}
 */
function buildObjectRowsAddon() {
  const dir = `${here}object-rows`;
  if (!existsSync(`${dir}/build/Release/object_rows.node`)) {
    const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
    execFileSync(process.execPath, [nodeGyp, 'rebuild'], { cwd: dir, stdio: 'ignore' });
  }
  /** @type {unknown} */
  const addon = require(`${dir}/build/Release/object_rows.node`);
  return /** @type {ObjectRowsAddon} */ (addon);
}

export function benchCrossing({ count = 100_000 } = {}) {
  const out = `${here}.out`;
  mkdirSync(out, { recursive: true });
  const path = `${out}/tcp-${count}`;
  writeSyntheticTable(path, count);

  const binding = getBinding();
  const objectRows = buildObjectRowsAddon();
  /** @type {ProcNetSource[]} */
  const source = [{ path, protocol: 6, family: 4 }];

  const readProcNetSync = binding.readProcNetSync?.bind(binding);
  if (readProcNetSync === undefined) throw new Error('this addon has no /proc/net reader');
  const packed = () => readProcNetSync(source);
  const objects = () => objectRows.readObjects(path, 6, 4);
  const packedOnePort = () => {
    const reading = packed();
    const table = new RowTable(reading.rows, reading.count);
    let found = 0;
    for (let row = 0; row < table.count; row++) if (table.localPort(row) === 8080) found++;
    return found;
  };
  const packedRecords = () => {
    const reading = packed();
    const table = new RowTable(reading.rows, reading.count);
    const maker = new RecordMaker(LINUX_ROWS);
    /** @type {SocketRecord[]} */
    const records = new Array(table.count);
    for (let row = 0; row < table.count; row++) records[row] = maker.make(table, row);
    return records;
  };

  if (packed().count !== count || objects().length !== count) throw new Error('the synthetic table did not parse whole');

  printTable(
    `Rows crossing into JS, synthetic /proc/net/tcp with ${count} sockets (read + parse + hand-over)`,
    [
      ['packed ArrayBuffer', medianMs(packed)],
      ['one JS object per row', medianMs(objects)],
      ['packed, then scan for one port', medianMs(packedOnePort)],
      ['packed, then every SocketRecord', medianMs(packedRecords, { runs: 9 })],
    ],
    'packed ArrayBuffer',
  );
}
