import { Client } from 'pg';
import { createLogger } from '../logging/logger';
import { createTestDatabase, type TestDatabase } from '../testing/test-database';
import { createPgListener } from './pg-listener';

let db: TestDatabase;
let admin: Client;
beforeAll(async () => {
  db = await createTestDatabase('listener');
  admin = new Client({ connectionString: db.url });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

const until = async (check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
};

test('delivers notifications, and after its connection is killed reconnects and tells subscribers to catch up', async () => {
  const listener = createPgListener({ url: db.url, logger: createLogger({ service: 'test', level: 'silent' }), reconnectMs: 100 });
  const seen: string[] = [];
  let reconnects = 0;
  await listener.listen('test_channel', (payload) => seen.push(payload));
  listener.onReconnect(() => reconnects++);
  await listener.start();
  try {
    await admin.query(`SELECT pg_notify('test_channel', 'one')`);
    await until(() => seen.includes('one'));

    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pg-listener' AND datname = current_database()`);
    await until(() => reconnects === 1);
    await admin.query(`SELECT pg_notify('test_channel', 'two')`);
    await until(() => seen.includes('two'));
    expect(seen).toEqual(['one', 'two']);
  } finally {
    await listener.stop();
  }
});
