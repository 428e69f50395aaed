// Hostile requests, derived from the message descriptors so that a new RPC or a new field is
// fuzzed without touching this file. Two encoders of our own (protobuf wire format and JSON)
// rather than the library's, because the library refuses to write what we want to send:
// invalid UTF-8, wrong wire types, unknown fields, malformed varints, lying frame lengths.
import { gzipSync } from 'node:zlib';
import { ScalarType, type DescField, type DescMessage, type DescMethod } from '@bufbuild/protobuf';
import { fromJson, toBinary } from '@bufbuild/protobuf';
import { MethodOptions_IdempotencyLevel, StructSchema } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { frame, FLAG_COMPRESSED, FLAG_END_STREAM, FLAG_TRAILER, type Request } from './wire.ts';

// ---------------------------------------------------------------------------------------------
// Protocols

export type ProtocolName = 'grpc' | 'grpc-web' | 'connect-json' | 'connect-proto';

export interface Protocol {
  name: ProtocolName;
  transport: 'h2' | 'h1';
  codec: 'proto' | 'json';
  /** Whether requests of this method are 5-byte prefixed frames on this protocol. */
  enveloped(method: DescMethod): boolean;
  /** The headers of a well-formed request. */
  headers(method: DescMethod): Record<string, string>;
}

const streaming = (method: DescMethod) => method.methodKind !== 'unary';

export const PROTOCOLS: readonly Protocol[] = [
  {
    name: 'grpc',
    transport: 'h2',
    codec: 'proto',
    enveloped: () => true,
    headers: () => ({ 'content-type': 'application/grpc', te: 'trailers' }),
  },
  {
    name: 'grpc-web',
    transport: 'h1',
    codec: 'proto',
    enveloped: () => true,
    headers: () => ({ 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' }),
  },
  {
    name: 'connect-json',
    transport: 'h1',
    codec: 'json',
    enveloped: streaming,
    headers: (method) => ({
      'content-type': streaming(method) ? 'application/connect+json' : 'application/json',
      'connect-protocol-version': '1',
    }),
  },
  {
    name: 'connect-proto',
    transport: 'h1',
    codec: 'proto',
    enveloped: streaming,
    headers: (method) => ({
      'content-type': streaming(method) ? 'application/connect+proto' : 'application/proto',
      'connect-protocol-version': '1',
    }),
  },
];

export function procedurePath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

// ---------------------------------------------------------------------------------------------
// What the fuzzer knows exists on the server, so that some inputs get past "not found".

export interface Pools {
  conversationIds: string[];
  messageIds: string[];
  toolUseIds: string[];
  pageTokens: string[];
  /**
   * Plausible messages: every field mostly present and mostly a value the server would take,
   * with the odd hostile one, so that inputs get past the first check and reach the code behind.
   */
  plausible?: boolean;
}

export const UNKNOWN_UUID = '01a20d34-0000-7000-8000-000000000000';

/** Values of a field by its name: good ones the server takes, bad ones that are almost good. */
function hintsFor(field: DescField, pools: Pools): { good: string[]; bad: string[] } {
  const name = field.name;
  const idVariants = (id: string) => [id.toUpperCase(), ` ${id}`, `${id}\n`, id.slice(0, 35), `${id}0`, id.replaceAll('-', ''), UNKNOWN_UUID];
  const ids = (good: string[]) => ({ good: good.length > 0 ? good : [UNKNOWN_UUID], bad: idVariants(good[0] ?? UNKNOWN_UUID) });
  if (name.endsWith('conversation_id')) return ids(pools.conversationIds);
  if (name.endsWith('message_id')) return ids(pools.messageIds);
  if (name.endsWith('tool_use_id')) return { good: pools.toolUseIds.length > 0 ? pools.toolUseIds : ['toolu_01unknown'], bad: ['toolu_01unknown', 'toolu_ü', 'x'.repeat(129)] };
  if (name === 'page_token') return { good: pools.pageTokens.slice(0, 1), bad: pools.pageTokens.slice(1) };
  if (name === 'model') return { good: ['claude-sonnet-5-5', 'claude-opus-4-1'], bad: ['x'.repeat(101), '-leading-dash', 'a b'] };
  if (name === 'name') return { good: ['get_weather', 'lookup_order'], bad: ['x'.repeat(65), 'has space', ''] };
  if (name.endsWith('tools')) return { good: ['current_time', 'calculate'], bad: ['no_such_tool', 'x'.repeat(65)] };
  if (name === 'request_id') return { good: ['req-1', 'req-2'], bad: ['req 1', 'x'.repeat(129), 'é'] };
  return { good: ['hello', 'What is the weather today in Paris?'], bad: [' \t\n', ''] };
}

/** The hints as one arbitrary: in a plausible message mostly the good ones. */
function hinted(field: DescField, pools: Pools): fc.Arbitrary<string> {
  const { good, bad } = hintsFor(field, pools);
  return fc.oneof({ weight: pools.plausible ? 6 : 1, arbitrary: fc.constantFrom(...good) }, { weight: 1, arbitrary: fc.constantFrom(...bad) });
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire format, written by hand.

const WIRE = { varint: 0, fixed64: 1, len: 2, sgroup: 3, egroup: 4, fixed32: 5 } as const;

function varint(value: bigint): Uint8Array {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
}

function tag(fieldNo: number, wireType: number): Uint8Array {
  return varint((BigInt(fieldNo) << 3n) | BigInt(wireType));
}

function lengthDelimited(fieldNo: number, payload: Uint8Array): Uint8Array {
  return concat([tag(fieldNo, WIRE.len), varint(BigInt(payload.length)), payload]);
}

const utf8 = (text: string) => new TextEncoder().encode(text);

/** Byte sequences that are not UTF-8: lone continuation, overlong, surrogate, truncated, > U+10FFFF. */
const INVALID_UTF8: readonly number[][] = [
  [0xff],
  [0xfe, 0xff],
  [0x80],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];

const HUGE_LENGTHS = [201, 4097, 100_001, 300_000] as const;

/** Text a database or a JSON column may not take: NUL, lone surrogates, BOM, bidi overrides, separators. */
const SPECIAL_STRINGS = ['\u0000', 'a\u0000b', '\ud800', 'x\udfff', 'a\ud83d', '\u202e', '\ufeff', '\u2028', '\r\n', '%00', "'; drop table conversation; --"] as const;
const special = fc
  .tuple(fc.constantFrom(...SPECIAL_STRINGS), fc.constantFrom('', 'hello', 'get_weather'), fc.boolean())
  .map(([odd, word, before]) => (before ? odd + word : word + odd));

function stringBytes(field: DescField, pools: Pools): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: pools.plausible ? 40 : 6, arbitrary: hinted(field, pools).map(utf8) },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }).map(utf8) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map(utf8) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.string({ maxLength: 8 }), fc.constantFrom(...INVALID_UTF8), fc.string({ maxLength: 8 }))
        .map(([a, bad, b]) => concat([utf8(a), Uint8Array.from(bad), utf8(b)])),
    },
    { weight: 1, arbitrary: fc.constantFrom(...HUGE_LENGTHS).map((n) => utf8('x'.repeat(n))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }) },
    { weight: pools.plausible ? 6 : 2, arbitrary: special.map(utf8) },
  );
}

