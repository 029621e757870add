/** `coderunner languages`: asks a worker which languages it offers, with their versions. */
import { withClient, type GlobalOptions } from './connection.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { colorsFor, table } from './format.js';
import { printJson, printLines } from './output.js';

export interface LanguagesOptions extends GlobalOptions {
  json?: boolean;
}

export async function languagesCommand(options: LanguagesOptions): Promise<ExitCode> {
  const c = colorsFor();
  const languages = await withClient(options, (client) => client.languages());
  if (options.json) {
    printJson(languages);
    return EXIT.ok;
  }
  printLines(
    table(
      [{ header: 'ID' }, { header: 'NAME' }, { header: 'VERSION' }, { header: 'STATUS' }],
      languages.map((l) => [
        l.id,
        l.name,
        l.version ?? '-',
        l.available ? c.green('available') : c.yellow(`missing: ${l.reason ?? 'not installed'}`),
      ]),
      c,
    ),
  );
  return EXIT.ok;
}
