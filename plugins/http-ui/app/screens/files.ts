import { getJson, postJson, type Transfer, type UiEvent } from '../api.js';
import { el, errorLine, formatBytes } from '../dom.js';
import type { Screen } from '../screen.js';

/** One file with its progress and what can be done with it (download, pause, resume, cancel, open). */
export function transferRow(transfer: Transfer, error: ReturnType<typeof errorLine>, refresh: () => void, options: { showChats?: boolean } = {}): HTMLLIElement {
  const bar = el('progress', { max: String(Math.max(transfer.size, 1)) });
  bar.value = transfer.done;
  const action = (name: string, label: string): HTMLButtonElement => {
    const button = el('button', { type: 'button', class: 'link', 'data-action': name }, label);
    button.addEventListener('click', () => {
      error.clear();
      void postJson(`/api/files/${encodeURIComponent(transfer.id)}/${name}`).then(refresh).catch((err: unknown) => error.set(err));
    });
    return button;
  };
  const actions: Array<Node | null> = [];
  if (transfer.state === 'advertised') actions.push(action('download', 'Download'));
  if (transfer.state === 'active') actions.push(action('pause', 'Pause'));
  if (transfer.state === 'paused') actions.push(action('resume', 'Resume'));
  if (transfer.direction === 'in' && (transfer.state === 'active' || transfer.state === 'paused')) actions.push(action('cancel', 'Cancel'));
  if (transfer.state === 'done') actions.push(el('a', { href: `/api/files/${encodeURIComponent(transfer.id)}/content`, download: transfer.name, class: 'open' }, 'Open'));
  const rate = transfer.rate && transfer.state === 'active' ? ` · ${formatBytes(transfer.rate)}/s` : '';
  const chats = (options.showChats === false ? [] : transfer.chats).flatMap((chat, i) => [i > 0 ? ', ' : ' in ', el('a', { href: `#/chat/${chat.chatId}`, class: 'chat-link' }, chat.name)]);
  return el(
    'li',
    { class: 'transfer', 'data-transfer': transfer.id, 'data-state': transfer.state },
    el('div', { class: 'row' }, el('strong', {}, transfer.name), el('span', { class: 'muted' }, `${transfer.direction === 'in' ? 'offered' : 'shared'}`, ...chats, ` · ${transfer.state}`)),
    bar,
    el('div', { class: 'row muted' }, `${formatBytes(transfer.done)} of ${formatBytes(transfer.size)}${rate}`, ...actions),
    transfer.error ? el('div', { class: 'error' }, transfer.error) : null,
  );
}

/** The file-share plugin's files with live progress, and downloads / pause / resume / open. */
export async function filesScreen(): Promise<Screen> {
  const error = errorLine();
  const list = el('ul', { class: 'transfers', id: 'transfers' });
  const refresh = async (): Promise<void> => {
    const transfers = await getJson<Transfer[]>('/api/files');
    list.replaceChildren(...transfers.map((t) => transferRow(t, error, () => void refresh())));
    if (!transfers.length) list.append(el('li', { class: 'muted' }, 'No files yet. Files shared in your chats appear here.'));
  };
  await refresh();
  let pending: number | undefined;
  return {
    title: 'Files',
    nodes: [el('h1', {}, 'Files'), error, list],
    onEvent(event: UiEvent) {
      if (event.type !== 'file') return;
      // Progress events come a few times a second per file: one refresh per burst.
      clearTimeout(pending);
      pending = window.setTimeout(() => void refresh().catch(() => undefined), 200);
    },
    dispose: () => clearTimeout(pending),
  };
}
