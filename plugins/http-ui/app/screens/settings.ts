import { getJson, postJson, putJson, type NodeInfo, type Settings } from '../api.js';
import { definitionList, el, errorLine } from '../dom.js';
import type { Context, Screen } from '../screen.js';

function pluginRows(settings: Settings, error: ReturnType<typeof errorLine>, onSaved: (s: Settings) => void): HTMLTableRowElement[] {
  return settings.plugins.map((plugin) => {
    const box = el('input', { type: 'checkbox', name: `plugin-${plugin.name}`, 'aria-label': `${plugin.name} on` });
    box.checked = plugin.enabled;
    box.disabled = settings.source === null || plugin.name === 'http-ui';
    box.addEventListener('change', () => {
      error.clear();
      box.disabled = true;
      putJson<Settings>(`/api/settings/plugins/${encodeURIComponent(plugin.name)}`, { enabled: box.checked })
        .then(onSaved)
        .catch((err: unknown) => {
          box.checked = !box.checked;
          box.disabled = false;
          error.set(err);
        });
    });
    return el(
      'tr',
      { 'data-plugin': plugin.name },
      el('td', {}, el('label', { class: 'inline' }, box, ` ${plugin.name}`)),
      el('td', { class: `state-${plugin.state}` }, plugin.state),
      el('td', { class: 'muted' }, plugin.reason ?? plugin.description ?? '', settings.source !== null && plugin.enabled ? optionsEditor(plugin.name, plugin.options, error, onSaved) : null),
    );
  });
}

/** A plugin's options as JSON (proxy, trackers, DHT bootstrap...), checked by the plugin's schema on the node before saving. */
function optionsEditor(name: string, options: Record<string, unknown>, error: ReturnType<typeof errorLine>, onSaved: (s: Settings) => void): HTMLDetailsElement {
  const text = el('textarea', { rows: '6', class: 'mono', name: `options-${name}`, spellcheck: 'false', 'aria-label': `${name} options (JSON)` });
  text.value = JSON.stringify(options, null, 2);
  const save = el('button', { type: 'button' }, 'Save options');
  save.addEventListener('click', () => {
    error.clear();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.value);
    } catch (err) {
      return error.set(`${name}: not valid JSON (${(err as Error).message})`);
    }
    save.disabled = true;
    putJson<Settings>(`/api/settings/plugins/${encodeURIComponent(name)}`, { enabled: true, options: parsed })
      .then(onSaved)
      .catch((err: unknown) => error.set(err))
      .finally(() => (save.disabled = false));
  });
  return el('details', { class: 'options' }, el('summary', {}, 'options'), text, save);
}

/** The profile, and which plugins are on (saved to the config file, applied at the next start). */
export async function settingsScreen(ctx: Context): Promise<Screen> {
  const [node, settings] = await Promise.all([getJson<NodeInfo>('/api/node'), getJson<Settings>('/api/settings')]);
  const error = errorLine();
  const body = el('tbody', {});
  const notice = el('p', { class: 'notice', id: 'restart-notice' }, 'Saved. Restart the node for the change to take effect.');
  const fill = (s: Settings): void => {
    body.replaceChildren(...pluginRows(s, error, fill));
    notice.hidden = !s.restartNeeded;
  };
  fill(settings);

  const status = ctx.profile.status;
  const profile: Node[] = [el('h2', {}, 'Profile')];
  if (!ctx.profile.available) profile.push(el('p', { class: 'muted' }, 'This node runs without a profile (for example a relay-only node).'));
  else if (status.state === 'none') profile.push(el('p', { class: 'muted' }, 'No profile yet.'));
  else {
    profile.push(
      definitionList([
        ['name', status.name ?? '–'],
        ['e-mail', status.email ?? '–'],
        ['fingerprint', status.fingerprint ?? '–'],
        ['safety number', status.safetyNumber ?? '–'],
        ['state', status.state],
      ]),
    );
    if (status.state === 'unlocked') {
      const lock = el('button', { type: 'button', id: 'lock' }, 'Lock profile');
      lock.addEventListener('click', () => void postJson('/api/profile/lock').then(() => ctx.navigate('#/chats')).catch((err: unknown) => error.set(err)));
      profile.push(el('div', { class: 'row' }, lock));
    }
  }

  return {
    title: 'Settings',
    nodes: [
      el('h1', {}, 'Settings'),
      ...profile,
      el('h2', {}, 'Node'),
      definitionList([
        ['version', node.version],
        ['data folder', node.dataDir],
        ['profile file', node.profile ?? 'none'],
        ['config file', settings.source ?? 'none (built-in defaults: settings cannot be saved)'],
      ]),
      el('h2', {}, 'Plugins'),
      notice,
      error,
      el('table', { id: 'plugins' }, el('thead', {}, el('tr', {}, el('th', {}, 'plugin'), el('th', {}, 'running'), el('th', {}, 'notes'))), body),
    ],
  };
}