const INTERESTING_INTEGERS: readonly bigint[] = [
  0n, 1n, 2n, 20n, 100n, 101n, 1023n, 1024n, 4096n, 128_000n, 128_001n,
  2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n,
  -1n, -2n, -(2n ** 31n), -(2n ** 63n),
];

const integerValue = (pools: Pools) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...INTERESTING_INTEGERS) },
    { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }) },
    { weight: pools.plausible ? 8 : 1, arbitrary: fc.oneof(fc.bigInt({ min: 0n, max: 100n }), fc.bigInt({ min: 1024n, max: 8192n })) },
  );

/** The encoding of one value of a singular field (without anything wrong with the wire type). */
function scalarPayload(scalar: ScalarType, field: DescField, pools: Pools): fc.Arbitrary<{ wireType: number; bytes: Uint8Array }> {
  switch (scalar) {
    case ScalarType.STRING:
      return stringBytes(field, pools).map((b) => ({ wireType: WIRE.len, bytes: concat([varint(BigInt(b.length)), b]) }));
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 64 }).map((b) => ({ wireType: WIRE.len, bytes: concat([varint(BigInt(b.length)), b]) }));
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return fc.uint8Array({ minLength: 8, maxLength: 8 }).map((bytes) => ({ wireType: WIRE.fixed64, bytes }));
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes) => ({ wireType: WIRE.fixed32, bytes }));
    case ScalarType.BOOL:
      return fc.constantFrom(0n, 1n, 2n, 2n ** 64n - 1n).map((v) => ({ wireType: WIRE.varint, bytes: varint(v) }));
    default:
      return integerValue(pools).map((v) => ({ wireType: WIRE.varint, bytes: varint(v) }));
  }
}

/** A field encoded with the wrong wire type, or a malformed value. */
function malformedField(fieldNo: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    // a declared wire type that does not match the field, with a plausible payload for it
    fc.tuple(fc.constantFrom(0, 1, 2, 5), fc.uint8Array({ minLength: 0, maxLength: 12 })).map(([wireType, payload]) =>
      concat([tag(fieldNo, wireType), wireType === WIRE.len ? varint(BigInt(payload.length)) : new Uint8Array(), payload]),
    ),
    // groups and the two wire types that do not exist
    fc.constantFrom(3, 4, 6, 7).map((wireType) => concat([tag(fieldNo, wireType), Uint8Array.from([0x01])])),
    // a varint that never ends, or is longer than ten bytes
    fc.constant(concat([tag(fieldNo, WIRE.varint), new Uint8Array(11).fill(0xff), Uint8Array.from([0x01])])),
    fc.constant(concat([tag(fieldNo, WIRE.varint), new Uint8Array(3).fill(0xff)])),
    // a length longer than what follows
    fc.constant(concat([tag(fieldNo, WIRE.len), varint(1000n), utf8('short')])),
    fc.constant(concat([tag(fieldNo, WIRE.len), varint(2n ** 62n)])),
  );
}

