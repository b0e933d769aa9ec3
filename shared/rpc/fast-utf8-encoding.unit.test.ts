import { create, fromJson, toBinary, type JsonObject } from '@bufbuild/protobuf';
import { StructSchema } from '@bufbuild/protobuf/wkt';
import { BinaryWriter, configureTextEncoding, getTextEncoding } from '@bufbuild/protobuf/wire';
import { encodeUtf8, useFastUtf8Encoding } from './fast-utf8-encoding';

const textEncoder = new TextEncoder();

describe('encodeUtf8', () => {
  const cases: [string, string][] = [
    ['empty', ''],
    ['short ASCII', 'user-42'],
    ['32 ASCII chars (the loop limit)', 'a'.repeat(32)],
    ['33 ASCII chars', 'b'.repeat(33)],
    ['a sha-256 hex digest', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
    ['control characters and DEL', '\u0000\u0001\t\n\u007f'],
    ['Latin-1 after ASCII', 'caf\u00e9'],
    ['two-byte at the start', '\u00e9abc'],
    ['three-byte (CJK)', '\u65e5\u672c\u8a9e'],
    ['a surrogate pair (emoji)', 'ok \ud83d\ude80'],
    ['a lone high surrogate', 'x\ud800y'],
    ['a lone low surrogate at the end', 'x\udc00'],
    ['long mixed text', `${'word '.repeat(300)}\u00fc\ud83d\ude00`],
  ];
  it.each(cases)('matches TextEncoder for %s', (_name, text) => {
    expect(Array.from(encodeUtf8(text))).toEqual(Array.from(textEncoder.encode(text)));
  });

  it('matches TextEncoder for every BMP code unit on the short path', () => {
    for (let c = 0; c < 0x10000; c += 7) {
      const text = `a${String.fromCharCode(c)}`;
      expect(Array.from(encodeUtf8(text))).toEqual(Array.from(textEncoder.encode(text)));
    }
  });
});

describe('useFastUtf8Encoding', () => {
  it('installs encodeUtf8 for new BinaryWriters and keeps protobuf output byte-identical', () => {
    const value: JsonObject = { id: 'run-1', note: 'caf\u00e9 \ud83d\ude80', list: [1.5, true, null, 'x'.repeat(100)], nested: { k: '\u65e5' } };
    const original = getTextEncoding();
    const reference = toBinary(StructSchema, fromJson(StructSchema, value));
    try {
      useFastUtf8Encoding();
      expect(getTextEncoding().encodeUtf8).toBe(encodeUtf8);
      expect(new BinaryWriter().string('\u00e9').finish()).toEqual(new Uint8Array([2, 0xc3, 0xa9]));
      expect(toBinary(StructSchema, fromJson(StructSchema, value))).toEqual(reference);
      expect(toBinary(StructSchema, create(StructSchema))).toEqual(new Uint8Array(0));
    } finally {
      configureTextEncoding(original);
    }
  });
});
