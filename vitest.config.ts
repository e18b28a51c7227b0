import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Interop scenarios boot a VM each (about 10 s under TCG); they run one file at a time.
    testTimeout: 20_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
