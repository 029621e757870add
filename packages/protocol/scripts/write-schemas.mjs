// Writes the JSON Schema files from the schema objects the package exports, so that the files
// and the TypeScript types always come from one source. Runs after the build.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventSchemas, submissionSchema } from '../dist/index.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'schemas');
mkdirSync(out, { recursive: true });
const files = {
  'submission.json': submissionSchema,
  ...Object.fromEntries(Object.entries(eventSchemas).map(([type, schema]) => [`event-${type}.json`, schema])),
};
for (const [name, schema] of Object.entries(files)) {
  writeFileSync(
    join(out, name),
    `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema }, null, 2)}\n`,
  );
}
