import { createHash } from 'node:crypto';
import type { ActionLogEntry } from './action-log-entry';
import { canonicalContent, chainHash, CURRENT_HASH_VERSION, GENESIS_HASH, sealEntries } from './hash-chain';

type Unsealed = Omit<ActionLogEntry, 'hash' | 'prevHash'>;
type NewUnsealed = Omit<ActionLogEntry, 'hash' | 'prevHash' | 'seq' | 'hashVersion'>;

/** The documented formula, computed here independently: sha256(prev_hash ‖ "\n" ‖ canonical JSON), hex. */
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const documentedHash = (prevHash: string, canonical: string) => sha256(`${prevHash}\n${canonical}`);

const PREV = 'ab'.repeat(32);

/** A version 2 entry with every field set to a distinct, non-default value. */
function v2Entry(overrides: Partial<Unsealed> = {}): Unsealed {
  return {
    seq: 42n,
    eventId: '5b1c7a2e-8d4f-4e1a-9c3b-2f6e8a0d1b7c',
    occurTime: new Date('2026-01-02T03:04:05.006Z'),
    recordTime: new Date('2026-01-02T03:04:05.789Z'),
    actorId: 'alice',
    actionType: 'UPDATE',
    entityType: 'MCP_DEFINITION',
    entityId: 'io.github.acme/weather',
    details: { title: 'Weather', tags: ['a', 'b'], nested: { deep: { n: 1, flag: true } } },
    outcome: 'SUCCEEDED',
    hashVersion: 2,
    actorType: 'USER',
    actorSubject: 'sub-123',
    actorIssuer: 'https://issuer.example',
    actorVerified: true,
    unverifiedActorId: 'claimed-bob',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    traceState: 'vendor=1',
    serviceName: 'domain',
    clientIp: '10.0.0.7',
    userAgent: 'grpc-node/1.0',
    ...overrides,
  };
}

function v1Entry(overrides: Partial<Unsealed> = {}): Unsealed {
  return v2Entry({ hashVersion: 1, ...overrides });
}

/**
 * The canonical JSON of v2Entry(), written out by hand from the documented rules (sorted keys,
 * no whitespace, millisecond ISO times, seq as a decimal string, versioned with `v`).
 */
const V2_CANONICAL =
  '{"action_type":"UPDATE","actor_id":"alice","actor_issuer":"https://issuer.example","actor_subject":"sub-123",' +
  '"actor_type":"USER","actor_verified":true,"client_ip":"10.0.0.7",' +
  '"details":{"nested":{"deep":{"flag":true,"n":1}},"tags":["a","b"],"title":"Weather"},' +
  '"entity_id":"io.github.acme/weather","entity_type":"MCP_DEFINITION","event_id":"5b1c7a2e-8d4f-4e1a-9c3b-2f6e8a0d1b7c",' +
  '"occur_time":"2026-01-02T03:04:05.006Z","outcome":"SUCCEEDED","record_time":"2026-01-02T03:04:05.789Z",' +
  '"seq":"42","service_name":"domain","span_id":"00f067aa0ba902b7","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",' +
  '"trace_state":"vendor=1","unverified_actor_id":"claimed-bob","user_agent":"grpc-node/1.0","v":2}';

/** The same entry as version 1: no actor_type/subject/issuer/verified, unverified_actor_id or outcome. */
const V1_CANONICAL =
  '{"action_type":"UPDATE","actor_id":"alice","client_ip":"10.0.0.7",' +
  '"details":{"nested":{"deep":{"flag":true,"n":1}},"tags":["a","b"],"title":"Weather"},' +
  '"entity_id":"io.github.acme/weather","entity_type":"MCP_DEFINITION","event_id":"5b1c7a2e-8d4f-4e1a-9c3b-2f6e8a0d1b7c",' +
  '"occur_time":"2026-01-02T03:04:05.006Z","record_time":"2026-01-02T03:04:05.789Z",' +
  '"seq":"42","service_name":"domain","span_id":"00f067aa0ba902b7","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",' +
  '"trace_state":"vendor=1","user_agent":"grpc-node/1.0","v":1}';

/** One changed value per field of an entry (every field except the hashes themselves). */
const FIELD_CHANGES: ReadonlyArray<[keyof Unsealed, Partial<Unsealed>]> = [
  ['seq', { seq: 43n }],
  ['eventId', { eventId: '5b1c7a2e-8d4f-4e1a-9c3b-2f6e8a0d1b7d' }],
  ['occurTime', { occurTime: new Date('2026-01-02T03:04:05.007Z') }],
  ['recordTime', { recordTime: new Date('2026-01-02T03:04:05.788Z') }],
  ['actorId', { actorId: 'mallory' }],
  ['actionType', { actionType: 'DELETE' }],
  ['entityType', { entityType: 'WORKFLOW_DEFINITION' }],
  ['entityId', { entityId: 'io.github.acme/weather2' }],
  ['details', { details: { title: 'Forged', tags: ['a', 'b'], nested: { deep: { n: 1, flag: true } } } }],
  ['outcome', { outcome: 'DENIED' }],
  ['hashVersion', { hashVersion: 1 }],
  ['actorType', { actorType: 'SERVICE' }],
  ['actorSubject', { actorSubject: 'sub-124' }],
  ['actorIssuer', { actorIssuer: 'https://evil.example' }],
  ['actorVerified', { actorVerified: false }],
  ['unverifiedActorId', { unverifiedActorId: 'claimed-eve' }],
  ['traceId', { traceId: '4bf92f3577b34da6a3ce929d0e0e4737' }],
  ['spanId', { spanId: '00f067aa0ba902b8' }],
  ['traceState', { traceState: 'vendor=2' }],
  ['serviceName', { serviceName: 'engine' }],
  ['clientIp', { clientIp: '10.0.0.8' }],
  ['userAgent', { userAgent: 'grpc-node/1.1' }],
];