/** Fields the message does not declare (reserved numbers included), with any wire type. */
function unknownField(message: DescMessage): fc.Arbitrary<Uint8Array> {
  const declared = new Set(message.fields.map((f) => f.number));
  const numbers = [4, 15, 16, 100, 1000, 19_000, 536_870_911].filter((n) => !declared.has(n));
  return fc.tuple(fc.constantFrom(...numbers), fc.constantFrom(0, 1, 2, 5), fc.uint8Array({ maxLength: 16 })).map(([no, wireType, payload]) => {
    switch (wireType) {
      case WIRE.varint:
        return concat([tag(no, wireType), varint(BigInt(payload.length * 1_000_003))]);
      case WIRE.fixed64:
        return concat([tag(no, wireType), Buffer.alloc(8, payload[0] ?? 0)]);
      case WIRE.fixed32:
        return concat([tag(no, wireType), Buffer.alloc(4, payload[0] ?? 0)]);
      default:
        return lengthDelimited(no, payload);
    }
  });
}

const MAX_DEPTH = 3;
const MANY = [65, 101, 300] as const;

/** How many elements a list gets: many only at the top, so that sizes multiply to little. */
function count(depth: number): fc.Arbitrary<number> {
  if (depth >= MAX_DEPTH) return fc.integer({ min: 0, max: 1 });
  if (depth > 0) return fc.integer({ min: 0, max: 3 });
  return fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(...MANY) });
}

/** Many copies of one element (cheap to make; a list is as long as it is), for small elements at the top only. */
function copies<T>(element: fc.Arbitrary<T>, size: (e: T) => number, depth: number): fc.Arbitrary<T[]> {
  return fc.tuple(element, fc.constantFrom(...MANY)).map(([e, n]) => new Array<T>(depth === 0 && size(e) <= 4096 ? n : 1).fill(e));
}

/** One field's encodings (zero or more tagged values), of any kind, as the descriptor says. */
function fieldEncodings(field: DescField, pools: Pools, depth: number): fc.Arbitrary<Uint8Array[]> {
  const no = field.number;
  const one = (): fc.Arbitrary<Uint8Array> => {
    switch (field.fieldKind) {
      case 'scalar':
        return scalarPayload(field.scalar, field, pools).map(({ wireType, bytes }) => concat([tag(no, wireType), bytes]));
      case 'enum':
        return fc
          .oneof(fc.constantFrom(...field.enum.values.map((v) => BigInt(v.number))), fc.constantFrom(99n, -1n, 2n ** 31n - 1n, 2n ** 40n))
          .map((v) => concat([tag(no, WIRE.varint), varint(v)]));
      case 'message':
        return messageBytes(field.message, pools, depth + 1).map((b) => lengthDelimited(no, b));
      case 'list':
        return listElement(field, pools, depth);
      case 'map':
        return mapEntry(field, pools, depth).map((entry) => lengthDelimited(no, entry));
    }
  };
  const repeated = field.fieldKind === 'list' || field.fieldKind === 'map';
  if (!repeated) {
    // Absent, once, or (last one wins) twice.
    return fc.oneof(
      { weight: pools.plausible ? 1 : 3, arbitrary: fc.constant<Uint8Array[]>([]) },
      { weight: 6, arbitrary: one().map((b) => [b]) },
      { weight: 1, arbitrary: fc.tuple(one(), one()).map((pair): Uint8Array[] => [...pair]) },
    );
  }
  return fc.oneof(
    { weight: 9, arbitrary: count(depth).chain((n) => fc.array(one(), { minLength: n, maxLength: n })) },
    { weight: 1, arbitrary: copies(one(), (b) => b.length, depth) },
  );
}

function listElement(field: DescField & { fieldKind: 'list' }, pools: Pools, depth: number): fc.Arbitrary<Uint8Array> {
  const no = field.number;
  switch (field.listKind) {
    case 'scalar':
      return fc.tuple(scalarPayload(field.scalar, field, pools), fc.boolean()).map(([{ wireType, bytes }, packed]) =>
        // numbers may come packed (one length-delimited run) or not
        wireType !== WIRE.len && packed ? lengthDelimited(no, bytes) : concat([tag(no, wireType), bytes]),
      );
    case 'enum':
      return fc.constantFrom(0n, 1n, 99n, -1n).map((v) => concat([tag(no, WIRE.varint), varint(v)]));
    case 'message':
      return messageBytes(field.message, pools, depth + 1).map((b) => lengthDelimited(no, b));
  }
}

