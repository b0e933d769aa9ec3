import { EtagMismatchError } from '../errors/app-error';
import { checkEtag, computeEtag } from './etag';

describe('computeEtag', () => {
  it('is deterministic, key-order independent, base64url and 22 chars', () => {
    const etag = computeEtag({ name: 'servers/a', version: 3n, updated: new Date(0) });
    expect(etag).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(computeEtag({ updated: new Date(0), version: 3n, name: 'servers/a' })).toBe(etag);
  });

  it('changes when any part changes', () => {
    expect(computeEtag({ version: 1 })).not.toBe(computeEtag({ version: 2 }));
  });
});

describe('checkEtag', () => {
  const current = computeEtag({ version: 1 });

  it('accepts an empty etag (no precondition) and the current one', () => {
    expect(() => checkEtag('', current, 'servers/a')).not.toThrow();
    expect(() => checkEtag(current, current, 'servers/a')).not.toThrow();
  });

  it('throws EtagMismatchError for a stale etag', () => {
    let error: unknown;
    try {
      checkEtag('stale', current, 'servers/a');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EtagMismatchError);
    const mismatch = error as EtagMismatchError;
    expect(mismatch.message).toBe('etag does not match the current state of "servers/a"; read it again and retry');
    expect(mismatch.kind).toBe('aborted');
    expect(mismatch.resourceName).toBe('servers/a');
    expect(mismatch.expectedEtag).toBe('stale');
  });
});
