import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // the backend, loaded as the package's entry points load it (test/helpers/load-platform.ts)
    setupFiles: ['test/helpers/load-platform.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'sockets',
          // Tests open real sockets and compare with ss; separate files may run side by side safely,
          // because each test only looks at the sockets it made.
          include: ['test/**/*.test.ts'],
          // test/win32/ is plain JS for Node for Windows (npm run test:win32), not for vitest
          exclude: ['test/retag-*.test.ts', 'test/win32/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'retag',
          // These mount cgroup v1 hierarchies (net_cls, net_prio), which exist for the whole machine
          // while they are mounted: any check running meanwhile would meet them. So they run after
          // the others, one file at a time.
          include: ['test/retag-*.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
