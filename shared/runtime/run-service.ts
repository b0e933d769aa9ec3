import { ConfigError } from '../config/load-config';
import { createLogger, type Logger } from '../logging/logger';
import { setupTelemetry } from '../telemetry/setup-telemetry';

interface BaseConfig {
  readonly logLevel: string;
  readonly otlpEndpoint: string | undefined;
  readonly serviceName: string;
  readonly shutdownGraceMs: number;
}

interface Running {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/**
 * A service process's whole life: validated config (a bad value stops start-up with exit
 * code 2 and a message naming the variable), telemetry, start, and a graceful shutdown on
 * SIGTERM/SIGINT (stop accepting, finish in-flight calls, close pools, flush spans).
 */
export async function runService<C extends BaseConfig>(opts: {
  name: string;
  loadConfig: () => C;
  start: (config: C, logger: Logger) => Promise<Running>;
}): Promise<void> {
  let config: C;
  try {
    config = opts.loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${opts.name}: ${err.message}\n`);
    process.exit(2);
  }
  const telemetry = setupTelemetry({ serviceName: config.serviceName, otlpEndpoint: config.otlpEndpoint });
  const logger = createLogger({ service: config.serviceName, level: config.logLevel });
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled promise rejection'));

  let running: Running;
  try {
    running = await opts.start(config, logger);
  } catch (err) {
    logger.fatal({ err }, `${opts.name} service failed to start`);
    process.exit(1);
  }
  logger.info({ host: running.host, port: running.port }, `${opts.name} service listening on ${running.host}:${running.port}`);

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `${opts.name} service shutting down`);
    // A hung dependency must not keep a terminating container alive past its grace period.
    setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownGraceMs + 5_000).unref();
    try {
      await running.close();
      await telemetry.shutdown();
      logger.info(`${opts.name} service stopped`);
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
