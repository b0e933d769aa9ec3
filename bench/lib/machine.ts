import * as os from 'node:os';
import type { Client, Pool } from 'pg';

export interface MachineInfo {
  readonly cores: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
  readonly postgres: string;
  /** PostgreSQL settings that move write and read figures. */
  readonly postgresSettings: Record<string, string>;
}

const PG_SETTINGS = ['shared_buffers', 'fsync', 'synchronous_commit', 'wal_level', 'max_wal_size', 'work_mem'];

export async function describeMachine(db: Client | Pool): Promise<MachineInfo> {
  const version = (await db.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  const settings = await db.query<{ name: string; setting: string; unit: string | null }>(
    'SELECT name, current_setting(name) AS setting, unit FROM pg_settings WHERE name = ANY($1)',
    [PG_SETTINGS],
  );
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: os.totalmem() / 1024 ** 3,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    postgres: version,
    postgresSettings: Object.fromEntries(settings.rows.map((r) => [r.name, r.setting])),
  };
}

export function formatMachine(m: MachineInfo): string {
  const pg = Object.entries(m.postgresSettings)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return [
    `machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB.toFixed(1)} GiB RAM, ${m.platform}`,
    `node ${m.node}, PostgreSQL ${m.postgres} (${pg})`,
  ].join('\n');
}
