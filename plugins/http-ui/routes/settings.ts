import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../../../core/config.js';
import { writeFileAtomic } from '../../../core/identity/profile-file.js';
import type { PluginApi } from '../../../core/plugin.js';
import { BUILT_IN_PLUGINS, configDirOf, importPluginDefinition, loadPlugin } from '../../../core/plugin-loader.js';
import { ERR_UI_BAD_REQUEST, ERR_UI_NO_CONFIG_FILE, UiError } from '../errors.js';
import { errorSchema } from '../schemas.js';

/** Turning this one off from the page would lock the user out of the page. */
const SELF = 'http-ui';

const settingsSchema = {
  type: 'object',
  properties: {
    source: { type: ['string', 'null'], description: 'The config file settings are saved to (null: none, read-only).' },
    restartNeeded: { type: 'boolean', description: 'The saved plugin set differs from the running one.' },
    plugins: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          enabled: { type: 'boolean', description: 'As saved in the config file.' },
          options: { type: 'object', additionalProperties: true, description: 'Its options as saved in the config file.' },
          state: { enum: ['loaded', 'disabled', 'failed', 'absent'], description: 'In the running node.' },
          description: { type: 'string' },
          reason: { type: 'string' },
          optionsSchema: {
            type: ['object', 'null'],
            additionalProperties: true,
            description: "The plugin's options schema (JSON Schema): the page draws its options form from it; the node checks saved options against it.",
          },
        },
      },
    },
  },
} as const;

type RawConfig = Record<string, unknown> & { plugins?: Record<string, unknown> };

function readRaw(source: string): RawConfig {
  const raw = JSON.parse(readFileSync(source, 'utf8')) as unknown;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UiError(ERR_UI_BAD_REQUEST, 400, `${source} is not a JSON object`);
  return raw as RawConfig;
}

/**
 * A plugin's options schema and description from its module, also when it is
 * not running; a module that cannot be read gives neither (the page then offers no form).
 */
async function definitionOf(name: string, configDir: string): Promise<{ schema: Record<string, unknown> | null; description?: string }> {
  try {
    const definition = await importPluginDefinition(name, configDir);
    const schema = definition.optionsSchema && typeof definition.optionsSchema === 'object' ? (definition.optionsSchema as Record<string, unknown>) : null;
    return { schema, ...(typeof definition.description === 'string' ? { description: definition.description } : {}) };
  } catch {
    return { schema: null };
  }
}

/**
 * Plugins on and off and their options (proxy, trackers, DHT bootstrap…), saved
 * to the config file (only its `plugins` key is written, atomically).
 */
export function addSettingsRoutes(app: FastifyInstance, api: PluginApi): void {
  const source = api.config.source;
  const configDir = configDirOf(source);

  const view = async (): Promise<Record<string, unknown>> => {
    const saved = source ? (readRaw(source).plugins ?? {}) : api.config.plugins;
    // Plugins given in code (embedding apps, tests) are not the config file's to switch.
    const running = new Map(api.resolve('plugins').status().filter((p) => p.origin !== 'inline').map((p) => [p.name, p]));
    const names = [...new Set([...BUILT_IN_PLUGINS, ...Object.keys(saved), ...running.keys()])];
    let restartNeeded = false;
    const definitions = await Promise.all(names.map((name) => definitionOf(name, configDir)));
    const plugins = names.map((name, i) => {
      const enabled = name in saved && saved[name] !== false;
      const status = running.get(name);
      const state = status?.state ?? 'absent';
      if (enabled !== (state === 'loaded') && state !== 'failed') restartNeeded = true;
      const entry = saved[name];
      const description = status?.description ?? definitions[i]!.description;
      return {
        name,
        enabled,
        options: entry && typeof entry === 'object' ? entry : {},
        state,
        ...(description ? { description } : {}),
        ...(status?.reason ? { reason: status.reason } : {}),
        optionsSchema: definitions[i]!.schema,
      };
    });
    return { source, restartNeeded, plugins };
  };

  app.get('/api/settings', { schema: { summary: 'Which plugins are on, as saved and as running', tags: ['settings'], response: { 200: settingsSchema } } }, async () => view());

  app.put<{ Params: { name: string }; Body: { enabled: boolean; options?: Record<string, unknown> } }>(
    '/api/settings/plugins/:name',
    {
      schema: {
        summary: 'Turn a plugin on or off, and set its options, in the config file (takes effect at the next start)',
        tags: ['settings'],
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 214 } } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['enabled'],
          properties: {
            enabled: { type: 'boolean' },
            options: { type: 'object', additionalProperties: true, description: "Checked against the plugin's own options schema before saving." },
          },
        },
        response: { 200: settingsSchema, '4xx': errorSchema },
      },
    },
    async (request) => {
      const { name } = request.params;
      const { enabled, options } = request.body;
      if (!source) throw new UiError(ERR_UI_NO_CONFIG_FILE, 409, 'this node runs without a config file, so settings cannot be saved');
      const raw = readRaw(source);
      const plugins = { ...(raw.plugins ?? {}) };
      if (!(BUILT_IN_PLUGINS as readonly string[]).includes(name) && !(name in plugins)) {
        throw new UiError(ERR_UI_BAD_REQUEST, 404, `no plugin "${name}" is built in or named in the config`);
      }
      if (name === SELF && !enabled) throw new UiError(ERR_UI_BAD_REQUEST, 400, 'the web UI cannot turn itself off; edit the config file instead');
      const current = plugins[name];
      if (options !== undefined) {
        // The plugin's own schema judges its options (loadPlugin validates them, the module is already loaded or small).
        await loadPlugin(name, options, configDir);
        plugins[name] = enabled ? options : false;
      } else {
        // Options already in the file are kept when a plugin is turned on again.
        plugins[name] = enabled ? (current && typeof current === 'object' ? current : true) : false;
      }
      const next = { ...raw, plugins };
      resolveConfig(next, source); // throws ERR_CONFIG_INVALID rather than save a file the node cannot start with
      // A crash mid-save leaves the old file or the new one, never half of each.
      await writeFileAtomic(source, Buffer.from(`${JSON.stringify(next, null, 2)}\n`));
      api.logger.info({ plugin: name, enabled }, 'plugin setting saved');
      return view();
    },
  );
}
