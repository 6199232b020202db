import { getJson, postJson, type Transfer, type UiEvent } from '../api.js';
import { el, errorLine, formatBytes } from '../dom.js';
import type { Screen } from '../screen.js';

function transferRow(transfer: Transfer, error: ReturnType<typeof errorLine>, refresh: () => void): HTMLLIElement {
  const bar = el('progress', { max: String(Math.max(transfer.size, 1)) });
  bar.value = transfer.done;
  const action = (name: string, label: string): HTMLButtonElement => {
    const button = el('button', { type: 'button', class: 'link' }, label);
    button.addEventListener('click', () => void postJson(`/api/files/${encodeURIComponent(transfer.id)}/${name}`).then(refresh).catch((err: unknown) => error.set(err)));
    return button;
  };
  const active = !['done', 'cancelled', 'failed'].includes(transfer.state);
  return el(
    'li',
    { class: 'transfer', 'data-transfer': transfer.id },
    el('div', { class: 'row' }, el('strong', {}, transfer.name), el('span', { class: 'muted' }, `${transfer.direction === 'in' ? 'download' : 'upload'} · ${transfer.state}`)),
    bar,
    el('div', { class: 'row muted' }, `${formatBytes(transfer.done)} of ${formatBytes(transfer.size)}`, active ? (transfer.state === 'paused' ? action('resume', 'Resume') : action('pause', 'Pause')) : null, active ? action('cancel', 'Cancel') : null),
  );
}

/** File transfers of the file-share plugin with live progress. */
export async function filesScreen(): Promise<Screen> {
  const error = errorLine();
  const list = el('ul', { class: 'transfers', id: 'transfers' });
  const refresh = async (): Promise<void> => {
    const transfers = await getJson<Transfer[]>('/api/files');
    list.replaceChildren(...transfers.map((t) => transferRow(t, error, () => void refresh())));
    if (!transfers.length) list.append(el('li', { class: 'muted' }, 'No file transfers.'));
  };
  await refresh();
  let pending: number | undefined;
  return {
    title: 'Files',
    nodes: [el('h1', {}, 'Files'), error, list],
    onEvent(event: UiEvent) {
      if (event.type !== 'file') return;
      clearTimeout(pending);
      pending = window.setTimeout(() => void refresh().catch(() => undefined), 200);
    },
    dispose: () => clearTimeout(pending),
  };
}
