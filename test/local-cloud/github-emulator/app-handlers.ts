// Handlers for the routes an app calls with its JWT: the app itself, its installations, their
// access tokens, and its webhook deliveries (plus revoking a token, which uses the token).
import { bodyObject, HttpError, linkHeader, paging, requireApp, requireInstallation } from './http';
import type { Handler, HandlerContext, Reply } from './http';
import type { RouteName } from './routes';
import {
  isoSeconds,
  repositoryId,
  scopeKey,
  type EmulatedDelivery,
  type EmulatedInstallation,
  type Permissions,
} from './state';

const numericIfPossible = (id: string): number | string => (/^\d+$/.test(id) ? Number(id) : id);

function installationJson(inst: EmulatedInstallation, ctx: HandlerContext): Record<string, unknown> {
  const accountId = repositoryId(inst.account);
  return {
    id: inst.id,
    account: { login: inst.account, id: accountId, type: inst.accountType },
    repository_selection: inst.repositories ? 'selected' : 'all',
    access_tokens_url: `${ctx.apiUrl}/app/installations/${inst.id}/access_tokens`,
    repositories_url: `${ctx.apiUrl}/installation/repositories`,
    html_url: `${ctx.webUrl}/organizations/${inst.account}/settings/installations/${inst.id}`,
    app_id: numericIfPossible(inst.appId),
    app_slug: `emulated-app-${inst.appId}`,
    target_id: accountId,
    target_type: inst.accountType,
    permissions: inst.permissions,
    events: ['workflow_job'],
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    single_file_name: null,
    suspended_by: null,
    suspended_at: null,
  };
}

const LEVELS = { read: 1, write: 2 } as const;

/** Whether `requested` asks for nothing beyond `granted`, as GitHub requires when narrowing. */
function isSubset(requested: Record<string, unknown>, granted: Permissions): requested is Permissions {
  return Object.entries(requested).every(
    ([name, level]) =>
      (level === 'read' || level === 'write') &&
      granted[name] !== undefined &&
      LEVELS[granted[name]] >= LEVELS[level],
  );
}

const createInstallationToken: Handler = (ctx) => {
  const app = requireApp(ctx);
  const inst = ctx.state.installations.get(Number(ctx.params.installation_id));
  // Another app's installation is indistinguishable from a missing one, as on GitHub.
  if (!inst || inst.appId !== app.id) throw new HttpError(404, 'Not Found');
  const body = bodyObject(ctx);
  if (body.repository_ids !== undefined) {
    // Say so loudly rather than silently hand out an unnarrowed token.
    throw new HttpError(422, 'GitHubEmulator does not implement repository_ids; narrow with repositories');
  }
  let repositories: string[] | undefined;
  if (body.repositories !== undefined) {
    const names = body.repositories;
    const valid = Array.isArray(names) && names.every((n): n is string => typeof n === 'string');
    const full = valid ? names.map((n) => scopeKey(`${inst.account}/${n}`)) : [];
    if (!valid || !full.every((r) => ctx.state.installationCoversRepo(inst, r))) {
      throw new HttpError(
        422,
        'There is at least one repository that does not exist or is not accessible to the parent installation.',
      );
    }
    repositories = full;
  }
  let permissions: Permissions | undefined;
  if (body.permissions !== undefined) {
    const requested = body.permissions;
    if (
      typeof requested !== 'object' ||
      requested === null ||
      !isSubset(requested as Record<string, unknown>, inst.permissions)
    ) {
      throw new HttpError(422, 'The permissions requested are not granted to this installation.');
    }
    permissions = requested as Permissions;
  }
  const issued = ctx.state.issueToken(inst, ctx.nowMs + ctx.tokenTtlSeconds * 1000, {
    repositories,
    permissions,
  });
  const selected = issued.repositories;
  return {
    status: 201,
    body: {
      token: issued.token,
      expires_at: isoSeconds(issued.expiresAtMs),
      permissions: issued.permissions,
      repository_selection: selected ? 'selected' : 'all',
      ...(selected
        ? {
            repositories: selected.map((full) => ({
              id: repositoryId(full),
              name: full.split('/')[1],
              full_name: full,
            })),
          }
        : {}),
    },
  };
};

const revokeInstallationToken: Handler = (ctx) => {
  requireInstallation(ctx).token.revoked = true;
  return { status: 204 };
};

