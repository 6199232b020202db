import { getJson, postJson, putJson, type InvitationPolicy, type NodeInfo, type Settings } from '../api.js';
import { definitionList, el, errorLine, field, input } from '../dom.js';
import { schemaForm } from '../schema-form.js';
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
      el('td', { class: 'muted' }, plugin.reason ?? plugin.description ?? ''),
    );
  });
}

/** Plugins whose options people come here for, first and by a plain name. */
const FEATURED: Record<string, string> = { 'proxy-socks': 'Proxy', trackers: 'Trackers', dht: 'DHT' };

/** One plugin's options as a form drawn from its schema; saved to the config file after the node checks them. */
function optionsPanel(plugin: Settings['plugins'][number], onSaved: (s: Settings) => void): HTMLElement | null {
  const schema = plugin.optionsSchema;
  if (!schema || !Object.keys(schema.properties ?? {}).length) return null;
  const form = schemaForm(plugin.name, schema, plugin.options);
  const error = errorLine();
  const saved = el('span', { class: 'muted saved', 'aria-live': 'polite' });
  const save = el('button', { type: 'submit', class: 'primary' }, 'Save');
  const panel = el(
    'form',
    { class: 'plugin-options', 'data-plugin': plugin.name },
    form.node,
    el('div', { class: 'row' }, save, saved),
    error,
  );
  panel.addEventListener('submit', (event) => {
    event.preventDefault();
    error.clear();
    saved.textContent = '';
    const reading = form.read();
    if ('error' in reading) return error.set(reading.error);
    save.disabled = true;
    putJson<Settings>(`/api/settings/plugins/${encodeURIComponent(plugin.name)}`, { enabled: true, options: reading.options })
      .then((settings) => {
        saved.textContent = 'Saved. Restart the node for it to take effect.';
        // The rest of the page follows the saved file; this form keeps what was typed.
        onSaved(settings);
      })
      .catch((err: unknown) => error.set(err))
      .finally(() => (save.disabled = false));
  });
  const title = FEATURED[plugin.name];
  return el(
    'details',
    { class: 'panel options', 'data-plugin': plugin.name, ...(title ? { open: '' } : {}) },
    el('summary', {}, title ? `${title} ` : plugin.name, title ? el('small', { class: 'muted' }, plugin.name) : null),
    panel,
  );
}

/** A self-issued profile asks a certification authority for a certificate (same key); the code screen follows. */
function caRegisterForm(ctx: Context): HTMLElement {
  const caUrl = input({ name: 'register-ca-url', type: 'url', required: '', maxlength: '2000', placeholder: 'https://ca.example.org' });
  const password = input({ name: 'register-password', type: 'password', required: '', autocomplete: 'current-password' });
  const error = errorLine();
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Ask for a code');
  const form = el(
    'form',
    { class: 'panel narrow', id: 'ca-register' },
    el('p', { class: 'muted' }, 'Your certificate is self-issued. A certification authority (your organisation may run one) can issue one for the same key after checking your address.'),
    field('Certification authority address', caUrl),
    field('Your profile password', password, 'The profile is saved and opened again with the new certificate.'),
    el('div', { class: 'row' }, submit),
    error,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.clear();
    submit.disabled = true;
    postJson('/api/profile/ca/register', { caUrl: caUrl.value.trim(), password: password.value })
      .then(() => {
        password.value = '';
        ctx.navigate('#/chats');
      })
      .catch((err: unknown) => {
        submit.disabled = false;
        error.set(err);
      });
  });
  return el('details', { class: 'options ca-register' }, el('summary', {}, 'Get a certificate from a certification authority'), form);
}

/**
 * Inbound invitations (spec §2.6): allowed or not, and from the LAN only. Kept in the
 * profile and applied at once.
 */
async function invitationPolicyPanel(): Promise<HTMLElement> {
  let policy = await getJson<InvitationPolicy>('/api/invitations/policy');
  const error = errorLine();
  const allow = el('input', { type: 'checkbox', name: 'invitations-allow' });
  const lanOnly = el('input', { type: 'checkbox', name: 'invitations-lan-only' });
  const show = (p: InvitationPolicy): void => {
    allow.checked = p.allow;
    lanOnly.checked = p.lanOnly;
    lanOnly.disabled = !p.allow;
  };
  show(policy);
  const save = (change: Partial<InvitationPolicy>): void => {
    error.clear();
    allow.disabled = lanOnly.disabled = true;
    putJson<InvitationPolicy>('/api/invitations/policy', change)
      .then((saved) => (policy = saved))
      .catch((err: unknown) => error.set(err))
      .finally(() => {
        allow.disabled = false;
        show(policy);
      });
  };
  allow.addEventListener('change', () => save({ allow: allow.checked }));
  lanOnly.addEventListener('change', () => save({ lanOnly: lanOnly.checked }));
  return el(
    'div',
    { class: 'panel narrow', id: 'invitation-policy' },
    el('h3', {}, 'Invitations'),
    el('label', { class: 'inline' }, allow, ' Allow invitations from people who have not added me'),
    el('br'),
    el('label', { class: 'inline' }, lanOnly, ' Only from my local network (LAN)'),
    el('p', { class: 'muted small' }, 'Invitations arrive encrypted; you see who sent one and its safety number before accepting.'),
    error,
  );
}

/** The profile, and which plugins are on (saved to the config file, applied at the next start). */
export async function settingsScreen(ctx: Context): Promise<Screen> {
  const [node, settings] = await Promise.all([getJson<NodeInfo>('/api/node'), getJson<Settings>('/api/settings')]);
  const error = errorLine();
  const body = el('tbody', {});
  const notice = el('p', { class: 'notice', id: 'restart-notice' }, 'Saved. Restart the node for the change to take effect.');
  const options = el('div', { class: 'plugin-option-list', id: 'plugin-options' });
  /** Forms are drawn again only when the set of enabled plugins changes, so a saved form keeps its fields. */
  let drawn = '';
  const fill = (s: Settings): void => {
    body.replaceChildren(...pluginRows(s, error, fill));
    notice.hidden = !s.restartNeeded;
    const enabled = s.source === null ? [] : s.plugins.filter((p) => p.enabled);
    const key = enabled.map((p) => p.name).join(',');
    if (key === drawn) return;
    drawn = key;
    const rank = (name: string): number => (name in FEATURED ? Object.keys(FEATURED).indexOf(name) : Object.keys(FEATURED).length);
    const ordered = [...enabled].sort((a, b) => rank(a.name) - rank(b.name));
    const panels = ordered.map((p) => optionsPanel(p, fill)).filter((p): p is HTMLElement => p !== null);
    options.replaceChildren(...panels);
    if (!panels.length) options.append(el('p', { class: 'muted' }, s.source === null ? 'No config file: options cannot be saved.' : 'No enabled plugin has options.'));
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
      const invitations = ctx.profile.invitations ? await invitationPolicyPanel() : null;
      if (invitations) profile.push(invitations);
      if (ctx.profile.certificate === 'self') profile.push(caRegisterForm(ctx));
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
      el('h2', {}, 'Plugin options'),
      el('p', { class: 'muted small' }, 'Checked against each plugin’s own schema and saved to the config file; a plugin that is off has to be turned on first.'),
      options,
    ],
  };
}
