// A sandbox in which the real boot script (image-builder/boot/runner-boot.sh) runs on this machine,
// against the stand-in cloud of sandbox-cloud.js (IMDSv2, DynamoDB and S3 checking SigV4 signatures),
// with stubs (through PATH) for everything that would touch the machine: shutdown, user switching,
// useradd, apt-get. Plain CommonJS so that Jest and the benchmark (plain `node`) share it; types are
// in sandbox.d.ts.
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');

const BOOT_SCRIPT = path.join(__dirname, '..', '..', 'image-builder', 'boot', 'runner-boot.sh');
const { startCloud, CREDENTIALS } = require('./sandbox-cloud');

const STUB = `#!/bin/bash
printf '%s\\n' "\${0##*/} $*" >>"$STUB_CALLS"
`;
const STUBS = {
  shutdown: STUB,
  systemctl: STUB,
  poweroff: STUB,
  'apt-get': STUB,
  usermod: STUB,
  chown: STUB,
  dpkg: STUB,
  'update-ca-certificates': STUB,
  useradd: `${STUB}printf '%s:x:1001:1001::%s:/bin/bash\\n' "\${*: -1}" "$STUB_HOME" >>"$STUB_USERS"\n`,
  getent: `#!/bin/bash
[[ $1 == passwd ]] && grep -s "^$2:" "$STUB_USERS"
`,
  // Records the requested user, then runs the command as the current user: no real switching.
  setpriv: `${STUB}while [[ $# -gt 0 && $1 != -- ]]; do
  case $1 in --reuid=*) export STUB_RUN_AS=\${1#--reuid=} ;; esac
  shift
done
shift
exec "$@"
`,
};

// The stand-in runner: records who started it, how, and with which JIT config, then exits.
const STAND_IN_RUNNER = `#!/bin/bash
{
  printf 'user=%s\\n' "\${STUB_RUN_AS:-$(id -un)}"
  printf 'envUser=%s\\n' "$USER"
  printf 'home=%s\\n' "$HOME"
  printf 'cwd=%s\\n' "$PWD"
  printf 'args=%s\\n' "$*"
  printf 'jitConfig=%s\\n' "\${ACTIONS_RUNNER_INPUT_JITCONFIG:-}"
  printf 'startedMs=%s\\n' "$((\${EPOCHREALTIME/[.,]/} / 1000))"
} >"$STUB_RUNNER_RECORD"
echo 'stand-in runner: Listening for Jobs'
# A process a job left behind, holding the runner's output open.
if [[ -n \${STUB_RUNNER_LINGER:-} ]]; then sleep "$STUB_RUNNER_LINGER" & fi
exit "\${STUB_RUNNER_EXIT:-0}"
`;

function writeExecutable(file, content) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode: 0o755 });
}

/** A gzipped runner tarball holding the stand-in runner, and its SHA-256. */
function standInTarball(workDir) {
  const src = fs.mkdtempSync(path.join(workDir, 'tarball-'));
  writeExecutable(path.join(src, 'run.sh'), STAND_IN_RUNNER);
  writeExecutable(
    path.join(src, 'bin', 'installdependencies.sh'),
    `${STUB.replace('${0##*/}', 'installdependencies.sh')}`,
  );
  const file = path.join(workDir, 'runner.tar.gz');
  execFileSync('tar', ['-czf', file, '-C', src, '.']);
  const content = fs.readFileSync(file);
  return { content, sha256: crypto.createHash('sha256').update(content).digest('hex') };
}

let runCount = 0;

/**
 * Runs the boot script once in a fresh sandbox directory against `cloud` and returns what happened.
 */
