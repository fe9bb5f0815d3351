// Verification of GitHub App JWTs, as GitHub documents it: RS256, `iss` = the app's id (or client
// id), `iat` not in the future, `exp` in the future but at most ten minutes ahead. The rejection
// messages are GitHub's own: @octokit/auth-app matches on the `iat`/`exp` ones to detect clock
// skew and retry with the server's `Date`, so they must be verbatim for that path to be testable.
import { verify, type KeyObject } from 'node:crypto';

/** GitHub's message for a JWT it cannot parse or whose signature does not verify. */
export const JWT_UNDECODABLE = 'A JSON web token could not be decoded';
/** GitHub's message when `iat` is missing, not an integer, or in the future. */
export const JWT_BAD_IAT =
  "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
/** GitHub's message when `exp` is missing, not an integer, or already past. */
export const JWT_EXPIRED =
  "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
/** GitHub's message when `exp` is more than ten minutes after the server's clock. */
export const JWT_EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future";

/** GitHub's documented maximum JWT lifetime, counted from the server's clock. */
export const MAX_JWT_LIFETIME_SECONDS = 10 * 60;

/** What a verified JWT tells the emulator. */
export interface VerifiedJwt {
  /** The app id the `iss` claim resolved to. */
  readonly appId: string;
  /** Whether the JWT carried a `jti` claim (two JWTs minted in one second are otherwise identical). */
  readonly hasJti: boolean;
}

/** Result of {@link verifyAppJwt}: the verified app, or the message GitHub would answer 401 with. */
export type JwtVerdict =
  ({ readonly ok: true } & VerifiedJwt) | { readonly ok: false; readonly message: string };

/** Resolves an `iss` claim (app id or client id) to the app's id and public key. */
export type IssuerLookup = (
  iss: string,
) => { readonly appId: string; readonly publicKeys: readonly KeyObject[] } | undefined;

function decodeJson(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const isInteger = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/**
 * Verifies a GitHub App JWT against the registered apps at the server time `nowSeconds`.
 * The signature is checked before the claims, so a forged token never learns which claim is off.
 */
export function verifyAppJwt(jwt: string, lookup: IssuerLookup, nowSeconds: number): JwtVerdict {
  const undecodable = { ok: false, message: JWT_UNDECODABLE } as const;
  const parts = jwt.split('.');
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) return undecodable;
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = decodeJson(headerPart);
  const claims = decodeJson(payloadPart);
  // Only RS256: accepting `none` or HS256 is the classic JWT verification hole.
  if (!header || header.alg !== 'RS256' || !claims) return undecodable;
  if (typeof claims.iss !== 'string' && typeof claims.iss !== 'number') return undecodable;
  const app = lookup(String(claims.iss));
  if (!app) return undecodable;
  const signed = Buffer.from(`${headerPart}.${payloadPart}`);
  const signatureOk = app.publicKeys.some((key) =>
    verify('RSA-SHA256', signed, key, Buffer.from(signaturePart, 'base64url')),
  );
  if (!signatureOk) return undecodable;

  if (!isInteger(claims.iat) || claims.iat > nowSeconds) return { ok: false, message: JWT_BAD_IAT };
  if (!isInteger(claims.exp) || claims.exp <= nowSeconds) return { ok: false, message: JWT_EXPIRED };
  // GitHub bounds `exp` against its own clock, not against `iat`: its docs' own example backdates
  // `iat` by 60 s and sets `exp` 10 min ahead, a lifetime of 11 min, and that is accepted.
  if (claims.exp > nowSeconds + MAX_JWT_LIFETIME_SECONDS) return { ok: false, message: JWT_EXP_TOO_FAR };
  return { ok: true, appId: app.appId, hasJti: claims.jti !== undefined };
}
