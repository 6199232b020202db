import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CORE_CONFIG_SCHEMA } from '../../core/config.js';
import { createHooks } from '../../core/hooks.js';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(fileURLToPath(new URL(path, ROOT)), 'utf8');

describe('docs stay in step with the code', () => {
  it('the README config reference names every core config key', () => {
    const readme = read('README.md');
    const keys: string[] = [];
    for (const [key, schema] of Object.entries(CORE_CONFIG_SCHEMA.properties)) {
      if (key === '$schema') continue;
      const nested = (schema as { properties?: Record<string, unknown> }).properties;
      if (nested) keys.push(...Object.keys(nested).map((sub) => `${key}.${sub}`));
      else keys.push(key);
    }
    for (const key of keys) expect(readme, `README documents "${key}"`).to.contain(`| \`${key}\` |`);
  });

  it('docs/plugins.md lists every kernel hook', () => {
    const guide = read('docs/plugins.md');
    for (const hook of Object.keys(createHooks())) expect(guide, `docs/plugins.md documents "${hook}"`).to.match(new RegExp(`\`${hook}\``));
  });
});
