/**
 * Node's AsyncLocalStorage context is lost inside a server-streaming handler: its generator
 * body runs after the interceptor has returned. Wrapping the response iterable re-enters the
 * context for every step (`run`) and reports the end of the stream (`onEnd`, once).
 */
export function bindStream<T>(
  source: AsyncIterable<T>,
  run: <R>(fn: () => R) => R,
  onEnd: (err?: unknown) => void = () => {},
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = run(() => source[Symbol.asyncIterator]());
      let ended = false;
      const end = (err?: unknown) => {
        if (!ended) {
          ended = true;
          onEnd(err);
        }
      };
      return {
        async next() {
          try {
            const step = await run(() => it.next());
            if (step.done) end();
            return step;
          } catch (err) {
            end(err);
            throw err;
          }
        },
        async return(value?: unknown) {
          end();
          return (await run(() => it.return?.(value))) ?? { done: true, value: undefined as T };
        },
        async throw(err?: unknown) {
          end(err);
          if (it.throw) return run(() => it.throw!(err));
          throw err;
        },
      };
    },
  };
}
