/**
 * Unit tests (*.unit.test.ts) are pure; integration tests (*.int.test.ts) start real servers on
 * real PostgreSQL. The integration project's global setup picks the database server once per
 * run: TEST_DATABASE_URL, else the local one on 127.0.0.1:5432, else an embedded PostgreSQL 15
 * it starts and stops.
 */
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
const common = { testEnvironment: 'node', transform, testPathIgnorePatterns: ['/node_modules/'] };
module.exports = {
  testTimeout: 60_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/**/*.unit.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/**/*.int.test.ts'],
      globalSetup: '<rootDir>/shared/testing/jest-global-setup.ts',
      globalTeardown: '<rootDir>/shared/testing/jest-global-teardown.ts',
    },
  ],
};
