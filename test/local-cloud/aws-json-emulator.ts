// A local endpoint for the AWS JSON 1.1 services the runners read secrets from: SSM Parameter
// Store and Secrets Manager. One server serves both, dispatching on X-Amz-Target, so the real
// SSMClient and SecretsManagerClient can both point at `endpoint`.
import { randomUUID } from 'crypto';
import { IncomingMessage, ServerResponse } from 'http';
import { delay, FaultPlan, LocalServer, startLocalServer } from './emulator-server';
import { AwsJsonError, defaultJsonErrorStatus, JsonObject, parseJsonBody } from './aws-json-protocol';
import { ParameterStore, ParameterType, StoredParameter } from './aws-json-ssm';
import { SecretStore } from './aws-json-secrets';

export type { ParameterType, StoredParameter } from './aws-json-ssm';

/** Options for {@link AwsJsonEmulator.start}. */
export interface AwsJsonEmulatorOptions {
  /** The region in ARNs. @default 'us-east-1' */
  readonly region?: string;
  /** Seed of the throttling PRNG. @default 1 */
  readonly seed?: number;
}

/** One request the emulator received, in arrival order. */
export interface AwsJsonCall {
  /** The `X-Amz-Target` header, e.g. `AmazonSSM.GetParameter` (empty when absent). */
  readonly target: string;
  /** `Date.now()` when the request arrived. */
  readonly at: number;
  /** The decoded JSON body (`{}` when it did not parse). */
  readonly input: JsonObject;
}

type Operation = (input: JsonObject) => JsonObject;

/**
 * SSM (GetParameter, GetParameters, GetParametersByPath, PutParameter, DeleteParameter,
 * DeleteParameters) and Secrets Manager (GetSecretValue) behind one loopback HTTP server.
 *
 * @example
 * const aws = await AwsJsonEmulator.start();
 * const ssm = new SSMClient({ region: 'us-east-1', endpoint: aws.endpoint, credentials });
 */
export class AwsJsonEmulator {
  /** Starts an emulator on 127.0.0.1 on a free port. */
  static async start(options: AwsJsonEmulatorOptions = {}): Promise<AwsJsonEmulator> {
    const region = options.region ?? 'us-east-1';
    const accountId = '123456789012';
    const ssm = new ParameterStore(region, accountId);
    const secrets = new SecretStore(region, accountId);
    const operations: Record<string, Operation> = {
      'AmazonSSM.GetParameter': (i) => ssm.getParameter(i),
      'AmazonSSM.GetParameters': (i) => ssm.getParameters(i),
      'AmazonSSM.GetParametersByPath': (i) => ssm.getParametersByPath(i),
      'AmazonSSM.PutParameter': (i) => ssm.putParameter(i),
      'AmazonSSM.DeleteParameter': (i) => ssm.deleteParameter(i),
      'AmazonSSM.DeleteParameters': (i) => ssm.deleteParameters(i),
      'secretsmanager.GetSecretValue': (i) => secrets.getSecretValue(i),
    };
    // Both services name their throttling error ThrottlingException (HTTP 400, "Rate exceeded").
    const faults = new FaultPlan({ code: 'ThrottlingException', status: 400 }, options.seed ?? 1);
    const calls: AwsJsonCall[] = [];
    const server = await startLocalServer((req, body, res) =>
      handle(operations, faults, calls, req, body, res),
    );
    return new AwsJsonEmulator(server, ssm, secrets, faults, calls);
  }

  /** `http://127.0.0.1:PORT`: pass as the client's `endpoint` (or `AWS_ENDPOINT_URL_SSM` / `_SECRETS_MANAGER`). */
  readonly endpoint: string;

  private constructor(
    private readonly server: LocalServer,
    private readonly ssm: ParameterStore,
    private readonly secrets: SecretStore,
    private readonly faults: FaultPlan,
    private readonly callLog: AwsJsonCall[],
  ) {
    this.endpoint = server.endpoint;
  }

  /** Every request received since start (or the last {@link resetCalls}), in order. */
  get calls(): readonly AwsJsonCall[] {
    return this.callLog;
  }

  /** How many requests had this X-Amz-Target, e.g. `callCount('AmazonSSM.GetParameter')`. */
  callCount(target: string): number {
    return this.callLog.filter((c) => c.target === target).length;
  }

  /** Forgets the recorded calls (state and faults are kept). */
  resetCalls(): void {
    this.callLog.length = 0;
  }

  /** Stops the server and closes the SDK's keep-alive sockets. */
  stop(): Promise<void> {
    return this.server.close();
  }

  /** Creates or overwrites an SSM parameter (a new version each time). @default type 'String' */
  putParameter(name: string, value: string, type: ParameterType = 'String'): void {
    this.ssm.put(name, value, { type, overwrite: true });
  }

  /** The current version of an SSM parameter, e.g. to assert what code under test wrote. */
  parameter(name: string): StoredParameter | undefined {
    return this.ssm.current(name);
  }

  /** Creates a secret, or adds a version that becomes AWSCURRENT. Returns the secret's ARN. */
  putSecret(nameOrArn: string, secretString: string): string {
    return this.secrets.put(nameOrArn, secretString);
  }

  /**
   * Makes the next `count` calls with X-Amz-Target `target` (or `'*'` for any) fail with the error
   * `type`, e.g. `ThrottlingException`. Status defaults to 500 for the services' internal errors,
   * 503 for unavailability, else 400.
   */
  failNext(target: string, count: number, type: string, status?: number): void {
    this.faults.failNext(target, count, { code: type, status: status ?? defaultJsonErrorStatus(type) });
  }

  /** Answers `fraction` of all calls with `ThrottlingException`, chosen by a seeded PRNG. */
  setThrottleRate(fraction: number, seed?: number): void {
    this.faults.setThrottleRate(fraction, seed);
  }

  /** Delays every answer by `ms` milliseconds. */
  setLatencyMs(ms: number): void {
    this.faults.latencyMs = ms;
  }
}

async function handle(
  operations: Record<string, Operation>,
  faults: FaultPlan,
  calls: AwsJsonCall[],
  req: IncomingMessage,
  body: string,
  res: ServerResponse,
): Promise<void> {
  const target = String(req.headers['x-amz-target'] ?? '');
  const requestId = randomUUID();
  let input: JsonObject = {};
  let parseError: AwsJsonError | undefined;
  try {
    input = parseJsonBody(body);
  } catch (err) {
    if (!(err instanceof AwsJsonError)) throw err;
    parseError = err;
  }
  calls.push({ target, at: Date.now(), input });
  await delay(faults.latencyMs);
  const send = (status: number, payload: JsonObject) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId });
    res.end(JSON.stringify(payload));
  };
  try {
    const operation = operations[target];
    if (!operation)
      throw new AwsJsonError(
        'UnknownOperationException',
        `Unknown operation ${target || '(no X-Amz-Target)'}`,
      );
    const fault = faults.next(target);
    if (fault)
      throw new AwsJsonError(
        fault.code,
        fault.code === 'ThrottlingException' ? 'Rate exceeded' : `Injected ${fault.code}`,
        fault.status,
      );
    if (parseError) throw parseError;
    send(200, operation(input));
  } catch (err) {
    if (!(err instanceof AwsJsonError)) throw err;
    // Secrets Manager spells the member `Message`; SSM spells it `message`. The SDK reads both.
    const messageKey = target.startsWith('secretsmanager.') ? 'Message' : 'message';
    send(err.status, { __type: err.type, [messageKey]: err.message });
  }
}
