// The stand-in cloud of the boot-script sandbox, all on 127.0.0.1: an IMDSv2 stand-in (session
// tokens, 401 without one), dynalite behind a proxy that checks every request's SigV4 signature with
// the AWS SDK's own signer, an S3 stand-in doing the same, and a plain file server.
const crypto = require('crypto');
const http = require('http');
const {
  DynamoDBClient,
  CreateTableCommand,
  PutItemCommand,
  GetItemCommand,
} = require('@aws-sdk/client-dynamodb');
const { SignatureV4 } = require('@smithy/signature-v4');

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const CREDENTIALS = {
  accessKeyId: 'ASIASANDBOXKEY000001',
  secretAccessKey: 'sandbox/Secret+Key0000000000000000000000',
  sessionToken: 'IQoJb3JpZ2luX2VjEsandbox/session+token==',
};

class Sha256 {
  constructor(secret) {
    this.hash = secret ? crypto.createHmac('sha256', Buffer.from(secret)) : crypto.createHash('sha256');
  }
  update(data) {
    this.hash.update(typeof data === 'string' ? Buffer.from(data) : Buffer.from(data));
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
  reset() {}
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Recomputes a request's SigV4 signature with the SDK's signer; returns a problem or undefined. */
async function signatureProblem(req, body, service) {
  const auth = req.headers.authorization ?? '';
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m) return `malformed authorization header "${auth.slice(0, 40)}"`;
  const [, keyId, , region, signedService, signedHeaders] = m;
  if (keyId !== CREDENTIALS.accessKeyId) return `unknown access key ${keyId}`;
  if (region !== REGION || signedService !== service) return `wrong scope ${region}/${signedService}`;
  const names = signedHeaders.split(';');
  for (const required of ['host', 'x-amz-date', 'x-amz-security-token']) {
    if (!names.includes(required)) return `${required} is not signed`;
  }
  if (service === 'dynamodb' && !names.includes('x-amz-target')) return 'x-amz-target is not signed';
  const headers = {};
  for (const n of names) headers[n] = String(req.headers[n] ?? '');
  const date = req.headers['x-amz-date'];
  const signingDate = new Date(
    `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
  );
  const signer = new SignatureV4({
    credentials: CREDENTIALS,
    region: REGION,
    service,
    sha256: Sha256,
    applyChecksum: false,
    uriEscapePath: service !== 's3',
  });
  const [hostname, port] = String(req.headers.host).split(':');
  const signed = await signer.sign(
    { method: req.method, protocol: 'http:', hostname, port: Number(port), path: req.url, headers, body },
    { signingDate },
  );
  return signed.headers.authorization === auth ? undefined : 'signature does not match';
}

/**
 * Starts the stand-in cloud: IMDSv2, DynamoDB (dynalite behind a signature-checking proxy), S3 and a
 * plain file server, all on 127.0.0.1.
 */
async function startCloud() {
  const dynalite = require('dynalite')({ createTableMs: 0 });
  const dynalitePort = await listen(dynalite);
  const ddb = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${dynalitePort}`,
    region: REGION,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const tokens = new Set();
  const cloud = {
    region: REGION,
    account: ACCOUNT,
    instanceId: 'i-0123456789abcdef0',
    imdsRequests: [],
    rejected: [],
    files: new Map(),
    ddb,
  };

  const imds = http.createServer(async (req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(body);
    };
    const token = req.headers['x-aws-ec2-metadata-token'];
    cloud.imdsRequests.push({ method: req.method, path: req.url, withToken: Boolean(token) });
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!(ttl >= 1 && ttl <= 21600))
        return send(400, 'missing or invalid X-aws-ec2-metadata-token-ttl-seconds');
      const t = crypto.randomBytes(24).toString('base64');
      tokens.add(t);
      return send(200, t);
    }
    if (req.method !== 'GET') return send(405, '');
    if (!token || !tokens.has(token)) return send(401, '');
    const routes = {
      '/latest/dynamic/instance-identity/document': JSON.stringify(
        {
          accountId: ACCOUNT,
          architecture: 'x86_64',
          availabilityZone: `${REGION}a`,
          imageId: 'ami-0123456789abcdef0',
          instanceId: cloud.instanceId,
          instanceType: 'm7i.large',
          region: REGION,
          version: '2017-09-30',
        },
        null,
        2,
      ),
      '/latest/meta-data/services/partition': 'aws',
      '/latest/meta-data/services/domain': 'amazonaws.com',
      '/latest/meta-data/iam/security-credentials/': 'ephemeral-runner-role',
      '/latest/meta-data/iam/security-credentials/ephemeral-runner-role': JSON.stringify({
        Code: 'Success',
        Type: 'AWS-HMAC',
        AccessKeyId: CREDENTIALS.accessKeyId,
        SecretAccessKey: CREDENTIALS.secretAccessKey,
        Token: CREDENTIALS.sessionToken,
        Expiration: new Date(Date.now() + 3600_000).toISOString(),
      }),
    };
    const body = routes[req.url];
    return body === undefined ? send(404, '') : send(200, body);
  });

  // DynamoDB: check the signature, then forward to dynalite.
  const dynamodb = http.createServer(async (req, res) => {
    const body = await readBody(req);
    const problem = await signatureProblem(req, body, 'dynamodb');
    if (problem) {
      cloud.rejected.push(problem);
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
      return res.end(
        JSON.stringify({ __type: 'com.amazon.coral.service#InvalidSignatureException', message: problem }),
      );
    }
    const headers = { ...req.headers, host: `127.0.0.1:${dynalitePort}` };
    const forward = http.request(
      { host: '127.0.0.1', port: dynalitePort, method: req.method, path: req.url, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 500, r.headers);
        r.pipe(res);
      },
    );
    forward.end(body);
  });

  // S3 (GET object) and a plain file server, both serving `cloud.files` by path.
  const s3 = http.createServer(async (req, res) => {
    const body = await readBody(req);
    const problem = await signatureProblem(req, body, 's3');
    if (problem) {
      cloud.rejected.push(`s3: ${problem}`);
      res.writeHead(403);
      return res.end('<Error><Code>SignatureDoesNotMatch</Code></Error>');
    }
    const file = cloud.files.get(req.url);
    res.writeHead(file ? 200 : 404);
    res.end(file ?? '');
  });
  const web = http.createServer((req, res) => {
    const file = cloud.files.get(req.url);
    res.writeHead(file ? 200 : 404);
    res.end(file ?? '');
  });

  cloud.imdsUrl = `http://127.0.0.1:${await listen(imds)}`;
  cloud.dynamodbEndpoint = `http://127.0.0.1:${await listen(dynamodb)}`;
  cloud.s3Endpoint = `http://127.0.0.1:${await listen(s3)}`;
  cloud.webUrl = `http://127.0.0.1:${await listen(web)}`;
  cloud.instanceArn = () => `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${cloud.instanceId}`;

  cloud.createTable = async (tableName) => {
    await ddb.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  };
  cloud.putHandoff = async (tableName, jitConfig) => {
    await ddb.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: cloud.instanceArn() },
          jitConfig: { S: jitConfig },
          expiresAt: { N: String(Math.floor(Date.now() / 1000) + 3600) },
        },
      }),
    );
  };
  cloud.getHandoff = async (tableName) =>
    (await ddb.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: cloud.instanceArn() } } })))
      .Item;
  cloud.close = async () => {
    ddb.destroy();
    await Promise.all([imds, dynamodb, s3, web, dynalite].map((s) => new Promise((r) => s.close(() => r()))));
  };
  return cloud;
}

module.exports = { startCloud, CREDENTIALS };
