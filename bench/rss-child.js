// Peak RSS growth of one full listing, measured in a fresh process so nothing else is counted.
// VmHWM belongs to this process's own memory map; ru_maxrss would carry the forking parent's peak.
import { readFileSync } from 'node:fs';

import { listSockets } from '../dist/index.js';

const peakKb = () => {
  const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (peak === null) throw new Error('/proc/self/status has no VmHWM line');
  return Number(peak[1]);
};

const before = peakKb();
const sockets = await listSockets();
const after = peakKb();
process.stdout.write(JSON.stringify({ sockets: sockets.length, baselineKb: before, growthKb: after - before }));
