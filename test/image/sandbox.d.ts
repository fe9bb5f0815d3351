// Types of sandbox.js (plain CommonJS so that the benchmark can load it with node alone).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** The stand-in cloud on 127.0.0.1: IMDSv2, DynamoDB (dynalite, signatures checked), S3 and a file server. */
export interface Cloud {
  readonly region: string;
  readonly account: string;
  /** Instance id the IMDS stand-in reports (each run sets a fresh one). */
  instanceId: string;
  readonly imdsUrl: string;
  readonly dynamodbEndpoint: string;
  readonly s3Endpoint: string;
  readonly webUrl: string;
  /** Every IMDS request: method, path and whether it carried a session token. */
  readonly imdsRequests: { method: string; path: string; withToken: boolean }[];
  /** Requests the DynamoDB and S3 stand-ins refused, with why (a bad SigV4 signature). */
  readonly rejected: string[];
  /** Files the web and S3 stand-ins serve, by path. */
  readonly files: Map<string, Buffer>;
  readonly ddb: DynamoDBClient;
  instanceArn(): string;
  createTable(tableName: string): Promise<void>;
  putHandoff(tableName: string, jitConfig: string): Promise<void>;
  getHandoff(tableName: string): Promise<Record<string, unknown> | undefined>;
  close(): Promise<void>;
}

/** How one sandboxed boot is set up. */
export interface RunOptions {
  /** JIT config to store for the instance; none when undefined. */
  jitConfig?: string;
  /** Store the JIT config this long after the script starts. */
  handoffDelayMs?: number;
  jitTimeoutSeconds?: number;
  jitPollSeconds?: number;
  /** Exit status of the stand-in runner. */
  runnerExitCode?: number;
  /** Have the stand-in runner leave a process behind that holds its output open this long. */
  lingerSeconds?: number;
  /** Runner already in the image (default) or installed at boot from a tarball. */
  preinstalled?: boolean;
  /** Serve the tarball from the S3 stand-in rather than the web one. */
  tarballFromS3?: boolean;
  /** SHA-256 to expect of the tarball (default: the right one). */
  tarballSha256?: string;
  /** Whether user `runner` exists (default true). */
  userExists?: boolean;
  /** PEM certificates the user data would have written. */
  caCertificates?: string[];
  /** Put a stub CloudWatch agent in place. */
  cloudWatchAgent?: boolean;
  /** Extra or overriding settings. */
  settings?: Record<string, string>;
  /** Write no settings file at all. */
  omitSettingsFile?: boolean;
  /** Boot script to run (default: image-builder/boot/runner-boot.sh). */
  script?: string;
}

/** What one sandboxed boot did. */
export interface RunResult {
  dir: string;
  exitCode: number | null;
  /** stdout and stderr, interleaved. */
  output: string;
  /** The boot log file. */
  log: string;
  /** Stubbed commands, in call order: "name args". */
  calls: string[];
  /** What the stand-in runner recorded, if it ran. */
  runner?: Record<string, string>;
  /** Timing marks by name. */
  marks: Record<string, { epochMs: number; elapsedMs: number }>;
  durationMs: number;
  cloudWatchConfig: string;
  caTrustDir: string;
  runnerDir: string;
  /** The handoff item after the run (undefined once deleted). */
  handoffItem?: Record<string, unknown>;
  cleanup(): void;
}

export function startCloud(): Promise<Cloud>;
export function runBoot(cloud: Cloud, options?: RunOptions): Promise<RunResult>;
export const BOOT_SCRIPT: string;
export const CREDENTIALS: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
