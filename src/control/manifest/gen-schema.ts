/**
 * Writes docs/schema/swnet.schema.json from schema.ts:
 * `node dist/src/control/manifest/gen-schema.js` (a test fails when the file is stale).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publishedSchemaText } from './schema.js';

/** Location of the published schema, from this module (src/ or dist/src/ alike). */
export function publishedSchemaPath(): string {
  const here = fileURLToPath(import.meta.url);
  const root = here.includes('/dist/') ? here.slice(0, here.lastIndexOf('/dist/')) : here.slice(0, here.lastIndexOf('/src/'));
  return `${root}/docs/schema/swnet.schema.json`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const p = publishedSchemaPath();
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, publishedSchemaText());
  process.stdout.write(`wrote ${p}\n`);
}
