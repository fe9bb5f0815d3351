/**
 * The modes of the standalone template: each combination of what an administrator chooses with
 * Parameters that changes which resources exist (the VPC, the Lambdas in it, the endpoint, the runner
 * configs), and the Conditions that select a mode in the merged template.
 */
import type { Json, ModeCondition } from './template-merge';

/** The stack's choices that change its resources. */
export interface StandaloneMode {
  /** A VPC created by the stack, or an existing one whose runner subnets are public or private. */
  readonly vpc: 'created' | 'existingPublicSubnets' | 'existingPrivateSubnets';
  /** Every Lambda in the VPC's private subnets. Needs an existing VPC. */
  readonly lambdasInVpc: boolean;
  /** The private REST API behind an execute-api endpoint, instead of the public HTTP API. Needs an existing VPC. */
  readonly privateEndpoint: boolean;
  /** The x64 runner config. */
  readonly x64: boolean;
  /** The arm64 runner config. */
  readonly arm64: boolean;
}

/** The Parameters the modes are chosen by. */
export const MODE_PARAMETERS = {
  vpcId: 'VpcId',
  subnetsArePublic: 'SubnetsArePublic',
  lambdasInVpc: 'LambdasInVpc',
  webhookEndpoint: 'WebhookEndpoint',
  x64InstanceTypes: 'X64InstanceTypes',
  arm64InstanceTypes: 'Arm64InstanceTypes',
} as const;

const ref = (name: string): Json => ({ Ref: name });
const isEmptyList = (name: string): Json => ({ 'Fn::Equals': [{ 'Fn::Join': ['', ref(name)] }, ''] });

/** The Conditions of the merged template, and what each is in a mode. */
export const MODE_CONDITIONS: ReadonlyArray<ModeCondition & { readonly of: (m: StandaloneMode) => boolean }> =
  [
    {
      name: 'CreateVpc',
      expression: { 'Fn::Equals': [ref(MODE_PARAMETERS.vpcId), ''] },
      of: (m) => m.vpc === 'created',
    },
    {
      // The created VPC's runner subnets are public.
      name: 'RunnersInPublicSubnets',
      expression: {
        'Fn::Or': [
          { Condition: 'CreateVpc' },
          { 'Fn::Equals': [ref(MODE_PARAMETERS.subnetsArePublic), 'true'] },
        ],
      },
      of: (m) => m.vpc !== 'existingPrivateSubnets',
    },
    {
      name: 'LambdasInVpc',
      expression: { 'Fn::Equals': [ref(MODE_PARAMETERS.lambdasInVpc), 'true'] },
      of: (m) => m.lambdasInVpc,
    },
    {
      name: 'PrivateWebhookEndpoint',
      expression: { 'Fn::Equals': [ref(MODE_PARAMETERS.webhookEndpoint), 'private'] },
      of: (m) => m.privateEndpoint,
    },
    {
      name: 'HasX64Runners',
      expression: { 'Fn::Not': [isEmptyList(MODE_PARAMETERS.x64InstanceTypes)] },
      of: (m) => m.x64,
    },
    {
      name: 'HasArm64Runners',
      expression: { 'Fn::Not': [isEmptyList(MODE_PARAMETERS.arm64InstanceTypes)] },
      of: (m) => m.arm64,
    },
  ];

/** The conditions' values in a mode. */
export function modeConditions(mode: StandaloneMode): Record<string, boolean> {
  return Object.fromEntries(MODE_CONDITIONS.map((c) => [c.name, c.of(mode)]));
}

/**
 * Every mode the template's Rules admit: the Lambdas in the VPC and the private endpoint need an
 * existing VPC (a created one reaches neither GitHub Enterprise Server nor the AWS APIs from private
 * subnets), and at least one runner config.
 */
export function standaloneModes(): StandaloneMode[] {
  const modes: StandaloneMode[] = [];
  const configs = [
    { x64: true, arm64: true },
    { x64: true, arm64: false },
    { x64: false, arm64: true },
  ];
  for (const vpc of ['created', 'existingPublicSubnets', 'existingPrivateSubnets'] as const)
    for (const lambdasInVpc of [false, true])
      for (const privateEndpoint of [false, true])
        for (const c of configs)
          if (vpc !== 'created' || (!lambdasInVpc && !privateEndpoint))
            modes.push({ vpc, lambdasInVpc, privateEndpoint, ...c });
  return modes;
}

/** The mode of the default parameter values: a created VPC, Lambdas outside it, the public endpoint, both configs. */
export const DEFAULT_MODE: StandaloneMode = {
  vpc: 'created',
  lambdasInVpc: false,
  privateEndpoint: false,
  x64: true,
  arm64: true,
};
