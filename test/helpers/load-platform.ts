// vitest's setup file: loads the backend of this OS as the package's entry points do before their
// first line runs (index.ts as it loads, runCli, register's worker), for the tests that import a
// module of lib/ on its own. The entry points themselves are tested as processes.
import { loadPlatform } from '../../lib/platform.js';

await loadPlatform();
