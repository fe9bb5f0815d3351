import { header, MAX_BODY_BYTES, readDelivery, RequestError } from '../../lambda/core/delivery';

const base = {
  headers: {
    'X-GitHub-Event': 'workflow_job',
    'x-github-delivery': 'd-1',
    'Content-Type': 'application/json; charset=utf-8',
    'X-HUB-SIGNATURE-256': 'sha256=abc',
  },
  body: '{"a":1}',
};

function statusOf(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof RequestError) return e.statusCode;
    throw e;
  }
  return 0;
}

describe('readDelivery', () => {
  test('headers are read case-insensitively', () => {
    expect(header(base, 'x-hub-signature-256')).toBe('sha256=abc');
    const d = readDelivery(base);
    expect(d).toMatchObject({
      event: 'workflow_job',
      deliveryId: 'd-1',
      signature: 'sha256=abc',
      payloadText: '{"a":1}',
    });
  });

  test('a base64-encoded body is decoded before anything else reads it', () => {
    const d = readDelivery({
      ...base,
      body: Buffer.from('{"é":1}').toString('base64'),
      isBase64Encoded: true,
    });
    expect(d.body).toBe('{"é":1}');
  });

  test('form-encoded deliveries carry the payload in a field; the body stays as signed', () => {
    const body = `payload=${encodeURIComponent('{"x":2}')}`;
    const d = readDelivery({
      ...base,
      headers: { ...base.headers, 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(d.payloadText).toBe('{"x":2}');
    expect(d.body).toBe(body);
  });

  test.each([
    ['no event header', { ...base, headers: { 'content-type': 'application/json' } }, 400],
    ['empty body', { ...base, body: '' }, 400],
    ['null body', { ...base, body: null }, 400],
    ['huge body', { ...base, body: 'x'.repeat(MAX_BODY_BYTES + 1) }, 413],
    [
      'huge base64 body',
      { ...base, body: 'A'.repeat(Math.ceil((MAX_BODY_BYTES * 4) / 3) + 8), isBase64Encoded: true },
      413,
    ],
    ['unknown content type', { ...base, headers: { ...base.headers, 'Content-Type': 'text/plain' } }, 415],
    ['no content type', { ...base, headers: { 'x-github-event': 'ping' } }, 415],
    [
      'form without payload',
      { ...base, headers: { ...base.headers, 'Content-Type': 'application/x-www-form-urlencoded' } },
      400,
    ],
  ])('%s → %d', (_name, request, status) => {
    expect(statusOf(() => readDelivery(request))).toBe(status);
  });
});