/** Fields version 2 added; version 1 entries were hashed without them. */
const V2_ONLY_FIELDS: ReadonlyArray<keyof Unsealed> = [
  'actorType',
  'actorSubject',
  'actorIssuer',
  'actorVerified',
  'unverifiedActorId',
  'outcome',
];

/** Changes inside `details`, at every depth and of every kind. */
const DETAILS_CHANGES: ReadonlyArray<[string, ActionLogEntry['details']]> = [
  ['a changed top-level value', { title: 'Weather!', tags: ['a', 'b'], nested: { deep: { n: 1, flag: true } } }],
  ['a changed nested value', { title: 'Weather', tags: ['a', 'b'], nested: { deep: { n: 2, flag: true } } }],
  ['a flipped nested boolean', { title: 'Weather', tags: ['a', 'b'], nested: { deep: { n: 1, flag: false } } }],
  ['a number turned into a string', { title: 'Weather', tags: ['a', 'b'], nested: { deep: { n: '1', flag: true } } }],
  ['a value turned into null', { title: 'Weather', tags: ['a', 'b'], nested: { deep: { n: null, flag: true } } }],
  ['swapped array items', { title: 'Weather', tags: ['b', 'a'], nested: { deep: { n: 1, flag: true } } }],
  ['an added array item', { title: 'Weather', tags: ['a', 'b', 'c'], nested: { deep: { n: 1, flag: true } } }],
  ['an added nested key', { title: 'Weather', tags: ['a', 'b'], nested: { deep: { n: 1, flag: true, x: 0 } } }],
  ['a removed nested key', { title: 'Weather', tags: ['a', 'b'], nested: { deep: { n: 1 } } }],
  ['a renamed nested key', { title: 'Weather', tags: ['a', 'b'], nested: { deep: { m: 1, flag: true } } }],
  ['a removed top-level key', { title: 'Weather', tags: ['a', 'b'] }],
];

describe('canonicalContent', () => {
  it('is the documented canonical JSON of a version 2 entry, byte for byte', () => {
    expect(canonicalContent(v2Entry())).toBe(V2_CANONICAL);
  });

  it('is deterministic: equal entries (fresh Date objects included) give the same text', () => {
    const a = canonicalContent(v2Entry());
    const b = canonicalContent(v2Entry({ occurTime: new Date(Date.parse('2026-01-02T03:04:05.006Z')) }));
    expect(b).toBe(a);
    expect(canonicalContent(v2Entry())).toBe(a);
  });

  it('does not depend on the key order of details, at any depth, nor on the order of the entry object', () => {
    const reordered = v2Entry({ details: { nested: { deep: { flag: true, n: 1 } }, tags: ['a', 'b'], title: 'Weather' } });
    expect(canonicalContent(reordered)).toBe(V2_CANONICAL);
    const entryKeysReversed = Object.fromEntries(Object.entries(v2Entry()).reverse()) as unknown as Unsealed;
    expect(canonicalContent(entryKeysReversed)).toBe(V2_CANONICAL);
    expect(chainHash(PREV, reordered)).toBe(chainHash(PREV, v2Entry()));
  });

  it('has a change case for every field it covers (the table below is complete)', () => {
    expect(FIELD_CHANGES.map(([f]) => f).sort()).toEqual(Object.keys(v2Entry()).sort());
  });

  it.each(FIELD_CHANGES)('version 2: changing %s changes the canonical content and the hash', (_field, change) => {
    const changed = v2Entry(change);
    expect(canonicalContent(changed)).not.toBe(V2_CANONICAL);
    expect(chainHash(PREV, changed)).not.toBe(chainHash(PREV, v2Entry()));
    expect(chainHash(PREV, changed)).toBe(documentedHash(PREV, canonicalContent(changed)));
  });

  it.each(DETAILS_CHANGES)('%s in details changes the hash', (_what, details) => {
    const changed = v2Entry({ details });
    expect(canonicalContent(changed)).not.toBe(V2_CANONICAL);
    expect(chainHash(PREV, changed)).not.toBe(chainHash(PREV, v2Entry()));
  });
});