function mapEntry(field: DescField & { fieldKind: 'map' }, pools: Pools, depth: number): fc.Arbitrary<Uint8Array> {
  const key = scalarPayload(field.mapKey, field, pools).map(({ wireType, bytes }) => concat([tag(1, wireType), bytes]));
  let value: fc.Arbitrary<Uint8Array>;
  switch (field.mapKind) {
    case 'scalar':
      value = scalarPayload(field.scalar, field, pools).map(({ wireType, bytes }) => concat([tag(2, wireType), bytes]));
      break;
    case 'enum':
      value = fc.constantFrom(0n, 1n, 99n).map((v) => concat([tag(2, WIRE.varint), varint(v)]));
      break;
    case 'message':
      value = messageBytes(field.message, pools, depth + 1).map((b) => lengthDelimited(2, b));
      break;
  }
  // Entries may lack their key or value.
  return fc.tuple(fc.option(key, { freq: 6, nil: new Uint8Array() }), fc.option(value, { freq: 6, nil: new Uint8Array() })).map(([k, v]) => concat([k, v]));
}

const messageCache = new WeakMap<Pools, Map<string, fc.Arbitrary<Uint8Array>>>();

/** A message in the protobuf wire format, hostile in every field it has. */
export function messageBytes(message: DescMessage, pools: Pools, depth = 0): fc.Arbitrary<Uint8Array> {
  const cacheKey = `${message.typeName}@${depth}`;
  let cache = messageCache.get(pools);
  if (!cache) messageCache.set(pools, (cache = new Map()));
  const cached = cache.get(cacheKey);
  if (cached) return cached;
  if (depth > MAX_DEPTH) return fc.constant(new Uint8Array());
  const fields = message.fields.map((field) =>
    pools.plausible
      ? fieldEncodings(field, pools, depth)
      : fc.oneof({ weight: 12, arbitrary: fieldEncodings(field, pools, depth) }, { weight: 1, arbitrary: malformedField(field.number).map((b) => [b]) }),
  );
  let arbitrary = fc
    .tuple(fc.tuple(...fields), fc.array(unknownField(message), { maxLength: pools.plausible ? 1 : 2 }), fc.boolean())
    .map(([encoded, unknown, reversed]) => {
      const chunks = [...encoded.flat(), ...unknown];
      return concat(reversed ? chunks.reverse() : chunks);
    });
  if (pools.plausible && message.typeName === StructSchema.typeName) {
    arbitrary = fc.oneof(arbitrary, fc.constantFrom(...PLAUSIBLE_SCHEMAS).map((schema) => toBinary(StructSchema, fromJson(StructSchema, schema))));
  }
  cache.set(cacheKey, arbitrary);
  return arbitrary;
}

// ---------------------------------------------------------------------------------------------
// JSON, by the same descriptors.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** JSON Schemas a client tool may have, some odd (deep, huge enum, unknown keywords, NUL). */
const PLAUSIBLE_SCHEMAS: Json[] = [
  { type: 'object', properties: {} },
  { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  { type: 'object', properties: { a: { type: 'object', properties: { b: { type: 'array', items: { type: 'number' } } } } } },
  { type: 'object', properties: { e: { enum: Array.from({ length: 50 }, (_, i) => `v${i}`) } } },
  { type: 'object', $ref: '#/definitions/x', unknownKeyword: true },
  { type: 'object', properties: { 'k\u0000': { type: 'string' } } },
];

const anyJson: fc.Arbitrary<Json> = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;

const wrongType: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 1e308, '', 'x', [], {}, [1, 2], { a: 1 }),
  anyJson,
);

function jsonString(field: DescField, pools: Pools): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: pools.plausible ? 40 : 6, arbitrary: hinted(field, pools) },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
    // includes U+0000 and lone surrogates, which JSON.stringify writes as \u escapes
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
    { weight: 1, arbitrary: fc.constantFrom(...HUGE_LENGTHS).map((n) => 'x'.repeat(n)) },
    { weight: pools.plausible ? 6 : 2, arbitrary: special },
  );
}

function jsonScalar(scalar: ScalarType, field: DescField, pools: Pools): fc.Arbitrary<Json> {
  switch (scalar) {
    case ScalarType.STRING:
      return jsonString(field, pools);
    case ScalarType.BYTES:
      return fc.oneof(fc.base64String({ maxLength: 40 }), fc.constantFrom('!!!not base64', '====', 'YQ', 'YQ==='));
    case ScalarType.BOOL:
      return fc.constantFrom<Json>(true, false, 'true', 'false', 1, 0, 'yes');
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.oneof(fc.double(), fc.constantFrom<Json>('NaN', 'Infinity', '-Infinity', '1e400', '1e-400', '0x10', ''));
    default:
      return fc.oneof(
        { weight: 1, arbitrary: fc.constantFrom<Json>(...INTERESTING_INTEGERS.filter((n) => n >= -(2n ** 53n) && n <= 2n ** 53n).map(Number)) },
        { weight: 1, arbitrary: fc.constantFrom(...INTERESTING_INTEGERS).map((n) => n.toString()) },
        { weight: 1, arbitrary: fc.constantFrom<Json>(1.5, -0, 1e21, 1e300, '1e3', ' 5', '0x1f', '+1', '1_000', 'NaN', '18446744073709551616', '-9223372036854775809', '') },
        { weight: pools.plausible ? 6 : 1, arbitrary: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1024, max: 8192 })) },
      );
  }
}

