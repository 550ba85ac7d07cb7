/** SCIM and directory sync are alternatives: with DIRECTORY_SOURCE=sync the SCIM endpoint is off. */
import { randomUUID } from 'node:crypto';
import { startScanHost } from '../helpers/scanStack';
import { ERROR, newToken, scimClient, USER_SCHEMA } from '../helpers/scimClient';

describe('configuration', () => {
  it('answers 403 when the directory comes from directory sync', async () => {
    const other = await startScanHost({ DIRECTORY_SOURCE: 'sync', DIRECTORY_SYNC_GROUP_ID: randomUUID() });
    try {
      const t = newToken();
      await other.services.secrets.set('scim-bearer-token', t);
      const res = await scimClient(other.server.url, t).post('/Users', { schemas: [USER_SCHEMA], userName: 'x@y' });
      expect(res.status).toBe(403);
      expect(res.json).toMatchObject({ schemas: [ERROR], status: '403' });
      expect(res.json.detail).toContain('DIRECTORY_SOURCE=sync');
    } finally {
      await other.stop();
    }
  });
});
