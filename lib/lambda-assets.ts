/**
 * The bundled Lambda handlers: where their code is on disk and how a handler function is built.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LambdaNetwork } from './lambda-network';
import { acknowledge } from './acknowledge';

/** The handlers `npm run build` bundles from `lambda/<name>/index.ts`. */
export type HandlerName = 'webhook' | 'retry' | 'reconcile' | 'interrupt' | 'teardown';

/**
 * The directory holding the bundle `index.js` of a handler. From the compiled library
 * (`dist/lib`) the bundles are in `dist/assets`; from the TypeScript sources (`lib/`, under
 * ts-node or Jest) they are in `../dist/assets`.
 */
export function lambdaAsset(name: HandlerName, baseDir: string = __dirname): string {
  const candidates = [
    path.join(baseDir, '..', 'assets', name),
    path.join(baseDir, '..', 'dist', 'assets', name),
  ];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'index.js')));
  if (found === undefined) {
    throw new Error(
      `The bundled Lambda handler "${name}" is missing (looked for index.js in ${candidates.join(' and ')}). ` +
        `Run \`npm run build\` to bundle lambda/${name}/index.ts into dist/assets/${name}/index.js.`,
    );
  }
  return found;
}

/** How to build one handler function. */
export interface HandlerFunctionProps {
  /** Which bundled handler runs. */
  readonly handler: HandlerName;
  /** What the function does, shown in the console. */
  readonly description: string;
  /** Environment of the function (see `ENV` in lambda/core/settings). */
  readonly environment: Record<string, string>;
  /** Longest one invocation may run. */
  readonly timeout: Duration;
  /** Memory of the function, in MiB. */
  readonly memorySize: number;
  /** How long the function's logs are kept. */
  readonly logRetention: logs.RetentionDays;
  /**
   * Layers, such as the extra CA certificates.
   * @default - none
   */
  readonly layers?: lambda.ILayerVersion[];
  /**
   * A customer-managed key for the function's log group (the key policy must let CloudWatch Logs use it).
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;
}

/**
 * A handler function: Node.js 22 on arm64 (the bundles target node22), its own log group with a
 * retention, and its own role that can only write to that log group (no managed policy).
 */
export function handlerFunction(scope: Construct, id: string, props: HandlerFunctionProps): lambda.Function {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention,
    encryptionKey: props.logEncryptionKey,
  });
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `Runs the ${props.handler} handler of cdk-ephemeral-runners`,
  });
  logGroup.grantWrite(role);
  // In the VPC, behind the proxy, when the EphemeralRunners above asks for it: every handler alike.
  const network = LambdaNetwork.find(scope);
  const fn = new lambda.Function(scope, id, {
    ...network?.functionPlacement(role),
    description: props.description,
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    code: lambda.Code.fromAsset(lambdaAsset(props.handler)),
    handler: 'index.handler',
    timeout: props.timeout,
    memorySize: props.memorySize,
    role,
    logGroup,
    layers: props.layers,
    environment: {
      POWERTOOLS_SERVICE_NAME: `ephemeral-runners-${props.handler}`,
      ...network?.environment,
      ...props.environment,
    },
  });
  acknowledge(fn, {
    id: 'AwsSolutions-L1',
    reason:
      'Pinned to Node.js 22 on purpose: the handlers are bundled for node22 and tested on it; a newer runtime is adopted by a release, not silently.',
  });
  return fn;
}
