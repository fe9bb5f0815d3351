/**
 * What the control plane sees of the outside world, as plain data: EC2 instances of this deployment
 * and runner registrations at GitHub. The adapters build these; the decisions read them.
 */

/** An EC2 instance state name. */
export type InstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

/** An owner-tagged instance, with the tags the launch put on it. */
export interface InstanceView {
  readonly instanceId: string;
  readonly state: InstanceState;
  /** Epoch ms. */
  readonly launchTime: number;
  /** The `job-key` tag (`host/jobId/runAttempt`). */
  readonly jobKey?: string;
  readonly runnerName?: string;
  readonly repository?: string;
  /** The `installation-id` tag: the installation that registered its runner. */
  readonly installationId?: number;
  readonly config?: string;
  /** The `expires-at` tag, epoch ms. */
  readonly expiresAt?: number;
  readonly instanceType?: string;
  readonly availabilityZone?: string;
  readonly subnetId?: string;
  /** How it was bought (EC2's `instanceLifecycle`: `spot`, or absent for on-demand). */
  readonly market?: 'spot' | 'on-demand';
  /** EC2's state reason code (`Client.InternalError` for an instance ended during its launch, say). */
  readonly stateReason?: string;
}

/** Whether an instance can still run (or is about to run) a runner. */
export function isAlive(instance: Pick<InstanceView, 'state'>): boolean {
  return instance.state === 'pending' || instance.state === 'running';
}

/** A runner registration at GitHub. */
export interface RegistrationView {
  readonly id: number;
  readonly name: string;
  readonly status: 'online' | 'offline';
  readonly busy: boolean;
}

/** A workflow job as GitHub reports it (`GET /repos/{owner}/{repo}/actions/jobs/{job_id}`). */
export interface GitHubJobView {
  readonly status: 'queued' | 'in_progress' | 'completed' | 'waiting' | 'requested' | 'pending';
  readonly conclusion: string | null;
  readonly runnerName: string | null;
}
