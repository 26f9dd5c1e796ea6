// The CLI's JSON arrays, made and written a chunk at a time: the same records as one JSON.stringify, indented or one a line.
import fc from 'fast-check';
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

  it('compact: any values give one JSON.stringify of each a line, boundaries in strings and nested arrays included', () => {
    // texts that look like a boundary, nested arrays of objects, empty objects, and things that are not objects
    const text = fc.oneof(fc.string(), fc.constantFrom('},{', '}, {', 'a},{"b', '{', '}'));
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null)),
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(text, tie('node'), { maxKeys: 3 })),
    })).node;
    const row = fc.oneof(fc.dictionary(text, value, { maxKeys: 5 }), fc.constant({}), value);
    fc.assert(
      fc.property(fc.array(row, { maxLength: 30 }), (rows) => {
        const expected = rows.length === 0 ? '[]\n' : `[\n${rows.map((entry) => JSON.stringify(entry) ?? 'null').join(',\n')}\n]\n`;
        // JSON.stringify of a bare undefined is no text: such rows are not records, and are not asked about here
        fc.pre(rows.every((entry) => JSON.stringify(entry) !== undefined));
        expect([...jsonArrayChunks(rows, false)].join('')).toBe(expected);
      }),
      { numRuns: 500 },
    );
    // a record with toJSON is what that gives, as JSON.stringify does
    const dated = [{ at: new Date(0) }, { toJSON: () => ({ replaced: true }) }];
    expect([...jsonArrayChunks(dated, false)].join('')).toBe(`[\n${dated.map((entry) => JSON.stringify(entry)).join(',\n')}\n]\n`);
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