function jsonEnum(field: DescField & { enum: NonNullable<DescField['enum']> }): fc.Arbitrary<Json> {
  const names = field.enum.values.map((v) => v.name);
  return fc.oneof(
    fc.constantFrom<Json>(...names),
    fc.constantFrom<Json>(...names.map((n) => n.toLowerCase()), 'NO_SUCH_VALUE', 99, -1, 2 ** 31, 1.5, ''),
  );
}

const jsonCache = new WeakMap<Pools, Map<string, fc.Arbitrary<Json>>>();

/** A JSON value for a message: an object with hostile, wrongly typed and unknown members. */
export function messageJson(message: DescMessage, pools: Pools, depth = 0): fc.Arbitrary<Json> {
  if (message.typeName === 'google.protobuf.Struct') {
    return fc.oneof(
      { weight: 4, arbitrary: fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), anyJson, { maxKeys: 4 }) },
      { weight: pools.plausible ? 8 : 1, arbitrary: fc.constantFrom<Json>(...PLAUSIBLE_SCHEMAS) },
      { weight: 1, arbitrary: wrongType },
    );
  }
  if (message.typeName === 'google.protobuf.Value') return anyJson;
  if (message.typeName === 'google.protobuf.ListValue') return fc.array(anyJson, { maxLength: 3 });
  if (message.typeName === 'google.protobuf.Timestamp') return fc.constantFrom<Json>('2026-01-01T00:00:00Z', '10000-01-01T00:00:00Z', 'yesterday', 0, '');
  const cacheKey = `${message.typeName}@${depth}`;
  let cache = jsonCache.get(pools);
  if (!cache) jsonCache.set(pools, (cache = new Map()));
  const cached = cache.get(cacheKey);
  if (cached) return cached;
  if (depth > MAX_DEPTH) return fc.constant({});

  const member = (field: DescField): fc.Arbitrary<[string, Json] | null> => {
    const value = (): fc.Arbitrary<Json> => {
      switch (field.fieldKind) {
        case 'scalar':
          return jsonScalar(field.scalar, field, pools);
        case 'enum':
          return jsonEnum(field);
        case 'message':
          return messageJson(field.message, pools, depth + 1);
        case 'list': {
          const element: fc.Arbitrary<Json> =
            field.listKind === 'scalar' ? jsonScalar(field.scalar, field, pools) : field.listKind === 'enum' ? jsonEnum(field) : messageJson(field.message, pools, depth + 1);
          return fc.oneof(
            { weight: 8, arbitrary: count(depth).chain((n) => fc.array(element, { minLength: n, maxLength: n })) },
            { weight: 1, arbitrary: copies(element, (e) => JSON.stringify(e).length, depth) },
            { weight: 1, arbitrary: fc.constant<Json>([null]) },
          );
        }
        case 'map':
          return fc.dictionary(fc.string({ maxLength: 8 }), field.mapKind === 'message' ? messageJson(field.message, pools, depth + 1) : anyJson, { maxKeys: 3 });
      }
    };
    // Proto3 JSON accepts the lowerCamelCase name and the original name.
    const key = fc.constantFrom(field.jsonName, field.name);
    if (pools.plausible) return fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 8, arbitrary: fc.tuple(key, value()) });
    return fc.oneof(
      { weight: 3, arbitrary: fc.constant(null) },
      { weight: 7, arbitrary: fc.tuple(key, value()) },
      { weight: 1, arbitrary: fc.tuple(key, wrongType) },
    );
  };
  const unknownMember = fc.tuple(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('temperature', '__proto__', 'constructor', '@type')), anyJson);
  const arbitrary: fc.Arbitrary<Json> = fc
    .tuple(fc.tuple(...message.fields.map(member)), fc.array(unknownMember, { maxLength: 2 }))
    .map(([members, unknown]) => {
      const object: Record<string, Json> = {};
      for (const entry of [...members, ...unknown]) {
        if (entry) Object.defineProperty(object, entry[0], { value: entry[1], enumerable: true, writable: true, configurable: true });
      }
      return object;
    });
  cache.set(cacheKey, arbitrary);
  return arbitrary;
}