describe('hash versions', () => {
  it('hashes a version 1 entry without the identity and outcome fields', () => {
    expect(canonicalContent(v1Entry())).toBe(V1_CANONICAL);
    expect(chainHash(PREV, v1Entry())).toBe(documentedHash(PREV, V1_CANONICAL));
  });

  it.each(V2_ONLY_FIELDS)('version 1: changing %s leaves the hash as written (old entries stay verifiable)', (field) => {
    const change = FIELD_CHANGES.find(([f]) => f === field)![1];
    expect(canonicalContent(v1Entry(change))).toBe(V1_CANONICAL);
    expect(chainHash(PREV, v1Entry(change))).toBe(chainHash(PREV, v1Entry()));
  });

  it('a version 1 row read back with the migration defaults in the new columns still hashes as written', () => {
    // A pre-migration row reads back with actor_type derived, '' identity, false verified, SUCCEEDED.
    const asWritten = v1Entry({ actorType: 'USER', actorSubject: '', actorIssuer: '', actorVerified: false, unverifiedActorId: '', outcome: 'SUCCEEDED' });
    expect(chainHash(PREV, asWritten)).toBe(documentedHash(PREV, V1_CANONICAL));
  });

  it.each(FIELD_CHANGES.filter(([f]) => !V2_ONLY_FIELDS.includes(f) && f !== 'hashVersion'))(
    'version 1: changing %s still changes the hash',
    (_field, change) => {
      expect(canonicalContent(v1Entry(change))).not.toBe(V1_CANONICAL);
      expect(chainHash(PREV, v1Entry(change))).not.toBe(chainHash(PREV, v1Entry()));
    },
  );

  it('distinguishes the versions: the same fields hash differently as version 1 and version 2', () => {
    expect(chainHash(PREV, v1Entry())).not.toBe(chainHash(PREV, v2Entry()));
    expect(CURRENT_HASH_VERSION).toBe(2);
  });
});

describe('chainHash', () => {
  it('is sha256(prev_hash ‖ "\\n" ‖ canonical JSON), hex', () => {
    const expected = documentedHash(PREV, V2_CANONICAL);
    expect(chainHash(PREV, v2Entry())).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
    // The separator is part of the formula: without it the digest differs.
    expect(chainHash(PREV, v2Entry())).not.toBe(sha256(PREV + V2_CANONICAL));
  });

  it('depends on prev_hash', () => {
    const other = 'cd'.repeat(32);
    expect(chainHash(other, v2Entry())).not.toBe(chainHash(PREV, v2Entry()));
    expect(chainHash(other, v2Entry())).toBe(documentedHash(other, V2_CANONICAL));
    expect(chainHash(GENESIS_HASH, v2Entry())).toBe(documentedHash('0'.repeat(64), V2_CANONICAL));
  });
});

describe('sealEntries', () => {
  const fresh = (entityId: string): NewUnsealed => {
    const { seq: _s, hashVersion: _v, ...rest } = v2Entry({ entityId });
    return rest;
  };
  const batch = [fresh('one'), fresh('two'), fresh('three')];

  it('numbers entries from the head and links each to the one before', () => {
    const headHash = 'ef'.repeat(32);
    const sealed = sealEntries({ seq: 41n, hash: headHash }, batch);
    expect(sealed.map((e) => e.seq)).toEqual([42n, 43n, 44n]);
    expect(sealed.map((e) => e.hashVersion)).toEqual([2, 2, 2]);
    expect(sealed[0]!.prevHash).toBe(headHash);
    expect(sealed[1]!.prevHash).toBe(sealed[0]!.hash);
    expect(sealed[2]!.prevHash).toBe(sealed[1]!.hash);
    expect(sealed.map((e) => e.entityId)).toEqual(['one', 'two', 'three']);
    // Each hash is the documented formula over its own content and its predecessor's hash.
    for (const e of sealed) {
      const { hash, prevHash, ...content } = e;
      expect(hash).toBe(documentedHash(prevHash, canonicalContent(content)));
    }
    // The first one, written out: v2Entry() is entry 42 of entity 'io.github.acme/weather'.
    expect(sealed[0]!.hash).toBe(
      documentedHash(headHash, V2_CANONICAL.replace('"entity_id":"io.github.acme/weather"', '"entity_id":"one"')),
    );
  });

  it('starts the log at seq 1 with the genesis prev_hash', () => {
    const [first] = sealEntries({ seq: 0n, hash: GENESIS_HASH }, [fresh('one')]);
    expect(first!.seq).toBe(1n);
    expect(first!.prevHash).toBe('0'.repeat(64));
  });

  it('propagates: a different head hash changes every hash of the run', () => {
    const a = sealEntries({ seq: 41n, hash: 'ef'.repeat(32) }, batch);
    const b = sealEntries({ seq: 41n, hash: 'ee'.repeat(32) }, batch);
    for (let i = 0; i < batch.length; i++) expect(b[i]!.hash).not.toBe(a[i]!.hash);
  });

  it('seals nothing for an empty run and leaves its input untouched', () => {
    expect(sealEntries({ seq: 5n, hash: PREV }, [])).toEqual([]);
    const input = fresh('one');
    const before = { ...input };
    sealEntries({ seq: 5n, hash: PREV }, [input]);
    expect(input).toEqual(before);
    expect(input).not.toHaveProperty('hash');
  });
});
