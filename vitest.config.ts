import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Tests open real sockets and compare with ss; separate files may run side by side safely,
    // because each test only looks at the sockets it made.
    pool: 'forks',
  },
});
