// The contract between the server core and the route handlers: what a handler is given, what it
// returns, and how it fails. Handlers never touch `http` objects, so they stay plain functions.
import type { JobScheduler } from './jobs';
import type {
  EmulatedApp,
  EmulatedDelivery,
  EmulatedInstallation,
  EmulatorState,
  IssuedToken,
} from './state';

/** A GitHub error answer: thrown by handlers, turned into `{ message, documentation_url }`. */
export class HttpError extends Error {
  /**
   * @param status HTTP status.
   * @param message GitHub's `message`.
   * @param extra response headers to send with the error.
   */
  constructor(
    readonly status: number,
    message: string,
    readonly extra: { readonly headers?: Readonly<Record<string, string>> } = {},
  ) {
    super(message);
  }
}

/** A handler's answer. `body` undefined sends no body (204). */
export interface Reply {
  /** HTTP status. */
  readonly status: number;
  /** JSON body. */
  readonly body?: unknown;
  /** Extra response headers. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Who made the request, once authenticated. */
export type Caller =
  | { readonly kind: 'app'; readonly app: EmulatedApp }
  | {
      readonly kind: 'installation';
      readonly installation: EmulatedInstallation;
      readonly token: IssuedToken;
    };

/** What a route handler is given. */
export interface HandlerContext {
  /** Decoded path parameters. */
  readonly params: Readonly<Record<string, string>>;
  /** Query string. */
  readonly query: URLSearchParams;
  /** Parsed JSON body, `undefined` when there was none. */
  readonly body: unknown;
  /** The authenticated caller. */
  readonly caller: Caller;
  /** The emulated GitHub's data. */
  readonly state: EmulatorState;
  /** Server clock, epoch ms. */
  readonly nowMs: number;
  /** API root, e.g. `http://127.0.0.1:1234/api/v3`, for `url` fields and `Link` headers. */
  readonly apiUrl: string;
  /** Web root (`http://127.0.0.1:1234`), for `html_url` fields. */
  readonly webUrl: string;
  /** Lifetime of new installation tokens. */
  readonly tokenTtlSeconds: number;
  /** How old a delivery may be and still be redelivered: 3 days on github.com, 7 on GHES. */
  readonly redeliveryWindowDays: number;
  /** Starts an asynchronous redelivery attempt (GitHub answers 202 before it delivers). */
  readonly scheduleRedelivery: (delivery: EmulatedDelivery) => void;
  /** The job scheduler, for routes that create jobs (re-runs). */
  readonly scheduler: JobScheduler;
}

/** A route handler. */
export type Handler = (ctx: HandlerContext) => Reply | Promise<Reply>;

/** The caller as an app, or a 401 (a route table mistake if it ever fires). */
export function requireApp(ctx: HandlerContext): EmulatedApp {
  if (ctx.caller.kind !== 'app') throw new HttpError(401, 'A JSON web token could not be decoded');
  return ctx.caller.app;
}

/** The caller as an installation token, or a 401. */
export function requireInstallation(ctx: HandlerContext): Extract<Caller, { kind: 'installation' }> {
  if (ctx.caller.kind !== 'installation') throw new HttpError(401, 'Bad credentials');
  return ctx.caller;
}

/** The request body as a JSON object (`{}` when absent), or GitHub's 400 for anything else. */
export function bodyObject(ctx: HandlerContext): Record<string, unknown> {
  if (ctx.body === undefined) return {};
  if (typeof ctx.body !== 'object' || ctx.body === null || Array.isArray(ctx.body)) {
    throw new HttpError(400, 'Problems parsing JSON');
  }
  return ctx.body as Record<string, unknown>;
}

/**
 * Reads `per_page` (default 30, capped at 100 as GitHub documents) and `page` (default 1).
 * Values that are not positive integers fall back to the defaults.
 */
export function paging(query: URLSearchParams): { perPage: number; page: number } {
  const perPage = Number.parseInt(query.get('per_page') ?? '', 10);
  const page = Number.parseInt(query.get('page') ?? '', 10);
  return {
    perPage: Number.isFinite(perPage) && perPage > 0 ? Math.min(perPage, 100) : 30,
    page: Number.isFinite(page) && page > 0 ? page : 1,
  };
}

/** A `Link` header from `rel` → URL pairs, GitHub's pagination format. */
export function linkHeader(links: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const parts = Object.entries(links)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([rel, url]) => `<${url}>; rel="${rel}"`);
  return parts.length > 0 ? { link: parts.join(', ') } : {};
}
