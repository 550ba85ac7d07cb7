import { describeError, redact } from '../../shared/log';

describe('redact', () => {
  it.each([
    ['DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0==;', 'c2VjcmV0'],
    ['https://a.blob.core.windows.net/c/b?sv=2020&sig=abc%2Bdef&se=1', 'abc%2Bdef'],
    ['Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig', 'eyJhbGciOi'],
    ['grant_type=authorization_code&code=0.AXkA-secret&client_secret=shh', 'shh'],
    ['refresh_token=1.AbC-zz', '1.AbC-zz'],
  ])('masks the credential in %s', (text, secret) => {
    const out = redact(text);
    expect(out).not.toContain(secret);
    expect(out).toContain('[redacted]');
  });

  it('leaves ordinary text alone', () => {
    expect(redact('connect ECONNREFUSED 127.0.0.1:10000')).toBe('connect ECONNREFUSED 127.0.0.1:10000');
  });

  it('describeError carries no stack and redacts the message', () => {
    const d = describeError(Object.assign(new Error('failed AccountKey=xyz123'), { code: 'E1', statusCode: 503 }));
    expect(d).toEqual({ error: 'Error', code: 'E1', status: 503, message: 'failed AccountKey=[redacted]' });
  });
});