async function runBoot(cloud, options = {}) {
  runCount += 1;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-boot-'));
  const tableName = `state-${process.pid}-${runCount}`;
  cloud.instanceId = `i-${crypto.randomBytes(8).toString('hex').slice(0, 17)}`;
  await cloud.createTable(tableName);
  if (options.jitConfig !== undefined) {
    const put = () => cloud.putHandoff(tableName, options.jitConfig);
    if (options.handoffDelayMs) setTimeout(() => void put(), options.handoffDelayMs);
    else await put();
  }

  const stubDir = path.join(dir, 'stubs');
  for (const [name, content] of Object.entries(STUBS)) writeExecutable(path.join(stubDir, name), content);
  const runnerDir = path.join(dir, 'actions-runner');
  const home = path.join(dir, 'home', 'runner');
  const usersFile = path.join(dir, 'passwd');
  fs.writeFileSync(usersFile, options.userExists === false ? '' : `runner:x:1001:1001::${home}:/bin/bash\n`);

  const settings = {
    STATE_TABLE_NAME: tableName,
    LOG_GROUP_NAME: 'sandbox-runner-logs',
    IMDS_URL: cloud.imdsUrl,
    DYNAMODB_ENDPOINT: cloud.dynamodbEndpoint,
    S3_ENDPOINT: cloud.s3Endpoint,
    RUNNER_DIR: runnerDir,
    LOG_FILE: path.join(dir, 'log', 'boot.log'),
    JIT_TIMEOUT_SECONDS: String(options.jitTimeoutSeconds ?? 10),
    JIT_POLL_SECONDS: String(options.jitPollSeconds ?? 0.2),
    FAILURE_FLUSH_SECONDS: '0',
    CA_SOURCE_DIR: path.join(dir, 'ca-source'),
    CA_TRUST_DIR: path.join(dir, 'ca-trust'),
    CW_AGENT_CTL: options.cloudWatchAgent
      ? path.join(stubDir, 'amazon-cloudwatch-agent-ctl')
      : path.join(dir, 'none'),
    CW_AGENT_CONFIG: path.join(dir, 'cwagent.json'),
    CW_AGENT_DEB_URL: 'none',
    SUDOERS_DIR: path.join(dir, 'sudoers.d'),
  };
  if (options.cloudWatchAgent) writeExecutable(settings.CW_AGENT_CTL, STUB);
  if (options.preinstalled === false) {
    const tarball = standInTarball(dir);
    const key = '/runners/actions-runner-linux-x64.tar.gz';
    cloud.files.set(key, tarball.content);
    settings.RUNNER_VERSION = '2.333.0';
    settings.RUNNER_URL_X64 = options.tarballFromS3 ? `s3://runner-bucket${key}` : `${cloud.webUrl}${key}`;
    settings.RUNNER_SHA256_X64 = options.tarballSha256 ?? tarball.sha256;
  } else {
    writeExecutable(path.join(runnerDir, 'run.sh'), STAND_IN_RUNNER);
  }
  for (const [i, pem] of (options.caCertificates ?? []).entries()) {
    fs.mkdirSync(settings.CA_SOURCE_DIR, { recursive: true });
    fs.writeFileSync(path.join(settings.CA_SOURCE_DIR, `extra-${i}.crt`), pem);
  }
  const settingsFile = path.join(dir, 'boot.env');
  if (!options.omitSettingsFile) {
    fs.writeFileSync(
      settingsFile,
      Object.entries({ ...settings, ...options.settings })
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
    );
  }

  const calls = path.join(dir, 'calls.log');
  const record = path.join(dir, 'runner-record');
  const env = {
    PATH: `${stubDir}:${process.env.PATH}`,
    LANG: 'C.UTF-8',
    STUB_CALLS: calls,
    STUB_USERS: usersFile,
    STUB_HOME: home,
    STUB_RUNNER_RECORD: record,
    STUB_RUNNER_EXIT: String(options.runnerExitCode ?? 0),
    STUB_RUNNER_LINGER: options.lingerSeconds ? String(options.lingerSeconds) : '',
  };
  const started = Date.now();
  const { code, output } = await new Promise((resolve, reject) => {
    const child = spawn('bash', [options.script ?? BOOT_SCRIPT, settingsFile], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, output: out }));
  });
  const read = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
  const runner = read(record)
    ? Object.fromEntries(
        read(record)
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      )
    : undefined;
  const marks = {};
  for (const m of output.matchAll(/MARK name=(\S+) epoch_ms=(\d+) elapsed_ms=(\d+)/g)) {
    marks[m[1]] = { epochMs: Number(m[2]), elapsedMs: Number(m[3]) };
  }
  const result = {
    dir,
    exitCode: code,
    output,
    log: read(settings.LOG_FILE),
    calls: read(calls).trim().split('\n').filter(Boolean),
    runner,
    marks,
    durationMs: Date.now() - started,
    cloudWatchConfig: read(settings.CW_AGENT_CONFIG),
    caTrustDir: settings.CA_TRUST_DIR,
    runnerDir,
    handoffItem: await cloud.getHandoff(tableName),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
  return result;
}

module.exports = { startCloud, runBoot, BOOT_SCRIPT, CREDENTIALS };
