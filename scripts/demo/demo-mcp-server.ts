/**
 * Demo MCP server (stdio) for trying workflows end to end. Not a real weather service: the
 * forecast is made up, but deterministic (same city → same forecast), so demo runs repeat.
 *
 *   node --import tsx scripts/demo/demo-mcp-server.ts
 *
 * Register it as an MCP definition with transport
 *   { kind: 'stdio', command: 'node', args: ['--import', 'tsx', 'scripts/demo/demo-mcp-server.ts'] }
 * and chain the tools: get_forecast → format_report.
 */
import { createHash } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const CONDITIONS = ['sunny', 'partly cloudy', 'cloudy', 'light rain', 'windy', 'snow showers'] as const;

/** Derived from a hash of the city name: stable across runs and machines. */
export function fakeForecast(city: string): { city: string; temperatureC: number; conditions: string } {
  const digest = createHash('sha256').update(city.trim().toLowerCase()).digest();
  return {
    city,
    temperatureC: (digest[0]! % 36) - 5, // -5 … 30 °C
    conditions: CONDITIONS[digest[1]! % CONDITIONS.length]!,
  };
}

export function createDemoServer(): McpServer {
  const server = new McpServer({ name: 'demo-weather', version: '1.0.0' });

  server.registerTool(
    'get_forecast',
    {
      description: "Today's (made-up) forecast for a city.",
      inputSchema: { city: z.string().min(1) },
      outputSchema: { city: z.string(), temperatureC: z.number(), conditions: z.string() },
    },
    async ({ city }) => {
      const forecast = fakeForecast(city);
      return { content: [{ type: 'text', text: JSON.stringify(forecast) }], structuredContent: forecast };
    },
  );

  server.registerTool(
    'format_report',
    {
      description: 'Turns a forecast into one friendly sentence.',
      inputSchema: { city: z.string(), temperatureC: z.number(), conditions: z.string() },
      outputSchema: { report: z.string() },
    },
    async ({ city, temperatureC, conditions }) => {
      const report = `Today in ${city}: ${conditions}, ${temperatureC} °C.`;
      return { content: [{ type: 'text', text: report }], structuredContent: { report } };
    },
  );

  return server;
}

if (require.main === module) {
  createDemoServer()
    .connect(new StdioServerTransport())
    .catch((err: unknown) => {
      // stderr only: stdout carries the protocol.
      process.stderr.write(`demo-mcp-server: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