const getApp: Handler = (ctx) => {
  const app = requireApp(ctx);
  const count = [...ctx.state.installations.values()].filter((i) => i.appId === app.id).length;
  return {
    status: 200,
    body: {
      id: numericIfPossible(app.id),
      slug: `emulated-app-${app.id}`,
      client_id: app.clientId,
      name: `Emulated app ${app.id}`,
      events: ['workflow_job'],
      installations_count: count,
    },
  };
};

const getRepoInstallation: Handler = (ctx) => {
  const inst = ctx.state.findInstallation(requireApp(ctx).id, ctx.params.owner, ctx.params.repo);
  if (!inst) throw new HttpError(404, 'Not Found');
  return { status: 200, body: installationJson(inst, ctx) };
};

const getOrgInstallation: Handler = (ctx) => {
  const inst = ctx.state.findInstallation(requireApp(ctx).id, ctx.params.org);
  if (!inst || inst.accountType !== 'Organization') throw new HttpError(404, 'Not Found');
  return { status: 200, body: installationJson(inst, ctx) };
};

function deliveryStatusText(code: number): string {
  if (code === 0) return 'failed to connect';
  return code >= 200 && code < 300 ? 'OK' : `Invalid HTTP Response: ${code}`;
}

/** A delivery as `GET /app/hook/deliveries` lists it. */
export function deliveryJson(d: EmulatedDelivery): Record<string, unknown> {
  return {
    id: d.id,
    guid: d.guid,
    delivered_at: d.deliveredAt,
    redelivery: d.redelivery,
    duration: d.duration,
    status: deliveryStatusText(d.statusCode),
    status_code: d.statusCode,
    event: d.event,
    action: d.action,
    installation_id: d.installationId,
    repository_id: d.repositoryId,
    throttled_at: null,
  };
}

// GitHub pages deliveries with an opaque cursor from the `Link` header; ours names the first id of
// the next page, newest first.
const listDeliveries: Handler = (ctx) => {
  const app = requireApp(ctx);
  const { perPage } = paging(ctx.query);
  const status = ctx.query.get('status');
  if (status !== null && status !== 'success' && status !== 'failure') {
    throw new HttpError(422, `Invalid value for status: ${status}. Expected success or failure.`);
  }
  const cursor = ctx.query.get('cursor');
  const cursorMatch = cursor === null ? null : /^v1_(\d+)$/.exec(cursor);
  if (cursor !== null && !cursorMatch) throw new HttpError(400, 'Bad Request');
  const inRange = (d: EmulatedDelivery) =>
    status === null ||
    (status === 'success'
      ? d.statusCode >= 200 && d.statusCode < 400
      : d.statusCode >= 400 && d.statusCode < 600);
  const all = ctx.state.deliveries
    .filter((d) => d.appId === app.id && inRange(d))
    .sort((a, b) => b.id - a.id);
  const start = cursorMatch ? all.findIndex((d) => d.id <= Number(cursorMatch[1])) : 0;
  const page = start < 0 ? [] : all.slice(start, start + perPage);
  const next = start < 0 ? undefined : all[start + perPage];
  const statusParam = status === null ? '' : `&status=${status}`;
  return {
    status: 200,
    body: page.map(deliveryJson),
    headers: linkHeader({
      next:
        next && `${ctx.apiUrl}/app/hook/deliveries?per_page=${perPage}&cursor=v1_${next.id}${statusParam}`,
    }),
  };
};

const redeliver: Handler = (ctx) => {
  const app = requireApp(ctx);
  const delivery = ctx.state.deliveries.find(
    (d) => d.id === Number(ctx.params.delivery_id) && d.appId === app.id,
  );
  if (!delivery) throw new HttpError(404, 'Not Found');
  const ageMs = ctx.nowMs - Date.parse(delivery.deliveredAt);
  if (ageMs > ctx.redeliveryWindowDays * 24 * 3600 * 1000) {
    // GitHub keeps deliveries for 3 days (7 on GHES); older ones cannot be redelivered.
    throw new HttpError(422, `Deliveries older than ${ctx.redeliveryWindowDays} days cannot be redelivered.`);
  }
  ctx.scheduleRedelivery(delivery);
  return { status: 202, body: {} } satisfies Reply;
};

/** Handlers of the app-level routes. */
export const APP_HANDLERS: Partial<Record<RouteName, Handler>> = {
  getApp,
  createInstallationToken,
  revokeInstallationToken,
  getRepoInstallation,
  getOrgInstallation,
  listDeliveries,
  redeliver,
};
