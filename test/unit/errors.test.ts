/**
 * The catalog of error codes: docs/errors.md is what the catalog says, every request code has an
 * HTTP status of an error, and each code an answer carries is in the catalog.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, BadRequestError, ERRORS, PayloadTooLargeError, type ErrorEntry } from '../../shared/errors';
import { renderErrorsDoc } from '../../shared/errors/errorsDoc';

const entries = Object.entries(ERRORS as Record<string, ErrorEntry>);

it('docs/errors.md is generated from the catalog (npm run docs)', () => {
  expect(readFileSync(join(__dirname, '..', '..', 'docs', 'errors.md'), 'utf8')).toBe(renderErrorsDoc());
});

it('every request code has a 4xx or 5xx status, and only request codes have one', () => {
  for (const [code, e] of entries) {
    if (e.kinds.includes('request')) expect([code, e.status! >= 400 && e.status! < 600]).toEqual([code, true]);
    else expect([code, e.status]).toEqual([code, undefined]);
  }
});

it('codes are snake_case, with a meaning and an action that end in a full stop', () => {
  for (const [code, e] of entries) {
    expect(code).toMatch(/^[a-z][a-z0-9_]*$/);
    expect([code, e.meaning.endsWith('.'), e.action.endsWith('.')]).toEqual([code, true, true]);
  }
});

it('an AppError takes its status from its code', () => {
  expect(new AppError('duplicate_in_progress', 'x', 5)).toMatchObject({ status: 409, code: 'duplicate_in_progress', retryAfterSeconds: 5 });
  expect(new BadRequestError('no_file', 'x').status).toBe(400);
  expect(new PayloadTooLargeError('file_too_large', 'x').status).toBe(413);
});
