import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { base64url, exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type KeyLike } from 'jose';

/**
 * A test identity provider: key pairs (RS256, ES256, Ed25519), a JWKS served over a real local
 * HTTP server whose key set can change at runtime (key rotation), tokens minted with jose's
 * SignJWT, and raw forgeries (`alg: none`, HS256 with any secret, a key the JWKS does not
 * hold, garbage) for the negative cases.
 */

export type IssuerAlg = 'RS256' | 'ES256' | 'EdDSA';

interface KeyEntry {
  readonly kid: string;
  readonly alg: IssuerAlg;
  readonly privateKey: KeyLike;
  readonly publicJwk: JWK;
}

export interface MintOptions {
  readonly sub?: string;
  /** Omitted: no roles claim at all. */
  readonly roles?: readonly string[];
  readonly iss?: string;
  readonly aud?: string | string[];
  /** Absolute expiry (seconds since epoch); default now + 10 min. `null` leaves `exp` out. */
  readonly exp?: number | null;
  /** Absolute not-before (seconds since epoch); default none. */
  readonly nbf?: number;
  /** Which key signs: by kid (default: the first key of `alg`, or the first published key). */
  readonly kid?: string;
  readonly alg?: IssuerAlg;
  /** Extra claims (e.g. a nested roles claim). */
  readonly claims?: Record<string, unknown>;
}

export interface TestIssuer {
  /** The `iss` the issuer puts in its tokens. */
  readonly issuer: string;
  readonly audience: string;
  /** Where the JWKS is served (http://127.0.0.1:<port>/.well-known/jwks.json). */
  readonly jwksUrl: string;
  /** How many times the JWKS was fetched (by anyone). */
  readonly fetches: number;
  /** Generates and publishes a new key; returns its kid. */
  addKey(alg: IssuerAlg, kid?: string): Promise<string>;
  /** Stops publishing a key (the private key stays usable, as a leaked or retired key would). */
  removeKey(kid: string): void;
  /** The kids currently published. */
  publishedKids(): string[];
  /** A signed JWT; defaults: iss/aud of this issuer, iat now, exp now + 10 min. */
  mint(opts?: MintOptions): Promise<string>;
  /** The claims `mint` would use (for building forgeries). */
  claims(opts?: MintOptions): Record<string, unknown>;
  /** `alg: none`, no signature. */
  forgeNone(opts?: MintOptions): string;
  /** HS256 signed with `secret`. */
  forgeHs256(secret: string, opts?: MintOptions): Promise<string>;
  /** Signed by a fresh key nobody published, under the header kid given (default: a published one). */
  forgeWrongKey(opts?: MintOptions & { headerKid?: string }): Promise<string>;
  /** Three base64url segments that are not a JWT. */
  garbage(): string;
  stop(): Promise<void>;
}

const now = () => Math.floor(Date.now() / 1000);

async function newKey(alg: IssuerAlg, kid: string): Promise<KeyEntry> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : undefined);
  const jwk = await exportJWK(publicKey);
  return { kid, alg, privateKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

export async function startTestIssuer(opts: { issuer?: string; audience?: string; algs?: IssuerAlg[] } = {}): Promise<TestIssuer> {
  const keys = new Map<string, KeyEntry>();
  const retired = new Map<string, KeyEntry>();
  let fetches = 0;
  const server: Server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ keys: [...keys.values()].map((k) => k.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = opts.issuer ?? 'https://issuer.test.local/';
  const audience = opts.audience ?? 'mcp-backend';
  let counter = 0;

  const add = async (alg: IssuerAlg, kid = `${alg.toLowerCase()}-${++counter}-${randomBytes(3).toString('hex')}`) => {
    keys.set(kid, await newKey(alg, kid));
    return kid;
  };
  for (const alg of opts.algs ?? (['RS256', 'ES256', 'EdDSA'] as const)) await add(alg);

  const signer = (o: MintOptions): KeyEntry => {
    if (o.kid) {
      const k = keys.get(o.kid) ?? retired.get(o.kid);
      if (!k) throw new Error(`no key ${o.kid}`);
      return k;
    }
    const k = [...keys.values()].find((e) => !o.alg || e.alg === o.alg);
    if (!k) throw new Error(`no published ${o.alg ?? ''} key`);
    return k;
  };

  const claims = (o: MintOptions = {}): Record<string, unknown> => {
    const t = now();
    return {
      iss: o.iss ?? issuer,
      aud: o.aud ?? audience,
      sub: o.sub ?? 'user-1',
      iat: t,
      ...(o.exp === null ? {} : { exp: o.exp ?? t + 600 }),
      ...(o.nbf !== undefined ? { nbf: o.nbf } : {}),
      ...(o.roles ? { roles: [...o.roles] } : {}),
      jti: randomBytes(8).toString('hex'),
      ...o.claims,
    };
  };

  return {
    issuer,
    audience,
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get fetches() {
      return fetches;
    },
    addKey: add,
    removeKey(kid) {
      const k = keys.get(kid);
      if (!k) throw new Error(`no published key ${kid}`);
      keys.delete(kid);
      retired.set(kid, k);
    },
    publishedKids: () => [...keys.keys()],
    claims,
    async mint(o = {}) {
      const k = signer(o);
      return new SignJWT(claims(o)).setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'JWT' }).sign(k.privateKey);
    },
    forgeNone(o = {}) {
      return new UnsecuredJWT(claims(o)).encode();
    },
    async forgeHs256(secret, o = {}) {
      return new SignJWT(claims(o)).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
    },
    async forgeWrongKey(o = {}) {
      const published = signer(o);
      const rogue = await newKey(published.alg, o.headerKid ?? published.kid);
      return new SignJWT(claims(o)).setProtectedHeader({ alg: rogue.alg, kid: rogue.kid, typ: 'JWT' }).sign(rogue.privateKey);
    },
    garbage() {
      const seg = () => base64url.encode(randomBytes(24));
      return `${seg()}.${seg()}.${seg()}`;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
