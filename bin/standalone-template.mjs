// Writes dist/cloudformation/: the standalone CloudFormation template (no CDK bootstrap), the files of
// its assets (Lambda bundles zipped, image documents) and a README. Run by `npm run build`, after tsc
// and the Lambda bundles: it synthesizes the compiled library (dist/lib) once per mode (VPC, Lambdas
// in it, endpoint, runner configs), merges the modes' templates into one whose Conditions choose the
// mode, and checks that the merged template gives back each mode's template exactly.
import { createRequire } from 'node:module';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { App } = require('aws-cdk-lib');
const { StandaloneRunnersStack, STANDALONE_TEMPLATE_FILE } = require(
  join(root, 'dist/lib/standalone/standalone-stack.js'),
);
const { StandaloneSynthesizer } = require(join(root, 'dist/lib/standalone/standalone-synthesizer.js'));
const { MODE_CONDITIONS, modeConditions, standaloneModes } = require(
  join(root, 'dist/lib/standalone/standalone-modes.js'),
);
const { mergeTemplates, resolveMode, templateDifference } = require(
  join(root, 'dist/lib/standalone/template-merge.js'),
);

const out = join(root, 'dist', 'cloudformation');
const outdirs = [];
try {
  const modes = [];
  const assets = new Map();
  for (const mode of standaloneModes()) {
    const outdir = mkdtempSync(join(tmpdir(), 'standalone-'));
    outdirs.push(outdir);
    const app = new App({ outdir, analyticsReporting: false });
    const synthesizer = new StandaloneSynthesizer();
    const stack = new StandaloneRunnersStack(app, 'EphemeralRunners', synthesizer, mode);
    const template = app.synth().getStackByName(stack.stackName).template;
    modes.push({ conditions: modeConditions(mode), template });
    for (const asset of synthesizer.assets)
      if (!assets.has(asset.objectName)) assets.set(asset.objectName, { ...asset, outdir });
  }
  const names = MODE_CONDITIONS.map((c) => c.name);
  const template = mergeTemplates(MODE_CONDITIONS, modes);
  for (const m of modes) {
    const difference = templateDifference(resolveMode(template, names, m.conditions), m.template);
    if (difference !== undefined)
      throw new Error(`the merged template differs from mode ${JSON.stringify(m.conditions)}: ${difference}`);
  }

  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'assets'), { recursive: true });
  writeFileSync(join(out, STANDALONE_TEMPLATE_FILE), `${JSON.stringify(template, null, 1)}\n`);
  for (const asset of assets.values()) {
    const staged = isAbsolute(asset.stagedPath) ? asset.stagedPath : join(asset.outdir, asset.stagedPath);
    const target = join(out, 'assets', asset.objectName);
    if (asset.zipDirectory) writeFileSync(target, zipDirectory(staged));
    else cpSync(staged, target);
  }
  writeFileSync(join(out, 'README.md'), readme(assets.size));
  console.log(
    `wrote dist/cloudformation: ${STANDALONE_TEMPLATE_FILE} (${modes.length} modes merged, each checked) and ${assets.size} asset file(s)`,
  );
} finally {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
}

/** A deterministic zip (sorted entries, fixed times, deflated) of a directory's files. */
function zipDirectory(dir) {
  const files = [];
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(dir);
  const locals = [];
  const centrals = [];
  let offset = 0;
  const DOS_TIME = 0; // 00:00:00
  const DOS_DATE = ((2020 - 1980) << 9) | (1 << 5) | 1; // 2020-01-01
  for (const file of files) {
    const name = Buffer.from(relative(dir, file).split('\\').join('/'));
    const data = readFileSync(file);
    const deflated = deflateRawSync(data, { level: 9 });
    const crc = crc32(data);
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4); // version needed
    header.writeUInt16LE(0x0800, 6); // UTF-8 names
    header.writeUInt16LE(8, 8); // deflate
    header.writeUInt16LE(DOS_TIME, 10);
    header.writeUInt16LE(DOS_DATE, 12);
    header.writeUInt32LE(crc, 14);
    header.writeUInt32LE(deflated.length, 18);
    header.writeUInt32LE(data.length, 22);
    header.writeUInt16LE(name.length, 26);
    header.writeUInt16LE(0, 28);
    locals.push(header, name, deflated);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by Unix, 3.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(deflated.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // -rw-r--r--
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += header.length + name.length + deflated.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

function readme(assetCount) {
  return `# cdk-ephemeral-runners: the standalone CloudFormation template

\`${STANDALONE_TEMPLATE_FILE}\` deploys the runners without CDK and without a CDK bootstrap. Its ${assetCount}
asset files (the Lambda bundles, the image documents) are in \`assets/\`: upload them to a bucket of
yours in the region you deploy to, then create the stack.

1. Upload the assets (the bucket must be in the stack's region):

       aws s3 sync assets/ s3://MY-BUCKET/cdk-ephemeral-runners/

2. Create the stack (or upload the template in the CloudFormation console and fill in the parameters).
   The template is larger than 51,200 bytes, so CloudFormation reads it from S3 (\`--s3-bucket\`):

       aws cloudformation deploy --stack-name ephemeral-runners \\
         --template-file ${STANDALONE_TEMPLATE_FILE} --s3-bucket MY-BUCKET \\
         --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM \\
         --parameter-overrides AssetsBucket=MY-BUCKET GitHubAppId=123456 \\
           GitHubPrivateKeySecretName=github-app-private-key GitHubUrl=https://ghes.corp.example

   For a GitHub Enterprise Server on your network, add an existing VPC and the private choices:

           VpcId=vpc-... SubnetIds=subnet-...,subnet-... SubnetsArePublic=false \\
           PrivateSubnetIds=subnet-...,subnet-... LambdasInVpc=true \\
           WebhookEndpoint=private WebhookClientCidr=10.20.0.0/16

3. Set the GitHub App's webhook URL to the stack output \`WebhookUrl\`; with \`WebhookSecretName\` left
   empty, copy the value of the generated secret (output \`GeneratedWebhookSecretName\`) into the App.

What the parameters choose (each is described in the template):
- \`VpcId\` and \`SubnetIds\` empty: a VPC is created (public subnets, no NAT gateway). Given: the runners
  use \`SubnetIds\`, public or private as \`SubnetsArePublic\` says.
- \`LambdasInVpc=true\`: every Lambda runs in \`PrivateSubnetIds\` and reaches GitHub and the AWS APIs
  (DynamoDB, EC2, SSM, Secrets Manager) through that VPC's egress or endpoints.
- \`WebhookEndpoint=private\`: a private REST API behind an execute-api endpoint in \`PrivateSubnetIds\`
  (about $7.30 a month per subnet), admitting \`WebhookClientCidr\` on port 443.
- \`X64InstanceTypes\`, \`X64Labels\`, \`X64SpotStrategy\` and the \`Arm64\` ones: the two runner configs;
  empty instance types leave a config out. Labels are given without self-hosted (always added).
- The template's Rules refuse a combination that cannot work, with a message naming the parameter.

Runner configs (instance types, labels, spot strategy) are SSM parameters under the stack's config
path, changed there later. Upgrading: upload the new assets (their names are content hashes, so old and
new coexist) and update the stack with the new template. See the package README, "GitHub Enterprise
Server and private networks", for what needs the CDK construct.
`;
}
