// Every kept fuzz crasher and seed (fuzz/), replayed through the addon's parsers and parseServices: a crash fixed stays fixed.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { checkServices } from '../fuzz/check-services.mjs';
import { getBinding } from '../lib/binding.js';
import { parseServices } from '../lib/services.js';

const fuzzDir = new URL('../fuzz/', import.meta.url).pathname;
const ROW_BYTES = 80;
// an inet_diag reply message: nlmsghdr (16) and inet_diag_msg (72)
const DIAG_MESSAGE_BYTES = 16 + 72;

/** The seeds and crashers of one target, as [label, bytes]. */
function inputs(target: string): [string, Buffer][] {
  const found: [string, Buffer][] = [];
  for (const kind of ['corpus', 'crashers']) {
    const dir = join(fuzzDir, kind, target);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) found.push([`${kind}/${target}/${name}`, readFileSync(join(dir, name))]);
  }
  return found;
}

/** Family and protocol of each packed row (layout in lib/rows.ts). */
function rowKinds(rows: ArrayBuffer, count: number): { protocol: number; family: number }[] {
  const view = new DataView(rows);
  return Array.from({ length: count }, (_, row) => ({
    protocol: view.getUint8(row * ROW_BYTES + 56),
    family: view.getUint8(row * ROW_BYTES + 57),
  }));
}

const scratch = mkdtempSync(join(tmpdir(), 'portclash-fuzz-replay-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.runIf(process.platform === 'linux')('fuzz inputs through the addon', () => {
  // fuzz_proc_table's input: 4 control bytes (family, protocol, buffer, chunks), then the text
  it.each(inputs('proc_table'))('/proc/net table %s', (label, bytes) => {
    if (bytes.length < 4) return;
    const family = (bytes[0]! & 1) !== 0 ? 6 : 4;
    const protocol = (bytes[0]! & 2) !== 0 ? 17 : 6;
    const text = bytes.subarray(4);
    const path = join(scratch, label.replaceAll('/', '-'));
    writeFileSync(path, text);
    const reading = getBinding().readProcNetSync!([{ path, protocol, family }]);
    const source = reading.sources[0]!;
    expect(source.errno).toBe(0);
    expect(reading.count).toBe(source.rows);
    expect(reading.count).toBeLessThanOrEqual(text.filter((byte) => byte === 0x0a).length);
    for (const kind of rowKinds(reading.rows, reading.count)) expect(kind).toEqual({ protocol, family });
  });

  // fuzz_diag_reply's input: 2 control bytes (protocol, sequence), then the datagram
  it.each(inputs('diag_reply'))('sock_diag datagram %s', (_label, bytes) => {
    if (bytes.length < 2) return;
    const protocol = (bytes[0]! & 1) !== 0 ? 17 : 6;
    const datagram = new Uint8Array(bytes.subarray(2));
    const reply = getBinding().parseSockDiagReply!(datagram, protocol, bytes[1]!);
    expect(reply.count * DIAG_MESSAGE_BYTES).toBeLessThanOrEqual(datagram.length);
    expect(reply.status === 'error').toBe(reply.errno !== 0);
    // an errno as the kernel has them, 1..4095 (MAX_ERRNO), never a negated INT_MIN
    expect(reply.errno >= 0 && reply.errno <= 4095).toBe(true);
    for (const kind of rowKinds(reply.rows, reply.count)) {
      expect(kind.protocol).toBe(protocol);
      expect([4, 6]).toContain(kind.family);
    }
  });
});

describe('fuzz inputs through parseServices', () => {
  it.each(inputs('services'))('services file %s', (_label, bytes) => {
    expect(() => checkServices(parseServices, bytes.toString('utf8'))).not.toThrow();
  });
});
