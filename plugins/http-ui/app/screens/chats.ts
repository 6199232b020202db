import { getJson, postJson, type Chat, type Message, type UiEvent } from '../api.js';
import { el, errorLine, field, formatTime, input } from '../dom.js';
import type { Context, Screen } from '../screen.js';

const MESH_LABELS: Record<string, string> = { none: 'no one connected', partial: 'partly connected', full: 'connected to all' };

export function meshLabel(status: string): string {
  return MESH_LABELS[status] ?? status;
}

function chatItem(chat: Chat): HTMLLIElement {
  const dot = el('span', { class: `dot ${chat.onlineMembers > 0 ? 'on' : ''}`, title: chat.onlineMembers > 0 ? `${chat.onlineMembers} online` : 'nobody online' });
  return el(
    'li',
    { 'data-chat-id': String(chat.chatId) },
    el(
      'a',
      { href: `#/chat/${chat.chatId}`, class: 'chat-item' },
      dot,
      el('span', { class: 'chat-name' }, chat.name, el('small', { class: 'muted kind' }, chat.kind === 'private' ? ' private' : ' group')),
      el('span', { class: 'muted mesh', 'data-mesh': chat.meshStatus }, chat.online ? meshLabel(chat.meshStatus) : 'offline'),
      chat.unread > 0 ? el('span', { class: 'badge unread', title: 'unread messages' }, String(chat.unread)) : null,
    ),
  );
}

function searchResults(hits: Message[], chats: Map<number, Chat>): HTMLElement {
  if (!hits.length) return el('p', { class: 'muted' }, 'No message matches.');
  return el(
    'ul',
    { class: 'hits' },
    ...hits.map((hit) =>
      el(
        'li',
        {},
        el('a', { href: `#/chat/${hit.chatId}` }, chats.get(hit.chatId)?.name ?? `chat ${hit.chatId}`),
        el('span', { class: 'muted' }, ` ${hit.sender} · ${formatTime(hit.sentAt)}`),
        el('div', {}, hit.text ?? ''),
      ),
    ),
  );
}

/** Every chat: name, kind, online members, mesh status, unread count; and search across them. */
export async function chatListScreen(ctx: Context): Promise<Screen> {
  const list = el('ul', { class: 'chat-list', id: 'chat-list' });
  const known = new Map<number, Chat>();
  const refresh = async (): Promise<void> => {
    const chats = await getJson<Chat[]>('/api/chats');
    known.clear();
    for (const chat of chats) known.set(chat.chatId, chat);
    list.replaceChildren(...chats.map(chatItem));
    empty.hidden = chats.length > 0;
  };
  const empty = el('p', { class: 'muted' }, 'No chats yet. Join a group or start a private chat.');
  const query = input({ type: 'search', name: 'q', placeholder: 'Search messages', maxlength: '200' });
  const results = el('div', { id: 'search-results' });
  const search = el('form', { class: 'row search', role: 'search' }, query, el('button', { type: 'submit' }, 'Search'));
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = query.value.trim();
    if (!q) return results.replaceChildren();
    getJson<{ hits: Message[] }>(`/api/search?q=${encodeURIComponent(q)}`)
      .then((result) => results.replaceChildren(searchResults(result.hits, known)))
      .catch((err: unknown) => results.replaceChildren(el('p', { class: 'error' }, String((err as Error).message))));
  });
  await refresh();
  let pending: number | undefined;
  return {
    title: 'Chats',
    nodes: [
      el('div', { class: 'row heading' }, el('h1', {}, 'Chats'), el('a', { href: '#/join', class: 'button primary', id: 'join-link' }, '+ Join or start a chat')),
      search,
      results,
      list,
      empty,
    ],
    onEvent(event: UiEvent) {
      if (!['message', 'member', 'mesh'].includes(event.type)) return;
      // Bursts of events cost one refresh.
      clearTimeout(pending);
      pending = window.setTimeout(() => void refresh().catch(() => undefined), 150);
    },
    dispose: () => clearTimeout(pending),
  };
}

/** Join a group (name + shared secret) or start a private chat (e-mail + shared secret). */
export function joinScreen(ctx: Context): Screen {
  const groupName = input({ name: 'group-name', required: '', maxlength: '255' });
  const groupSecret = input({ name: 'group-secret', type: 'password', maxlength: '1024', autocomplete: 'off' });
  const groupError = errorLine();
  const group = el(
    'form',
    { class: 'panel', id: 'join-group' },
    el('h2', {}, 'Join a group'),
    field('Group name', groupName),
    field('Shared secret', groupSecret, 'Everyone in the group uses the same name and secret.'),
    el('div', { class: 'row' }, el('button', { type: 'submit', class: 'primary' }, 'Join group')),
    groupError,
  );
  const email = input({ name: 'peer-email', type: 'email', required: '', maxlength: '255' });
  const privateSecret = input({ name: 'private-secret', type: 'password', maxlength: '1024', autocomplete: 'off' });
  const privateError = errorLine();
  const direct = el(
    'form',
    { class: 'panel', id: 'start-private' },
    el('h2', {}, 'Start a private chat'),
    field('Their e-mail address', email),
    field('Shared secret', privateSecret, 'Optional; agree on it with them.'),
    el('div', { class: 'row' }, el('button', { type: 'submit', class: 'primary' }, 'Start chat')),
    privateError,
  );
  const submit = (form: HTMLFormElement, error: ReturnType<typeof errorLine>, body: () => Record<string, string>): void => {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      error.clear();
      const button = form.querySelector('button')!;
      button.disabled = true;
      postJson<Chat>('/api/chats', body())
        .then((chat) => ctx.navigate(`#/chat/${chat.chatId}`))
        .catch((err: unknown) => {
          button.disabled = false;
          error.set(err);
        });
    });
  };
  submit(group, groupError, () => ({ kind: 'group', name: groupName.value.trim(), secret: groupSecret.value }));
  submit(direct, privateError, () => ({ kind: 'private', email: email.value.trim(), secret: privateSecret.value }));
  return { title: 'Join or start a chat', nodes: [el('h1', {}, 'Join or start a chat'), el('div', { class: 'two-columns' }, group, direct)] };
}
