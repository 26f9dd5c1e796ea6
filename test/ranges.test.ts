// Port classes and the kernel's port ranges: the parsers on a table of inputs, the readers against /proc and sysctl.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createNetns } from './helpers/holders.js';

import { DEFAULT_EPHEMERAL_RANGE, parseEphemeralRange, parsePortRanges, readEphemeralRange, readReservedPorts } from '../lib/linux/ranges.js';
import { bsdClass, inRanges, portClass, type PortRange } from '../lib/ranges.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('ranges.test: reading reserved ports set in a network namespace needs root and is skipped');

describe('portClass', () => {
  it.each([
    [0, 'reserved'],
    [1, 'well-known'],
    [80, 'well-known'],
    [1023, 'well-known'],
    [1024, 'registered'],
    [8080, 'registered'],
    [49151, 'registered'],
    [49152, 'dynamic'],
    [65535, 'dynamic'],
  ] as const)('puts %i in the %s range', (port, expected) => {
    expect(portClass(port).class).toBe(expected);
  });

  it('says what port 0 means', () => {
    expect(portClass(0).description).toBe('asks the kernel for any free port when binding');
  });

  it.each([-1, 65536, 1.5, Number.NaN])('refuses %d', (port) => {
    expect(() => portClass(port)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PORT' }));
  });
});

describe('bsdClass', () => {
  it.each([
    [0, 'reserved'],
    [1, 'privileged'],
    [1023, 'privileged'],
    [1024, 'client'],
    [4999, 'client'],
    [5000, 'server'],
    [65535, 'server'],
  ] as const)('puts %i with the %s ports', (port, expected) => {
    expect(bsdClass(port)).toBe(expected);
  });

  it('refuses a port out of range', () => {
    expect(() => bsdClass(65536)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PORT' }));
  });
});

describe('parsePortRanges', () => {
  it.each<[string, PortRange[]]>([
    ['', []],
    ['\n', []],
    ['8080\n', [[8080, 8080]]],
    [
      '8080,9000-9010\n',
      [
        [8080, 8080],
        [9000, 9010],
      ],
    ],
    ['0-65535', [[0, 65535]]],
    [
      ' 1-2 , 3 ',
      [
        [1, 2],
        [3, 3],
      ],
    ],
    [
      '5,,6',
      [
        [5, 5],
        [6, 6],
      ],
    ],
    ['9010-9000', []],
    ['70000', []],
    ['1-70000', []],
    ['abc,5', [[5, 5]]],
    ['1--2,-3,4-', []],
    ['1 2', []],
  ])('reads %j', (text, expected) => {
    expect(parsePortRanges(text)).toEqual(expected);
  });
});

describe('parseEphemeralRange', () => {
  it.each([
    ['32768\t60999\n', { low: 32768, high: 60999, size: 28232 }],
    ['1024 65535', { low: 1024, high: 65535, size: 64512 }],
    ['  5   5 \n', { low: 5, high: 5, size: 1 }],
    ['60999 32768', null],
    ['', null],
    ['32768', null],
    ['1 2 3', null],
    ['a b', null],
    ['1 70000', null],
    ['-1 5', null],
  ])('reads %j', (text, expected) => {
    expect(parseEphemeralRange(text)).toEqual(expected);
  });
});

describe('inRanges', () => {
  const ranges: PortRange[] = [
    [8080, 8080],
    [9000, 9010],
  ];
  it.each([
    [8080, true],
    [8081, false],
    [8999, false],
    [9000, true],
    [9005, true],
    [9010, true],
    [9011, false],
  ])('%i → %s', (port, expected) => {
    expect(inRanges(port, ranges)).toBe(expected);
  });

  it('finds nothing in no ranges', () => {
    expect(inRanges(80, [])).toBe(false);
  });
});

describe('readers with a file that is missing or wrong', () => {
  let directory: string;

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'portclash-ranges-'));
  });

  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it("uses the kernel's default range when the file cannot be read or parsed", () => {
    expect(readEphemeralRange({ path: join(directory, 'missing') })).toEqual(DEFAULT_EPHEMERAL_RANGE);
    const garbled = join(directory, 'garbled');
    writeFileSync(garbled, 'sixty thousand\n');
    expect(readEphemeralRange({ path: garbled })).toEqual({ low: 32768, high: 60999, size: 28232 });
  });

  it('reads a range and reserved ports from the files it is given', () => {
    const range = join(directory, 'range');
    writeFileSync(range, '40000\t40009\n');
    expect(readEphemeralRange({ path: range })).toEqual({ low: 40000, high: 40009, size: 10 });
    const reserved = join(directory, 'reserved');
    writeFileSync(reserved, '8080,9000-9010\n');
    expect(readReservedPorts({ path: reserved })).toEqual([
      [8080, 8080],
      [9000, 9010],
    ]);
  });

  it('reports no reserved ports when the file cannot be read', () => {
    expect(readReservedPorts({ path: join(directory, 'missing') })).toEqual([]);
  });
});

describe.runIf(process.platform === 'linux')("this machine's ranges", () => {
  const hostReservedPorts = readReservedPorts();

  /** `sysctl -n name`, or null (with the reason printed) when sysctl cannot answer. */
  function sysctl(name: string): string | null {
    const run = spawnSync('sysctl', ['-n', name], { encoding: 'utf8' });
    if (run.error !== undefined || run.status !== 0) {
      console.log(`sysctl -n ${name} gave no answer (${run.error?.message ?? run.stderr.trim()})`);
      return null;
    }
    return run.stdout;
  }

  it('reads the ephemeral range /proc shows and sysctl prints', ({ skip }) => {
    const range = readEphemeralRange();
    const proc = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    expect([range.low, range.high]).toEqual(proc);
    expect(range.size).toBe(range.high - range.low + 1);
    const printed = sysctl('net.ipv4.ip_local_port_range');
    skip(printed === null, 'sysctl is not available');
    expect([range.low, range.high]).toEqual(printed!.trim().split(/\s+/).map(Number));
  });

  it.runIf(isRoot)('reads the reserved ports set in a namespace of its own, as sysctl prints them', async () => {
    // The host's list is often empty, and [] equals []: set one (the sysctl is per network namespace)
    // in a namespace the test made, so that there is something to find, known without any parser.
    const netns = await createNetns();
    try {
      const set = await netns.run('sysctl', ['-q', '-w', 'net.ipv4.ip_local_reserved_ports=8080,9000-9010,40000']);
      expect(set).toMatchObject({ code: 0, stderr: '' });
      const script = `import(${JSON.stringify(new URL('../dist/linux/ranges.js', import.meta.url).href)}).then((ranges) => console.log(JSON.stringify(ranges.readReservedPorts())))`;
      const read = await netns.runNode(['-e', script]);
      expect(read).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(read.stdout)).toEqual([
        [8080, 8080],
        [9000, 9010],
        [40000, 40000],
      ]);
      // the kernel's own text, which the reader must not have skipped any of
      expect((await netns.run('sysctl', ['-n', 'net.ipv4.ip_local_reserved_ports'])).stdout.trim()).toBe('8080,9000-9010,40000');
      // and the host's list is untouched by the namespace's
      expect(readReservedPorts()).toEqual(hostReservedPorts);
    } finally {
      await netns.close();
    }
  });
});
