// Runs every tests/e2e/*.test.mjs in turn with node:test.
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(HERE).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => join(HERE, f));
let failed = false;
const stream = run({ files, concurrency: 1, timeout: 180000 });
stream.on('test:fail', () => { failed = true; });
stream.compose(spec).pipe(process.stdout);
stream.on('end', () => { process.exitCode = failed ? 1 : 0; });