/** JSON text that is not what a parser should accept, or accepts only to find nothing useful. */
function jsonTextMutation(text: string): fc.Arbitrary<{ kind: string; bytes: Uint8Array }> {
  const b = (kind: string, bytes: Uint8Array | string) => ({ kind, bytes: typeof bytes === 'string' ? utf8(bytes) : bytes });
  const firstQuote = text.indexOf('"');
  return fc.oneof(
    fc.constantFrom('[]', '[{}]', '0', '-1', '"a string"', 'null', 'true', '', ' ', '{}', '{"a":', '{,}', "{'a':1}", 'NaN').map((t) => b('json:not-an-object', t)),
    fc.constantFrom(1_000, 50_000).map((n) => b(`json:nested-${n}`, `${'['.repeat(n)}${']'.repeat(n)}`)),
    fc.constantFrom(1_000, 50_000).map((n) => b(`json:nested-object-${n}`, `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`)),
    fc.nat({ max: Math.max(0, text.length - 1) }).map((cut) => b('json:truncated', text.slice(0, cut))),
    fc.constantFrom('}', ',', ' x', '\u0000', '{}').map((tail) => b('json:trailing-garbage', text + tail)),
    fc.constantFrom(...INVALID_UTF8).map((bad) =>
      b('json:invalid-utf8', firstQuote < 0 ? concat([Uint8Array.from(bad), utf8(text)]) : concat([utf8(text.slice(0, firstQuote + 1)), Uint8Array.from(bad), utf8(text.slice(firstQuote + 1))])),
    ),
    fc.constant(b('json:bom', concat([Uint8Array.from([0xef, 0xbb, 0xbf]), utf8(text)]))),
    fc.constant(b('json:utf16', Buffer.from(text, 'utf16le'))),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => b('json:random-bytes', bytes)),
  );
}

// ---------------------------------------------------------------------------------------------
// Whole requests: body, framing and headers.

export interface FuzzInput {
  protocol: ProtocolName;
  method: DescMethod;
  /** What kind of hostility this is (for the report). */
  kind: string;
  request: Request;
  /** Codes besides the usual client-error codes that are a correct answer to this input. */
  alsoAllowed?: string[];
}

const WRONG_CONTENT_TYPES = [
  'text/plain',
  'application/xml',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  'application/grpc+json',
  'application/grpc-web-text',
  'application/grpc-web+json',
  'application/connect+proto',
  'application/json; charset=latin1',
  'APPLICATION/PROTO',
  'application/grpc; codec=unknown',
] as const;

const HEADER_MUTATIONS: ReadonlyArray<{ headers: Record<string, string>; alsoAllowed?: string[] }> = [
  { headers: { 'grpc-encoding': 'bogus' } },
  { headers: { 'grpc-encoding': 'gzip' } },
  { headers: { 'grpc-encoding': 'identity' } },
  { headers: { 'content-encoding': 'gzip' } },
  { headers: { 'content-encoding': 'br' } },
  { headers: { 'connect-content-encoding': 'deflate' } },
  { headers: { 'grpc-accept-encoding': 'no-such-codec,,' } },
  { headers: { 'grpc-timeout': 'abc' } },
  { headers: { 'grpc-timeout': '-1S' } },
  { headers: { 'grpc-timeout': '999999999H' } },
  { headers: { 'grpc-timeout': '1n' }, alsoAllowed: ['deadline_exceeded'] },
  { headers: { 'connect-timeout-ms': 'abc' } },
  { headers: { 'connect-timeout-ms': '-5' } },
  { headers: { 'connect-timeout-ms': '99999999999999999999999' } },
  { headers: { 'connect-timeout-ms': '1' }, alsoAllowed: ['deadline_exceeded'] },
  { headers: { 'connect-protocol-version': '2' } },
  { headers: { 'connect-protocol-version': '' } },
  // Credentials that are no key: unauthenticated, even while the instance runs open.
  { headers: { authorization: `Bearer ${'x'.repeat(8000)}` }, alsoAllowed: ['unauthenticated'] },
];

const MAX_RANDOM_BODY = 1024 * 1024;

export interface InputOptions {
  protocol: Protocol;
  method: DescMethod;
  pools: Pools;
}

/** Wraps a body the way the protocol frames it (or leaves it bare for unary Connect). */
function wellFramed(protocol: Protocol, method: DescMethod, body: Uint8Array): Buffer {
  return protocol.enveloped(method) ? frame(body) : Buffer.from(body);
}

