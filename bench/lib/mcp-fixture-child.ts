/**
 * The MCP fixture server over Streamable HTTP as its own process for benchmarks (started with
 * bench/lib/child-service.ts, which passes no arguments): prints `listening on <url>` to stderr.
 */
import { startFixtureHttpServer } from '../../test/fixtures/mcp-fixture-server';

startFixtureHttpServer(Number(process.env.MCP_FIXTURE_PORT ?? '0'), { onCrash: 'exit' }).then(
  (server) => {
    process.stderr.write(`listening on ${server.url}\n`);
    const stop = (): void => void server.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  },
  (err: unknown) => {
    process.stderr.write(`mcp-fixture-child: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
