import { connectEvents, getJson, type Connectivity, type NodeInfo } from './api.js';
import { definitionList, el } from './dom.js';

type ViewName = 'chats' | 'connectivity' | 'settings';

const REFRESH_MS = 2000;
const view = document.getElementById('view')!;
let refreshTimer: number | undefined;

function show(...nodes: Node[]): void {
  view.replaceChildren(...nodes);
}

function showError(err: unknown): void {
  show(el('h1', {}, 'Something went wrong'), el('p', { class: 'muted' }, String((err as Error)?.message ?? err)));
}

function formatValue(value: unknown): string {
  if (typeof value === 'number') return value.toLocaleString();
  if (value === null || value === undefined) return '–';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

async function renderChats(): Promise<void> {
  const node = await getJson<NodeInfo>('/api/node');
  show(
    el('h1', {}, 'Chats'),
    el('p', { class: 'muted' }, node.profile ? `Profile: ${node.profile}` : 'This node runs without a profile (for example a relay-only node): it has no chats.'),
  );
}

async function renderConnectivity(): Promise<void> {
  const data = await getJson<Connectivity>('/api/connectivity');
  const cards = el('div', { class: 'cards' });
  cards.append(el('section', { class: 'card' }, el('h3', {}, 'Listening'), definitionList([['address', data.listen.host], ['port', data.listen.port === 0 ? 'random' : String(data.listen.port)]])));
  for (const [name, stats] of Object.entries(data.services)) {
    cards.append(el('section', { class: 'card', 'data-service': name }, el('h3', {}, name), definitionList(Object.entries(stats).map(([k, v]) => [k, formatValue(v)]))));
  }
  show(el('h1', {}, 'Connectivity'), cards, Object.keys(data.services).length ? el('span') : el('p', { class: 'muted' }, 'No networking plugin is loaded.'));
}

async function renderSettings(): Promise<void> {
  const node = await getJson<NodeInfo>('/api/node');
  const rows = node.plugins.map((plugin) =>
    el(
      'tr',
      {},
      el('td', {}, plugin.name, plugin.version ? el('span', { class: 'muted' }, ` ${plugin.version}`) : null),
      el('td', { class: `state-${plugin.state}` }, plugin.state),
      el('td', { class: 'muted' }, plugin.reason ?? plugin.description ?? ''),
    ),
  );
  show(
    el('h1', {}, 'Settings'),
    definitionList([
      ['version', node.version],
      ['data folder', node.dataDir],
      ['profile', node.profile ?? 'none'],
    ]),
    el('h2', {}, 'Plugins'),
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'plugin'), el('th', {}, 'state'), el('th', {}, 'notes'))), el('tbody', {}, ...rows)),
  );
}

const RENDERERS: Record<ViewName, () => Promise<void>> = {
  chats: renderChats,
  connectivity: renderConnectivity,
  settings: renderSettings,
};

function currentView(): ViewName {
  const name = location.hash.replace(/^#\//, '') as ViewName;
  return name in RENDERERS ? name : 'chats';
}

async function route(): Promise<void> {
  const name = currentView();
  for (const link of document.querySelectorAll<HTMLAnchorElement>('#nav a')) link.classList.toggle('active', link.dataset.view === name);
  clearInterval(refreshTimer);
  try {
    await RENDERERS[name]();
  } catch (err) {
    showError(err);
  }
  // The connectivity page shows live numbers.
  if (name === 'connectivity') refreshTimer = window.setInterval(() => void RENDERERS.connectivity().catch(showError), REFRESH_MS);
}

window.addEventListener('hashchange', () => void route());
connectEvents(
  () => void route(),
  (live) => {
    const badge = document.getElementById('live')!;
    badge.textContent = live ? 'live' : 'offline';
    badge.classList.toggle('on', live);
  },
);
void route();