/** Random hostile inputs for one RPC on one protocol. */
export function inputArbitrary({ protocol, method, pools }: InputOptions): fc.Arbitrary<FuzzInput> {
  const base = protocol.headers(method);
  const path = procedurePath(method);
  const make = (kind: string, body: Uint8Array, headers: Record<string, string> = base, alsoAllowed?: string[]): FuzzInput => ({
    protocol: protocol.name,
    method,
    kind,
    request: { path, headers, body },
    ...(alsoAllowed ? { alsoAllowed } : {}),
  });
  // Bodies over the read limit are sent on purpose by fixedInputs; random ones stay below it.
  const encode = (gen: Pools): fc.Arbitrary<Uint8Array> =>
    protocol.codec === 'proto' ? messageBytes(method.input, gen) : messageJson(method.input, gen).map((value) => utf8(JSON.stringify(value)));
  const payload = encode(pools).filter((body) => body.length <= MAX_RANDOM_BODY);
  const plausible = encode({ ...pools, plausible: true }).filter((body) => body.length <= MAX_RANDOM_BODY);
  const enveloped = protocol.enveloped(method);

  const options: Array<{ weight: number; arbitrary: fc.Arbitrary<FuzzInput> }> = [
    { weight: 8, arbitrary: payload.map((body) => make('message', wellFramed(protocol, method, body))) },
    { weight: 8, arbitrary: plausible.map((body) => make('plausible-message', wellFramed(protocol, method, body))) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 128 }).map((bytes) => make('random-bytes', wellFramed(protocol, method, bytes))) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(payload, fc.constantFrom(...WRONG_CONTENT_TYPES))
        .map(([body, contentType]) => make(`content-type:${contentType}`, wellFramed(protocol, method, body), { ...base, 'content-type': contentType })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(payload, fc.constantFrom(...HEADER_MUTATIONS))
        .map(([body, mutation]) =>
          make(`header:${Object.entries(mutation.headers).map(([k, v]) => `${k}=${v.slice(0, 20)}`).join(',')}`, wellFramed(protocol, method, body), { ...base, ...mutation.headers }, mutation.alsoAllowed),
        ),
    },
  ];
  if (protocol.codec === 'json') {
    options.push({
      weight: 4,
      arbitrary: payload.chain((body) =>
        jsonTextMutation(new TextDecoder().decode(body)).map(({ kind, bytes }) => make(kind, wellFramed(protocol, method, bytes))),
      ),
    });
  }
  if (enveloped) {
    options.push({
      weight: 5,
      arbitrary: fc.tuple(payload, fc.nat({ max: 1000 })).chain(([body, n]) => {
        const whole = frame(body);
        return fc.constantFrom<FuzzInput>(
          make('frame:compressed-flag-without-encoding', frame(body, FLAG_COMPRESSED)),
          make('frame:length-longer-than-body', frame(body, 0, body.length + 1 + (n % 64))),
          make('frame:length-shorter-than-body', frame(body, 0, Math.max(0, body.length - 1 - (n % 8)))),
          make('frame:truncated-body', whole.subarray(0, 5 + Math.floor((body.length * (n % 100)) / 100))),
          make('frame:truncated-prefix', whole.subarray(0, n % 5)),
          make('frame:two-messages', Buffer.concat([whole, whole])),
          make('frame:no-message', new Uint8Array()),
          make('frame:trailing-garbage', Buffer.concat([whole, Buffer.from([0xde, 0xad])])),
          make('frame:trailer-flag', frame(body, FLAG_TRAILER)),
          make('frame:end-stream-flag', frame(body, FLAG_END_STREAM)),
          make('frame:unknown-flags', frame(body, 0x7c)),
          make('frame:all-flags', frame(body, 0xff)),
        );
      }),
    });
  } else {
    options.push({
      weight: 2,
      arbitrary: fc.tuple(payload, fc.nat({ max: 100 })).map(([body, n]) => make('body:truncated', body.subarray(0, Math.floor((body.length * n) / 100)))),
    });
  }
  return fc.oneof(...options);
}

// ---------------------------------------------------------------------------------------------
// Inputs every (RPC, protocol) gets, beyond the random ones: the size limits and compression.

const READ_MAX_BYTES = 4 * 1024 * 1024;
/** Two bytes that start a brotli stream and end before it does. */
const TRUNCATED_BROTLI = Uint8Array.from([0x0a, 0x00]);

/** A message of just over the server's read limit: one string field (the first there is) holding it. */
function oversizedBody(method: DescMethod, codec: 'proto' | 'json'): Uint8Array {
  const field = method.input.fields.find((f) => f.fieldKind === 'scalar' && f.scalar === ScalarType.STRING);
  const filler = 'a'.repeat(READ_MAX_BYTES + 1024);
  if (codec === 'json') return utf8(JSON.stringify({ [field?.jsonName ?? 'padding']: filler }));
  return lengthDelimited(field?.number ?? 1000, utf8(filler));
}

let bombCache: Buffer | null = null;
/** 8 MiB of zeros: about 8 KiB compressed, far over the limit once inflated. */
function gzipBomb(): Buffer {
  return (bombCache ??= gzipSync(Buffer.alloc(2 * READ_MAX_BYTES)));
}

