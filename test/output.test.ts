// The CLI's JSON arrays, made and written a chunk at a time: the same records as one JSON.stringify, indented or one a line.
import { describe, expect, it } from 'vitest';

import { emitChunks, jsonArrayChunks } from '../lib/cli/output.js';

/** Records of the shape list --json prints, with a nested owner and strings that need escaping. */
function records(count: number): object[] {
  return Array.from({ length: count }, (_, index) => ({
    protocol: 'tcp',
    localPort: index,
    state: 'LISTEN',
    owner: { pid: index + 1, cmdline: ['node', `-e "a\nb"\t${index}`], service: null },
    owners: [],
  }));
}

describe('jsonArrayChunks', () => {
  // 1000 records a chunk: none, one, a chunk exactly, and a part chunk after two whole ones
  it.each([0, 1, 1000, 2500])('pretty: %i records give exactly JSON.stringify(records, null, 2)', (count) => {
    const rows = records(count);
    expect([...jsonArrayChunks(rows, true)].join('')).toBe(`${JSON.stringify(rows, null, 2)}\n`);
  });

  it.each([0, 1, 1000, 2500])('compact: %i records, one a line, parse to the same', (count) => {
    const rows = records(count);
    const text = [...jsonArrayChunks(rows, false)].join('');
    expect(JSON.parse(text)).toEqual(rows);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(count === 0 ? 1 : count + 2);
    if (count > 0) expect(lines.slice(1, -1)).toEqual(rows.map((row, index) => `${JSON.stringify(row)}${index < count - 1 ? ',' : ''}`));
  });

  it('makes a chunk at a time, no bigger than 1000 records', () => {
    const chunks = [...jsonArrayChunks(records(2500), false)];
    expect(chunks).toHaveLength(4);
    expect(Math.max(...chunks.map((chunk) => chunk.split('\n').length))).toBeLessThanOrEqual(1001);
  });
});

describe('emitChunks', () => {
  it('makes the next chunk only once stdout has taken the one before', async () => {
    const events: string[] = [];
    function* chunks(): Generator<string> {
      for (const chunk of ['a', 'b', 'c']) {
        events.push(`make ${chunk}`);
        yield chunk;
      }
    }
    const io = {
      stdout: (text: string) => events.push(`write ${text}`),
      stderr: () => {},
      drained: async () => {
        await Promise.resolve();
        events.push('drained');
      },
    };
    await emitChunks(io, chunks(), undefined);
    expect(events).toEqual(['make a', 'write a', 'drained', 'make b', 'write b', 'drained', 'make c', 'write c', 'drained']);
  });
});
