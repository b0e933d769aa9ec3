import { configureTextEncoding, getTextEncoding } from '@bufbuild/protobuf/wire';

/** Up to this many UTF-16 units a JavaScript loop beats any native call (measured: 8 chars 28 vs 330 ns). */
const JS_LOOP_MAX = 32;

/**
 * UTF-8 for protobuf-es's binary writer, byte for byte what TextEncoder produces.
 *
 * protobuf-es encodes every string field with `TextEncoder.encode`, which costs about
 * 330 ns per call in Node 20 however short the string: in the audit service's List
 * handler that was 10% of all CPU (ids, hashes, enum-like names and Struct keys are short).
 * Short ASCII strings are copied in a loop; everything else goes through `Buffer.from`,
 * which is faster than TextEncoder up to several KiB (90 ns at 64 chars, 490 ns at 1 KiB
 * against 345 and 960 ns) and turns lone surrogates into U+FFFD exactly as TextEncoder does.
 */
export function encodeUtf8(text: string): Uint8Array<ArrayBuffer> {
  const n = text.length;
  if (n <= JS_LOOP_MAX) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) return fromString(text);
      out[i] = c;
    }
    return out;
  }
  return fromString(text);
}

/** A Buffer made from a string always sits on a plain ArrayBuffer (Node's pool or its own). */
const fromString = (text: string) => Buffer.from(text, 'utf8') as Uint8Array<ArrayBuffer>;

/**
 * Makes every protobuf-es BinaryWriter created from now on in this process use
 * encodeUtf8 (protobuf-es's documented hook; decoding keeps TextDecoder, already fast).
 * Called once at start-up by each service, before any message is encoded.
 */
export function useFastUtf8Encoding(): void {
  configureTextEncoding({ ...getTextEncoding(), encodeUtf8 });
}
