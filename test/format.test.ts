// The CLI's one-line form of a command line: no control character of it reaches the terminal.
import { describe, expect, it } from 'vitest';

import { shorten } from '../lib/cli/format.js';

describe('shorten', () => {
  it.each([
    ['newlines and tabs of node -e', "node\n-e\t'x'\n", "node -e 'x'"],
    ['an ESC sequence (C0)', 'evil\x1b[2Jname', 'evil [2Jname'],
    ['a CSI written as one C1 character', 'evil\u009b2Jname', 'evil 2Jname'],
    ['DEL', 'a\x7fb', 'a b'],
    ['a run of them, as one space', 'a\r\n\x00\u0085b', 'a b'],
    ['letters beyond ASCII, kept', 'café\u00a0ñ', 'café\u00a0ñ'],
  ])('%s', (_name, command, expected) => {
    expect(shorten(command)).toBe(expected);
  });

  it('cuts a long one to 100 characters with an ellipsis', () => {
    const line = shorten('x'.repeat(150));
    expect(line).toHaveLength(100);
    expect(line.endsWith('x…')).toBe(true);
  });
});
