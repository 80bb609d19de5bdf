// npm run lint: typescript-eslint's type-checked rules over everything TypeScript; Prettier formats (npm run format).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.cache/', 'reports/', 'bench-results/', 'eslint.config.js', 'certs/', 'manifests/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Unused names are compile errors already (noUnusedLocals); a leading underscore marks an intended one.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Promises are awaited or explicitly marked `void`: a forgotten one is how a denial goes missing.
      '@typescript-eslint/no-floating-promises': 'error',
      // Abort reasons and caught errors are passed on exactly as they came (their type is unknown).
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
    },
  },
  {
    // Fakes and fixtures implement async ports without awaiting anything, and read JSON loosely.
    files: ['test/**/*.ts', 'harness/**/*.ts', 'bench/**/*.ts', 'demo/**/*.ts'],
    rules: {
      '@typescript-eslint/require-await': 'off',
      // Tests and tools read JSON answers loosely (JSON.parse is any); their assertions check the shape.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // The core never sees `any`; tests and tools may parse JSON loosely, but still say so where they do.
    files: ['src/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
);
