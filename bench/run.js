// `npm run bench`: every measurement in one run, medians and ratios, on this machine.
import { benchCrossing } from './crossing.js';

console.log(`portclash bench — Node ${process.version}, ${process.platform}-${process.arch}`);
benchCrossing();
