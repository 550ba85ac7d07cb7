import { MissingVariableError, escapeValue, renderTemplate } from '../../shared/delivery/template';
import { renderPath, templateVariables } from '../helpers/template';

const fields = {
  userEmail: 'john.doe@company.com',
  faxNumber: '+420123456789',
  deviceName: 'MFP-3rd-floor',
  scanDate: '2021-02-17',
  userHome: '\\\\fs01\\home\\jdoe',
  empty: '  ',
};

describe('templates', () => {
  it('replaces %variables% with the job fields', () => {
    expect(renderTemplate('%userEmail%', fields, 'header')).toBe('john.doe@company.com');
    expect(renderTemplate('%faxNumber%@fax.example.net', fields, 'header')).toBe('+420123456789@fax.example.net');
    expect(renderPath('/Scans/%deviceName%/%scanDate%', fields)).toBe('/Scans/MFP-3rd-floor/2021-02-17');
    expect(templateVariables('/Scans/%deviceName%/%scanDate%')).toEqual(['deviceName', 'scanDate']);
  });

  it('fails, naming the variable, when the job lacks it or has it empty', () => {
    expect(() => renderTemplate('%userHome%/%nope%', fields, 'pathSegment')).toThrow(MissingVariableError);
    expect(() => renderTemplate('%empty%', fields, 'text')).toThrow('%empty%');
    expect(() => renderTemplate('%__proto__%', fields, 'text')).toThrow(MissingVariableError);
  });

  it('keeps CRLF out of mail headers', () => {
    const hostile = { subject: 'Scan\r\nBcc: attacker@evil.example', to: 'a@b.c\nCc: x@y.z' };
    expect(renderTemplate('%subject%', hostile, 'header')).toBe('Scan Bcc: attacker@evil.example');
    expect(renderTemplate('%to%', hostile, 'header')).not.toMatch(/[\r\n]/);
  });

  it('keeps separators and .. out of path segments', () => {
    const hostile = { deviceName: '../../etc', scanDate: '..', user: 'a/b\\c', nul: 'x\u0000y' };
    expect(renderPath('/Scans/%deviceName%/%scanDate%', hostile)).toBe('/Scans/._._etc/_');
    expect(renderPath('/Scans/%user%', hostile)).toBe('/Scans/a_b_c');
    expect(renderPath('/Scans/%nul%', hostile)).toBe('/Scans/xy');
    expect(renderPath('/Scans/%deviceName%', hostile).split('/')).not.toContain('..');
    for (const dots of ['.', '..', '...', '....', ' ... ']) expect(escapeValue(dots, 'pathSegment')).toBe('_');
  });

  it('keeps OneDrive/SharePoint reserved characters out of item names', () => {
    expect(escapeValue('a:b*c?"d<e>f|g#h%i', 'driveItemName')).toBe('a_b_c__d_e_f_g_h_i');
    expect(escapeValue(' .hidden. ', 'driveItemName')).toBe('hidden');
    expect(escapeValue('..', 'driveItemName')).toBe('_');
  });

  it('encodes URL components and strips control characters from text', () => {
    expect(escapeValue('a b&c=d', 'url')).toBe('a%20b%26c%3Dd');
    expect(escapeValue('line1\nline2\u0007', 'text')).toBe('line1\nline2');
  });
});
