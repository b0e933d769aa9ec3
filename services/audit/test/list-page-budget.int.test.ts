import { PAGE_MAX_BYTES } from '../../../shared/db/budgeted-page';
import { entryInput, startAuditFixture, type AuditFixture } from './audit-fixture';

/**
 * A List page is cut short once its entries reach PAGE_MAX_BYTES (as text), and the
 * page token continues exactly where it stopped, so large entries never make one call
 * hold tens of MiB while every entry is still reachable.
 */
let fx: AuditFixture;
beforeAll(async () => {
  fx = await startAuditFixture();
});
afterAll(async () => {
  await fx?.close();
});

const ENTRY_DETAILS_BYTES = 60_000;
const COUNT = 80; // 80 × ~60 KB ≈ 4.8 MB of details: more than one page's budget

test('pages of large entries end at the details budget and the token continues them, in both orders', async () => {
  const entityId = `large-${Date.now()}`;
  // Two batches: each stays under the 4 MiB request limit.
  for (let i = 0; i < COUNT; i += COUNT / 2) {
    await fx.client.batchCreateActionLogEntries({
      requests: Array.from({ length: COUNT / 2 }, (_, j) => ({
        actionLogEntry: entryInput({ entityId, details: { n: i + j, blob: 'x'.repeat(ENTRY_DETAILS_BYTES) } }),
      })),
    });
  }

  for (const orderBy of ['seq', 'seq desc']) {
    const pages: number[][] = [];
    let pageToken = '';
    do {
      const res = await fx.client.listActionLogEntries({ filter: `entity_id = "${entityId}"`, orderBy, pageSize: 1000, pageToken });
      const bytes = res.actionLogEntries.map((e) => JSON.stringify(e.details).length);
      // Within the budget, allowing the one entry that crosses it.
      expect(bytes.reduce((a, b) => a + b, 0) - bytes[bytes.length - 1]!).toBeLessThan(PAGE_MAX_BYTES);
      pages.push(res.actionLogEntries.map((e) => e.details!.n as number));
      pageToken = res.nextPageToken;
    } while (pageToken && pages.length < 10);

    expect(pages.length).toBe(2);
    expect(pages[0]!.length).toBeGreaterThan(1);
    const expected = Array.from({ length: COUNT }, (_, i) => i);
    expect(pages.flat()).toEqual(orderBy === 'seq' ? expected : expected.reverse());
  }
});

test('small entries are not affected: a full page and a token only when more exist', async () => {
  const entityId = `small-${Date.now()}`;
  await fx.client.batchCreateActionLogEntries({ requests: Array.from({ length: 30 }, () => ({ actionLogEntry: entryInput({ entityId }) })) });
  const all = await fx.client.listActionLogEntries({ filter: `entity_id = "${entityId}"`, pageSize: 30 });
  expect(all.actionLogEntries).toHaveLength(30);
  expect(all.nextPageToken).toBe('');
  const first = await fx.client.listActionLogEntries({ filter: `entity_id = "${entityId}"`, pageSize: 20 });
  expect(first.actionLogEntries).toHaveLength(20);
  const rest = await fx.client.listActionLogEntries({ filter: `entity_id = "${entityId}"`, pageSize: 20, pageToken: first.nextPageToken });
  expect(rest.actionLogEntries).toHaveLength(10);
  expect(rest.nextPageToken).toBe('');
});
