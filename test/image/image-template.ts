// Synthesizes a Stack holding only a RunnerImage, and reads its recipes back: shared by the image tests.
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { RunnerImage, RunnerImageProps } from '../../lib/runner-image';

/** A Stack with a VPC and a RunnerImage for x64 and arm64 (unless `props` says otherwise). */
export function synth(
  props: Partial<RunnerImageProps> = {},
  extend?: (stack: Stack, image: RunnerImage) => void,
) {
  const stack = new Stack(new App(), 'ImageStack', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const image = new RunnerImage(stack, 'Image', { vpc, architectures: ['x64', 'arm64'], ...props });
  extend?.(stack, image);
  return { stack, image, template: Template.fromStack(stack) };
}

export type Resource = { Properties: Record<string, unknown> };
export function resources(template: Template, type: string): Resource[] {
  return Object.values(template.findResources(type)) as Resource[];
}
export function recipeFor(template: Template, arch: string): Resource {
  const found = resources(template, 'AWS::ImageBuilder::ImageRecipe').find((r) =>
    String(r.Properties.Name).endsWith(`-${arch}`),
  );
  if (!found) throw new Error(`no ${arch} recipe`);
  return found;
}
/** The recipe's components as [component name, parameters]. */
export function recipeComponents(template: Template, arch: string): [string, Record<string, string>][] {
  const all = template.findResources('AWS::ImageBuilder::Component');
  return (
    recipeFor(template, arch).Properties.Components as {
      ComponentArn: unknown;
      Parameters?: { Name: string; Value: string[] }[];
    }[]
  ).map((c) => {
    const ref = (c.ComponentArn as { 'Fn::GetAtt'?: string[] })['Fn::GetAtt']?.[0];
    const name = ref
      ? String(all[ref].Properties.Name).replace(/^[A-Za-z0-9]+-Image-[0-9A-F]+-/, '')
      : String(c.ComponentArn);
    return [name, Object.fromEntries((c.Parameters ?? []).map((p) => [p.Name, p.Value[0]]))];
  });
}
