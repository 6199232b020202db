import { getJson, type Connectivity } from '../api.js';
import { definitionList, el } from '../dom.js';
import type { Screen } from '../screen.js';

const REFRESH_MS = 2000;

function formatValue(value: unknown): string {
  if (typeof value === 'number') return value.toLocaleString();
  if (value === null || value === undefined) return '–';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function cards(data: Connectivity): Node[] {
  const grid = el('div', { class: 'cards' });
  grid.append(
    el('section', { class: 'card', 'data-service': 'listen' }, el('h3', {}, 'Listening'), definitionList([['address', data.listen.host], ['port', data.listen.port === 0 ? 'not listening' : String(data.listen.port)]])),
  );
  for (const [name, stats] of Object.entries(data.services)) {
    grid.append(el('section', { class: 'card', 'data-service': name }, el('h3', {}, name), definitionList(Object.entries(stats).map(([k, v]) => [k, formatValue(v)]))));
  }
  return Object.keys(data.services).length ? [grid] : [grid, el('p', { class: 'muted' }, 'No networking plugin is loaded.')];
}

/** Listening port and every networking service's counters, refreshed while shown. */
export async function connectivityScreen(): Promise<Screen> {
  const body = el('div', { id: 'connectivity' }, ...cards(await getJson<Connectivity>('/api/connectivity')));
  const timer = window.setInterval(() => {
    getJson<Connectivity>('/api/connectivity')
      .then((data) => body.replaceChildren(...cards(data)))
      .catch(() => undefined);
  }, REFRESH_MS);
  return { title: 'Connectivity', nodes: [el('h1', {}, 'Connectivity'), body], dispose: () => clearInterval(timer) };
}
