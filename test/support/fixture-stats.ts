import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FixtureStats } from '../fixtures/mcp-fixture-server';

/** What the HTTP fixture server has seen, asked the way any MCP client would: its `stats` tool. */
export async function fixtureStats(url: string): Promise<FixtureStats> {
  const client = new Client({ name: 'fixture-stats', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  try {
    const res = await client.callTool({ name: 'stats', arguments: {} });
    return res.structuredContent as unknown as FixtureStats;
  } finally {
    await client.close();
  }
}
