// Tests are TypeScript, transpiled per file without type-checking (tsconfig sets
// isolatedModules, so ts-jest uses transpileModule):
// the @pulumi/aws type definitions are huge, and `npm run typecheck` already checks types.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { diagnostics: false }],
  },
  // Real processes (Python sandboxes, HTTP servers, moto, Chromium) start inside tests.
  testTimeout: 60000,
  // Two cores: run test files two at a time so real-process tests do not starve each other.
  maxWorkers: 2,
  verbose: false,
};