export function fixedInputs({ protocol, method }: InputOptions): FuzzInput[] {
  const base = protocol.headers(method);
  const path = procedurePath(method);
  const make = (kind: string, body: Uint8Array, headers: Record<string, string> = base, extra: Partial<FuzzInput['request']> = {}): FuzzInput => ({
    protocol: protocol.name,
    method,
    kind,
    request: { path, headers, body, ...extra },
  });
  const oversized = oversizedBody(method, protocol.codec);
  const bomb = gzipBomb();
  // A compressed message cut short (the end of the stream missing).
  const whole = gzipSync(protocol.codec === 'json' ? utf8('{}') : lengthDelimited(1, utf8('hello')));
  const truncatedGzip = whole.subarray(0, whole.length - 4);
  const inputs: FuzzInput[] = [
    make('oversized:body', wellFramed(protocol, method, oversized)),
    make('empty-body', new Uint8Array()),
  ];
  // Every string field at once holding text PostgreSQL cannot store (NUL; in JSON also a lone
  // surrogate; in protobuf an encoded surrogate, which is not UTF-8).
  const strings = method.input.fields.filter((f) => f.fieldKind === 'scalar' && f.scalar === ScalarType.STRING);
  if (strings.length > 0) {
    const every = (text: string) =>
      protocol.codec === 'json'
        ? utf8(JSON.stringify(Object.fromEntries(strings.map((f) => [f.jsonName, text]))))
        : concat(strings.map((f) => lengthDelimited(f.number, utf8(text))));
    inputs.push(make('text:nul-in-every-string', wellFramed(protocol, method, every('a\u0000b'))));
    if (protocol.codec === 'json') inputs.push(make('text:lone-surrogate-in-every-string', wellFramed(protocol, method, every('a\ud800b'))));
    else inputs.push(make('text:encoded-surrogate-in-every-string', wellFramed(protocol, method, concat(strings.map((f) => lengthDelimited(f.number, Uint8Array.from([0x61, 0xed, 0xa0, 0x80])))))));
  }
  if (protocol.enveloped(method)) {
    const encodingHeader = protocol.name.startsWith('connect') ? 'connect-content-encoding' : 'grpc-encoding';
    inputs.push(
      make('oversized:declared-length-4GiB', frame(utf8('x'), 0, 0xffffffff)),
      make('oversized:declared-length-limit+1', frame(utf8('x'), 0, READ_MAX_BYTES + 1)),
      make('frame:compressed-flag-without-encoding', frame(new Uint8Array(), FLAG_COMPRESSED)),
      make('frame:compressed-flag-identity-encoding', frame(new Uint8Array(), FLAG_COMPRESSED), { ...base, [encodingHeader]: 'identity' }),
      make('compression:gzip-bomb', frame(bomb, FLAG_COMPRESSED), { ...base, [encodingHeader]: 'gzip' }),
      make('compression:not-gzip', frame(utf8('this is not gzip'), FLAG_COMPRESSED), { ...base, [encodingHeader]: 'gzip' }),
      make('compression:truncated-gzip', frame(truncatedGzip, FLAG_COMPRESSED), { ...base, [encodingHeader]: 'gzip' }),
      make('compression:truncated-brotli', frame(TRUNCATED_BROTLI, FLAG_COMPRESSED), { ...base, [encodingHeader]: 'br' }),
      make('compression:unsupported', frame(utf8('x'), FLAG_COMPRESSED), { ...base, [encodingHeader]: 'zstd' }),
    );
  } else {
    inputs.push(
      make('compression:gzip-bomb', bomb, { ...base, 'content-encoding': 'gzip' }),
      make('compression:not-gzip', utf8('this is not gzip'), { ...base, 'content-encoding': 'gzip' }),
      make('compression:truncated-gzip', truncatedGzip, { ...base, 'content-encoding': 'gzip' }),
      make('compression:truncated-brotli', TRUNCATED_BROTLI, { ...base, 'content-encoding': 'br' }),
      make('compression:unsupported', utf8('{}'), { ...base, 'content-encoding': 'zstd' }),
    );
  }
  // Connect's GET form, for RPCs without side effects.
  if (protocol.name.startsWith('connect') && method.methodKind === 'unary' && method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS) {
    const encoding = protocol.codec === 'json' ? 'json' : 'proto';
    const get = (kind: string, query: string) => make(kind, new Uint8Array(), {}, { method: 'GET', path: `${path}?${query}` });
    inputs.push(
      get('get:no-message', `connect=v1&encoding=${encoding}`),
      get('get:garbage-message', `connect=v1&encoding=${encoding}&message=%FF%FE%00`),
      get('get:bad-base64', `connect=v1&encoding=${encoding}&base64=1&message=!!!`),
      get('get:unknown-encoding', `connect=v1&encoding=xml&message=%7B%7D`),
      get('get:unknown-compression', `connect=v1&encoding=${encoding}&compression=bogus&message=%7B%7D`),
      get('get:wrong-version', `connect=v2&encoding=${encoding}&message=%7B%7D`),
      get('get:huge-query', `connect=v1&encoding=${encoding}&message=${'A'.repeat(60_000)}`),
    );
  }
  return inputs;
}
