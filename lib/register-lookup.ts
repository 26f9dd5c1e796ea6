// The lookup behind portclash/register, on a worker thread: the error's fields in, one line out through the port, then `done` set.
import { workerData, type MessagePort } from 'node:worker_threads';

import { describeBindError, explainBindError } from './explain.js';
import { loadPlatform } from './platform.js';

const { fields, port, done } = workerData as { fields: { protocol?: unknown } | null; port: MessagePort; done: Int32Array };
let line = '';
try {
  await loadPlatform();
  const prediction = await explainBindError(fields, { protocol: fields?.protocol === 'udp' ? 'udp' : 'tcp' });
  if (prediction !== null) line = describeBindError(prediction);
} finally {
  // the waiting thread reads the line once `done` is set, so it is posted first
  port.postMessage(line);
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
}
