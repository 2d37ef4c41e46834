import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Providers load the client libraries of the systems they talk to on first use (`await import(…)`),
 * never at the top of a module: importing them all at start cost every process about 56 MB, and a
 * worker or CLI command that never talks to Kubernetes should not pay for its client. Only what the
 * core loads anyway (zod, pg, node-vault) may be imported as a value.
 */
const providerSdkRule = {
  regex: '^(?!node:|zod$|pg$|node-vault$)[^.]',
  allowTypeImports: true,
  message: 'load a provider\'s SDK on first use: `await import(...)` where it is needed (eslint.config.js says why)',
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'coverage/', '.tools/', '.rotor-dev/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Secret values must never reach stdout by accident: the CLI prints through its own output module.
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    files: ['providers/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [providerSdkRule] }] },
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', URL: 'readonly', console: 'readonly' } },
  },
  {
    files: ['cli/**', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
);
