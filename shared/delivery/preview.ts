/**
 * Templates rendered for test routing: each as the connector renders it when delivering, with
 * the same escaping and checks, and a failure (a missing variable, an address that is not one)
 * reported for that template instead of thrown. Nothing is sent and no file is opened.
 */
import { renderAddresses, type MailAddress } from './addresses';
import { fileNames } from './fileNames';
import { PermanentDeliveryError, type DeliveryJob, type TemplatePreview } from './types';

/** One template: what `render` makes of it, or the delivery error it throws. Nothing when the option is not set. */
export function previewTemplate(option: string, template: string | undefined, render: () => string): TemplatePreview[] {
  if (template === undefined) return [];
  try {
    return [{ option, template, rendered: render() }];
  } catch (err) {
    if (!(err instanceof PermanentDeliveryError)) throw err;
    return [{ option, template, error: { code: err.code, message: err.message } }];
  }
}

const formatAddress = (a: MailAddress) => (a.name ? `${a.name} <${a.address}>` : a.address);

/** An address-list template (`to`, `cc`, …) as the recipients it renders to. */
export function previewAddresses(
  option: string,
  template: string | undefined,
  fields: Readonly<Record<string, string>>,
): TemplatePreview[] {
  return previewTemplate(option, template, () => renderAddresses(template!, fields, option).map(formatAddress).join(', '));
}

/** The file name template: one preview per file of the job (the sender's names without a template). */
export function previewFileNames(
  job: DeliveryJob,
  template: string | undefined,
  names: (job: DeliveryJob) => string[] = (j) => fileNames(j, template, 'driveItemName'),
): TemplatePreview[] {
  const shown = template ?? '%fileName%%fileExtension%';
  try {
    return names(job).map((rendered, i) => ({ option: 'fileName', template: shown, file: i + 1, rendered }));
  } catch (err) {
    if (!(err instanceof PermanentDeliveryError)) throw err;
    return [{ option: 'fileName', template: shown, error: { code: err.code, message: err.message } }];
  }
}
