// `info` judges the bind over the port's sockets it lists (predictBindOver): the same prediction as `check`'s own dump gives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLI } from './helpers/cli.js';
import { createNetns, holdSockets, type Holder, type Netns } from './helpers/holders.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('info.test: the holders are made in a network namespace of their own, which needs root; skipped');

// Each port is held in one way that only the dump of every state shows (or by nothing at all).
const BOUND_ONLY = 4101;
const UDP_ONLY = 4102;
const ACCEPTED = 4103;
const TIME_WAIT = 4104;
const LISTENER = 4105;
const FREE = 4106;

describe.skipIf(!isRoot)('info over its own listing', () => {
  let netns: Netns;
  let holder: Holder;

  beforeAll(async () => {
    netns = await createNetns();
    holder = await holdSockets(
      [
        { protocol: 'tcp', family: 4, address: '127.0.0.1', port: BOUND_ONLY },
        { protocol: 'udp', family: 4, address: '127.0.0.1', port: UDP_ONLY },
        { protocol: 'tcp', family: 4, address: '127.0.0.1', port: ACCEPTED, selfConnect: 'accepted' },
        { protocol: 'tcp', family: 4, address: '127.0.0.1', port: TIME_WAIT, selfConnect: 'serverTimeWait' },
        { protocol: 'tcp', family: 4, address: '0.0.0.0', port: LISTENER, listen: true },
      ],
      { netns: netns.path },
    );
    [0, 1, 2, 4].forEach((index) => holder.socket(index)); // throws naming any that failed
    holder.timeWait(3);
  });

  afterAll(async () => {
    await holder?.close();
    await netns?.close();
  });

  const json = async (args: string[]): Promise<unknown> => {
    const result = await netns.runNode([CLI, ...args, '--json']);
    expect([0, 1, 3], result.stderr).toContain(result.code); // info 0; check 0 free, 1 in use, 3 unknown
    return JSON.parse(result.stdout) as unknown;
  };

  it.each([
    ['a bound-only TCP socket', BOUND_ONLY, 'in-use'],
    ['a UDP socket alone (a TCP bind is free)', UDP_ONLY, 'free'],
    ['a connection accepted on a closed listener', ACCEPTED, 'in-use'],
    ['a TIME_WAIT (whose SO_REUSEADDR no interface shows)', TIME_WAIT, 'unknown'],
    ['a listener', LISTENER, 'in-use'],
    ['nothing', FREE, 'free'],
  ])('%s: the prediction check makes', async (_what, port, verdict) => {
    const info = (await json(['info', String(port)])) as { prediction: { verdict: string }; sockets: unknown[] };
    const check = await json(['check', String(port)]);
    expect(info.prediction).toEqual(check);
    expect(info.prediction.verdict).toBe(verdict);
    expect(info.sockets.length > 0).toBe(port !== FREE);
  });
});
