/**
 * `npm run bench`: runs every benchmark module in bench/ (or those named on
 * the command line), prints one table with each figure beside its reference
 * and the ratio, and writes the same rows as JSON to bench/results/.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchModule, BenchRow } from './types.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const NOT_BENCHMARKS = new Set(['run.ts', 'types.ts']);

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const files = readdirSync(HERE)
    .filter((file) => file.endsWith('.ts') && !NOT_BENCHMARKS.has(file) && !file.endsWith('.d.ts'))
    .filter((file) => wanted.length === 0 || wanted.includes(file.replace(/\.ts$/, '')))
    .sort();
  const results: Array<BenchRow & { benchmark: string; ratio?: number }> = [];
  for (const file of files) {
    const benchmark = file.replace(/\.ts$/, '');
    process.stderr.write(`running ${benchmark}...\n`);
    const module = (await import(pathToFileURL(join(HERE, file)).href)) as BenchModule;
    for (const row of await module.run()) {
      results.push({ benchmark, ...row, ...(row.reference ? { ratio: row.value / row.reference.value } : {}) });
    }
  }
  if (results.length === 0) {
    process.stdout.write('No benchmarks yet.\n');
    return;
  }
  const header = ['benchmark', 'figure', 'value', 'reference', 'ratio', 'target'];
  const rows = results.map((r) => [
    r.benchmark,
    r.name,
    `${format(r.value)} ${r.unit}`,
    r.reference ? `${format(r.reference.value)} ${r.unit} (${r.reference.name})` : '',
    r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : '',
    r.target ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write([line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n');
  const out = join(HERE, 'results');
  mkdirSync(out, { recursive: true });
  const file = join(out, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2));
  process.stdout.write(`\nJSON: ${file}\n`);
}

await main();
