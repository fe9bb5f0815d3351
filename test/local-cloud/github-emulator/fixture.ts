// Shared setup of the emulator's own tests: one emulator per test file with one app and two
// installations, Octokit clients built the way our adapter builds them, and small helpers.
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { sign } from 'node:crypto';
import { GitHubEmulator } from '../github-emulator';

/** The app every fixture registers. */
export const APP_ID = 4242;
/** Installation on `octo-org`: all repositories, default permissions. */
export const ORG_INSTALLATION = 101;
/** Installation on `narrow-org`: only `narrow-org/app`, no organization runner permission. */
export const NARROW_INSTALLATION = 102;

/** An Octokit logger that keeps test output clean. */
export const quietLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** The parts of Octokit's RequestError the tests look at. */
export interface HttpFailure {
  /** `HttpError` for Octokit's RequestError. */
  name: string;
  /** HTTP status. */
  status: number;
  /** Octokit's message. */
  message: string;
  /** The response, with GitHub's JSON error body as `data`. */
  response: { headers: Record<string, string | undefined>; data: Record<string, unknown> };
}

/** The error a request fails with; fails the test if it succeeds. */
export async function failure(promise: Promise<unknown>): Promise<HttpFailure> {
  try {
    await promise;
  } catch (err) {
    return err as HttpFailure;
  }
  throw new Error('expected the request to fail');
}

/** base64url of a JSON value, as in a JWT segment. */
export const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs a JWT by hand, to send shapes Octokit would never produce. */
export function signJwt(privateKeyPem: string, claims: Record<string, unknown>, alg = 'RS256'): string {
  const input = `${b64url({ alg, typ: 'JWT' })}.${b64url(claims)}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), privateKeyPem).toString('base64url')}`;
}

/** The real clock in epoch seconds. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The emulator and the clients of one test file. */
export interface GitHubFixture {
  /** The running emulator. */
  emu: GitHubEmulator;
  /** PKCS#1 PEM of the app's key. */
  privateKey: string;
  /** The app's client id. */
  clientId: string;
  /** Octokit with `createAppAuth`, as an installation when `installationId` is given, else as the app. */
  appOctokit(installationId?: number, opts?: { privateKey?: string; log?: typeof quietLog }): Octokit;
  /** Octokit with a bare installation token (no refresh, no 401 retry). */
  tokenOctokit(token: string): Octokit;
}

/**
 * Starts an emulator before the file's tests, stops it after, and resets the call log and faults
 * before each test. Fields are filled in by `beforeAll`, so read them inside tests only.
 */
export function useGitHubFixture(): GitHubFixture {
  const fx = {
    appOctokit(installationId, opts = {}) {
      return new Octokit({
        baseUrl: fx.emu.apiUrl,
        authStrategy: createAppAuth,
        auth: {
          appId: APP_ID,
          privateKey: opts.privateKey ?? fx.privateKey,
          ...(installationId === undefined ? {} : { installationId }),
        },
        request: { retries: 0 },
        log: opts.log ?? quietLog,
      });
    },
    tokenOctokit(token) {
      return new Octokit({ baseUrl: fx.emu.apiUrl, auth: token, log: quietLog });
    },
  } as GitHubFixture;

  beforeAll(async () => {
    fx.emu = await GitHubEmulator.start();
    ({ privateKeyPem: fx.privateKey, clientId: fx.clientId } = fx.emu.registerApp(APP_ID));
    fx.emu.addInstallation({ id: ORG_INSTALLATION, appId: APP_ID, account: 'octo-org' });
    fx.emu.addInstallation({
      id: NARROW_INSTALLATION,
      appId: APP_ID,
      account: 'narrow-org',
      repositories: ['narrow-org/app'],
      permissions: { administration: 'write', metadata: 'read' },
    });
  });
  afterAll(() => fx.emu.stop());
  beforeEach(() => {
    fx.emu.resetCalls();
    fx.emu.clearFaults();
  });
  return fx;
}
