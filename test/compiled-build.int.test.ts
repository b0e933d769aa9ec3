import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { SERVICE_NODE_OPTIONS } from '../shared/runtime/service-node-options';
import { ActionType, EntityType } from '../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { startStack, type Stack } from './support/stack';

/**
 * The compiled build (`npm run build` → dist/) is what the images run: both services start
 * from it under the images' heap cap, relay an audit entry end to end, and the compiled
 * health probe the images' HEALTHCHECK runs reports them healthy. `npm test` builds first.
 */
const REPO_ROOT = path.resolve(__dirname, '..');
const HEAP_CAP = { NODE_OPTIONS: SERVICE_NODE_OPTIONS };

let stack: Stack;
beforeAll(async () => {
  for (const entry of ['dist/services/audit/src/main.js', 'dist/services/domain/src/main.js', 'dist/scripts/healthcheck.js']) {
    if (!existsSync(path.join(REPO_ROOT, entry))) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
  }
  stack = await startStack({ audit: HEAP_CAP, domain: HEAP_CAP }, 'build');
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

test('the compiled services serve, audit a change end to end, and pass the compiled health probe', async () => {
  const name = `io.github.build/check-${Date.now()}`;
  await stack.mcp.createMcpDefinition(
    {
      mcpDefinition: {
        name,
        title: 'Build check',
        description: 'Compiled build smoke test',
        version: '1.0.0',
        transport: { case: 'streamableHttp', value: { url: 'https://mcp.example.com/mcp' } },
      },
    },
    { headers: { 'x-user-id': 'builder' } },
  );
  const deadline = Date.now() + 20_000;
  let entries = (await stack.auditClient.listActionLogEntries({ filter: `entity_id = "${name}"` })).actionLogEntries;
  while (entries.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    entries = (await stack.auditClient.listActionLogEntries({ filter: `entity_id = "${name}"` })).actionLogEntries;
  }
  expect(entries).toEqual([
    expect.objectContaining({ actorId: 'builder', actionType: ActionType.CREATE, entityType: EntityType.MCP_DEFINITION }),
  ]);

  for (const { port } of [stack.audit, stack.domain]) {
    const probe = spawnSync(process.execPath, ['dist/scripts/healthcheck.js', String(port)], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 15_000 });
    expect({ port, status: probe.status, stderr: probe.stderr }).toEqual({ port, status: 0, stderr: '' });
  }
});
