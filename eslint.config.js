// ESLint for lib/, test/, bench/, scripts/ and the config files: typescript-eslint's type-aware rules, and no style rules (Prettier's job).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['dist/', 'build/', 'prebuilds/', 'bench/.out/', 'bench/object-rows/build/', 'test/fixtures/'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // each file is checked in the tsconfig.json nearest to it: the root one, or bench/'s for the benchmarks
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // the TypeScript compiler already reports undefined names, in .js files too (checkJs)
      'no-undef': 'off',
      eqeqeq: ['error', 'always'],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
    },
  },
  {
    // lib/platform.ts awaits its backend's import: a backend that imported platform.ts for a value
    // would wait on itself, and the library would never load (exit 13). Types are erased, so they may.
    files: [
      'lib/linux/**',
      'lib/win32/**',
      'lib/probing/**',
      'lib/predict/linux*.ts',
      'lib/predict/win32*.ts',
      'lib/predict/facts.ts',
      'lib/predict/prediction.ts',
      'lib/predict/probe.ts',
    ],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/platform.js'], allowTypeImports: true, message: 'a backend may import only types from platform.ts' }] },
      ],
    },
  },
  {
    files: ['test/**'],
    rules: {
      // vitest types its asymmetric matchers (expect.any, expect.objectContaining) as any
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // fake bindings are async without awaiting, so that a throw in them is a rejection, as the addon's is
      '@typescript-eslint/require-await': 'off',
      // the addon's exports are plain functions (no this), and tests take them off the binding to make fakes
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['test/win32/**'],
    rules: {
      // node:test's describe() and test() return promises its runner awaits: the rule stays on for every other promise
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'test'] }] }],
    },
  },
  prettier,
);
