// The lookup behind portclash/register, in a child process: the error's fields in argv, the line on stdout.
import { describeBindError, explainBindError } from './explain.js';

const error = JSON.parse(process.argv[2] ?? 'null') as { protocol?: unknown } | null;
const protocol = error?.protocol === 'udp' ? 'udp' : 'tcp';
const prediction = await explainBindError(error, { protocol });
if (prediction !== null) process.stdout.write(`${describeBindError(prediction)}\n`);
