import { InvalidArgumentError } from '../errors/app-error';
import { resolveUpdateMask } from './field-mask';

const allowed = ['display_name', 'description', 'labels'] as const;

describe('resolveUpdateMask', () => {
  it('empty mask → all allowed fields', () => {
    expect(resolveUpdateMask([], allowed)).toEqual(['display_name', 'description', 'labels']);
  });

  it('empty mask with populated fields → the populated allowed ones (AIP-134 implied mask)', () => {
    expect(resolveUpdateMask([], allowed, ['labels', 'name', 'display_name'])).toEqual(['display_name', 'labels']);
  });

  it('"*" → all allowed fields', () => {
    expect(resolveUpdateMask(['*'], allowed)).toEqual([...allowed]);
  });

  it('listed paths → de-duplicated, in allowed order', () => {
    expect(resolveUpdateMask(['labels', 'display_name', 'labels'], allowed)).toEqual(['display_name', 'labels']);
  });

  it('returns a copy, never the allowed array itself', () => {
    const list = ['a'];
    expect(resolveUpdateMask([], list)).not.toBe(list);
  });

  it.each([
    [['name'], 'update_mask: unknown or read-only field "name"; allowed: display_name, description, labels'],
    [['labels', 'labels.env'], 'update_mask: unknown or read-only field "labels.env"; allowed: display_name, description, labels'],
    [['labels', ''], 'update_mask: path at index 1 is empty'],
    [['*', 'labels'], 'update_mask: "*" must be the only path when present, got "*", "labels"'],
  ])('rejects %j', (paths, message) => {
    const error = catchError(() => resolveUpdateMask(paths, allowed));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).violations[0]?.field).toBe('update_mask');
    expect((error as Error).message).toBe(message);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}
