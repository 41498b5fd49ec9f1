import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'child_process',
  'net',
  'http',
  'https',
  'crypto',
  'stream',
  'util',
  'url',
  'worker_threads',
  'process',
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.msm/**', '.venv/**', 'trainer/**', 'dist/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed: no I/O, no Node built-ins, no clients; only type imports of activities.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins, ...nodeBuiltins.map((m) => `node:${m}`)].map((name) => ({
            name,
            message: 'workflows must not use Node built-ins (move the I/O into an activity)',
          })),
          patterns: [
            { group: ['node:*'], message: 'workflows must not use Node built-ins' },
            {
              group: [
                '@temporalio/client',
                '@temporalio/worker',
                '@temporalio/activity',
                '@aws-sdk/*',
                'node-llama-cpp',
                'tokenizers',
              ],
              message: 'workflows must not do I/O',
            },
            {
              group: ['**/activities', '**/activities/*', '!**/activities/types'],
              allowTypeImports: true,
              message: 'workflows import activities by type only (proxyActivities)',
            },
            {
              group: [
                '**/store/*',
                '**/llm/*',
                '**/compute/*',
                '**/tokenize/*',
                '**/util/hash',
                '**/util/project-paths',
                '**/temporal/*',
                '!**/temporal/search-attribute-keys',
              ],
              message: 'workflows must not do I/O',
            },
          ],
        },
      ],
    },
  },
);
