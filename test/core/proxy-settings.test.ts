import { proxyFor, proxySettings, ProxySettingsError, redactedProxy } from '../../lambda/core/proxy-settings';

const PROXY = 'http://proxy.corp.example:3128';

describe('proxySettings and proxyFor', () => {
  test('no variables: every connection is direct', () => {
    const s = proxySettings({});
    expect(proxyFor(s, 'https:', 'ghes.corp.example', 443)).toBeUndefined();
    expect(proxyFor(s, 'http:', 'ghes.corp.example', 80)).toBeUndefined();
  });

  test('HTTPS_PROXY covers https targets only, HTTP_PROXY http targets only (no fallback, as in Node and curl)', () => {
    const s = proxySettings({ HTTPS_PROXY: PROXY });
    expect(proxyFor(s, 'https:', 'ec2.eu-west-1.amazonaws.com', 443)?.host).toBe('proxy.corp.example:3128');
    expect(proxyFor(s, 'http:', 'ghes.corp.example', 80)).toBeUndefined();
    const h = proxySettings({ HTTP_PROXY: PROXY });
    expect(proxyFor(h, 'https:', 'ghes.corp.example', 443)).toBeUndefined();
    expect(proxyFor(h, 'http:', 'ghes.corp.example', 80)).toBeDefined();
  });

  test('lower-case spellings win; a bare host:port is an http:// proxy', () => {
    const s = proxySettings({ HTTPS_PROXY: 'http://upper:1', https_proxy: 'lower.example:8080' });
    expect(proxyFor(s, 'https:', 'x.example', 443)?.href).toBe('http://lower.example:8080/');
  });

  test.each([
    ['*', 'api.github.com', 443, true],
    ['.amazonaws.com', 'dynamodb.eu-west-1.amazonaws.com', 443, true],
    ['amazonaws.com', 'dynamodb.eu-west-1.amazonaws.com', 443, true],
    ['*.amazonaws.com', 'ssm.eu-west-1.amazonaws.com', 443, true],
    ['amazonaws.com', 'amazonaws.com', 443, true],
    ['amazonaws.com', 'notamazonaws.com', 443, false],
    ['dynamodb.eu-west-1.amazonaws.com', 'ec2.eu-west-1.amazonaws.com', 443, false],
    ['GHES.Corp.Example', 'ghes.corp.example.', 443, true],
    ['ghes.corp.example:8443', 'ghes.corp.example', 443, false],
    ['ghes.corp.example:8443', 'ghes.corp.example', 8443, true],
    ['10.0.0.0/8', '10.20.30.40', 443, true],
    ['10.0.0.0/8', '11.0.0.1', 443, false],
    ['10.0.0.0/8', 'ten.example', 443, false],
    ['169.254.169.254', '169.254.169.254', 80, true],
    ['127.0.0.1:4566', '127.0.0.1', 4566, true],
    ['127.0.0.1:4566', '127.0.0.1', 4567, false],
    ['[::1]', '::1', 443, true],
    ['fd00::/8', '[fd12:3456::1]', 443, true],
    ['fd00::/8', '2001:db8::1', 443, false],
    [' localhost , , other.example ', 'other.example', 443, true],
    ['localhost other.example', 'other.example', 443, true],
    ['', 'api.github.com', 443, false],
  ])('NO_PROXY=%j bypasses %s:%d: %s', (noProxy, host, port, bypassed) => {
    const s = proxySettings({ HTTPS_PROXY: PROXY, HTTP_PROXY: PROXY, NO_PROXY: noProxy });
    expect(proxyFor(s, 'https:', host, port) === undefined).toBe(bypassed);
  });

  test.each([
    ['HTTPS_PROXY', 'socks5://proxy:1080', /HTTPS_PROXY uses socks5/],
    ['https_proxy', 'http://[not-an-address', /https_proxy is not a URL/],
    ['HTTP_PROXY', 'ftp://proxy:21', /HTTP_PROXY uses ftp/],
  ])('%s=%s is refused, naming the variable', (name, value, message) => {
    expect(() => proxySettings({ [name]: value })).toThrow(ProxySettingsError);
    expect(() => proxySettings({ [name]: value })).toThrow(message);
  });

  test('credentials never reach a log line', () => {
    const s = proxySettings({ HTTPS_PROXY: 'http://bot:s3cret@proxy.corp.example:3128' });
    expect(redactedProxy(s.https!)).toBe('http://proxy.corp.example:3128');
  });
});
