/**
 * NODE_OPTIONS a service process runs with in production: the V8 old-space cap that keeps its
 * memory bounded (List pages and step outputs are bounded to fit under it; see
 * shared/db/budgeted-page.ts). The images (services/<name>/Dockerfile, checked by
 * test/compose.int.test.ts), `npm start` and the benchmarks all use it unless NODE_OPTIONS is
 * already set in the environment.
 */
export const SERVICE_NODE_OPTIONS = '--max-old-space-size=160';
