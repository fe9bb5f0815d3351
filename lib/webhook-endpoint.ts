/**
 * Where GitHub delivers webhooks: the public HTTP API (the default; optionally only from given
 * source ranges) or a private REST API behind an `execute-api` VPC endpoint.
 */
import { Token } from 'aws-cdk-lib';
import type { PrivateWebhookOptions } from './webhook-private-api';

/** Options of the public endpoint. */
export interface PublicWebhookOptions {
  /**
   * Source ranges (IPv4 or IPv6 CIDR) deliveries may come from: your GHES's egress addresses or, for
   * github.com, the `hooks` ranges of `GET https://api.github.com/meta`. Checked by the webhook before the
   * signature (a delivery from elsewhere is answered 403); the signature check stays. HTTP APIs have no
   * resource policy, hence the check in the handler. github.com changes its ranges from time to time:
   * update the list when `/meta` does.
   * @default - any source (the signature is the only check)
   */
  readonly allowedSourceCidrs?: string[];
}

/** The webhook endpoint: one of the static factories. */
export abstract class WebhookEndpoint {
  /** The public HTTP API: nothing billed while idle ($1 per million requests). */
  public static publicHttpApi(options: PublicWebhookOptions = {}): WebhookEndpoint {
    return new PublicEndpoint(options);
  }

  /**
   * A private REST API, reachable only through an `execute-api` interface endpoint in the runners' VPC:
   * for a GHES that cannot reach the internet. The API costs nothing while idle ($3.50 per million
   * requests); a created endpoint costs about $7.30 a month per AZ.
   */
  public static privateRestApi(options: PrivateWebhookOptions = {}): WebhookEndpoint {
    return new PrivateEndpoint(options);
  }

  /** `public` or `private`. */
  public abstract readonly kind: 'public' | 'private';
  /** Problems of the options, each naming the prop. */
  public abstract problems(): string[];
}

/** The public endpoint's options (internal). */
export class PublicEndpoint extends WebhookEndpoint {
  public readonly kind = 'public';
  constructor(public readonly options: PublicWebhookOptions) {
    super();
  }
  public problems(): string[] {
    const cidrs = this.options.allowedSourceCidrs;
    if (cidrs === undefined || Token.isUnresolved(cidrs)) return [];
    const problems = cidrs
      .filter((c) => !Token.isUnresolved(c) && !isCidr(c))
      .map(
        (c) =>
          `webhookEndpoint.allowedSourceCidrs: "${c}" is not an IPv4 or IPv6 CIDR range (such as 192.0.2.0/24)`,
      );
    if (cidrs.length === 0)
      problems.push(
        'webhookEndpoint.allowedSourceCidrs is empty: it would refuse every delivery; omit it to allow any source',
      );
    return problems;
  }
}

/** The private endpoint's options (internal). */
export class PrivateEndpoint extends WebhookEndpoint {
  public readonly kind = 'private';
  constructor(public readonly options: PrivateWebhookOptions) {
    super();
  }
  public problems(): string[] {
    return (this.options.clientCidrs ?? [])
      .filter((c) => !Token.isUnresolved(c) && !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(c))
      .map((c) => `webhookEndpoint.clientCidrs: "${c}" is not an IPv4 CIDR range (such as 10.20.0.0/16)`);
  }
}

function isCidr(text: string): boolean {
  const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec(text);
  if (!m) return false;
  const v4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(m[1]);
  return v4
    ? Number(m[2]) <= 32 && m[1].split('.').every((o) => Number(o) <= 255)
    : m[1].includes(':') && Number(m[2]) <= 128;
}
