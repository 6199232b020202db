import { getJson, postJson, type Chat, type Invitation, type Message, type OutgoingInvitation, type UiEvent } from '../api.js';
import { el, errorLine, field, formatTime, input } from '../dom.js';
import type { Context, Screen } from '../screen.js';

/** The core's limit is 4096 UTF-8 bytes (it refuses longer texts); the field stops at as many characters. */
const MAX_INVITATION_CHARS = 4096;

/** Events that change the chat list or the invitation panels. */
const LIST_EVENTS: ReadonlySet<string> = new Set(['message', 'member', 'mesh', 'invitation', 'invitation-sent', 'invitation-delivered', 'invitation-ended']);

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

/** Pending invitations; none asked for when the chat service has no invitations. */
function pendingInvitations(ctx: Context): Promise<Invitation[]> {
  return ctx.profile.invitations ? getJson<Invitation[]>('/api/invitations') : Promise.resolve([]);
}

/**
 * One invitation: who (from the certificate), the text (as text), the safety number to
 * compare out of band, and Accept / Decline.
 */
function invitationItem(invitation: Invitation, ctx: Context, onDone: () => void): HTMLLIElement {
  const error = errorLine();
  const accept = el('button', { type: 'button', class: 'primary accept' }, 'Accept');
  const decline = el('button', { type: 'button', class: 'decline' }, 'Decline');
  const act = (path: string, then: (result: Chat & { ok?: boolean }) => void): void => {
    error.clear();
    accept.disabled = decline.disabled = true;
    postJson<Chat & { ok?: boolean }>(path, { email: invitation.email })
      .then(then)
      .catch((err: unknown) => {
        accept.disabled = decline.disabled = false;
        error.set(err);
      });
  };
  accept.addEventListener('click', () => act('/api/invitations/accept', (chat) => ctx.navigate(`#/chat/${chat.chatId}`)));
  decline.addEventListener('click', () => act('/api/invitations/decline', onDone));
  return el(
    'li',
    { class: 'invitation', 'data-email': invitation.email },
    el('div', { class: 'row' }, el('strong', { class: 'from' }, invitation.email), invitation.name ? el('span', { class: 'muted' }, invitation.name) : null, el('span', { class: 'muted small' }, formatTime(invitation.receivedAt))),
    el('p', { class: 'invitation-text' }, invitation.text),
    el('p', { class: 'small' }, el('span', { class: 'muted' }, 'Safety number '), el('span', { class: 'mono safety' }, invitation.safetyNumber)),
    el('p', { class: 'muted small' }, 'Compare the safety number with them by another way (in person, by phone) before you accept.'),
    el('div', { class: 'row' }, accept, decline),
    error,
  );
}

/** The invitations we sent; none when the chat service does not list them. */
function outgoingInvitations(ctx: Context): Promise<OutgoingInvitation[]> {
  return ctx.profile.invitations ? getJson<OutgoingInvitation[]>('/api/invitations/outgoing').catch(() => []) : Promise.resolve([]);
}

/** One invitation we sent: to whom, since when, delivered or still looking, and Cancel. */
function outgoingItem(invitation: OutgoingInvitation, onDone: () => void): HTMLLIElement {
  const error = errorLine();
  const cancel = el('button', { type: 'button', class: 'cancel-invitation' }, 'Cancel invitation');
  cancel.addEventListener('click', () => {
    error.clear();
    cancel.disabled = true;
    postJson('/api/invitations/cancel', { email: invitation.email })
      .then(onDone)
      .catch((err: unknown) => {
        cancel.disabled = false;
        error.set(err);
      });
  });
  const state =
    invitation.state === 'delivered'
      ? `Delivered${invitation.deliveredAt ? ` ${formatTime(invitation.deliveredAt)}` : ''}: waiting for them to accept`
      : 'Looking for their node (kept while you are offline; sent as soon as they are found)';
  return el(
    'li',
    { class: 'invitation outgoing', 'data-email': invitation.email, 'data-state': invitation.state },
    el('div', { class: 'row' }, el('a', { href: `#/chat/${invitation.chatId}`, class: 'to' }, invitation.email), el('span', { class: 'muted small' }, `since ${formatTime(invitation.since)}`)),
    el('p', { class: 'muted small state' }, state),
    el('div', { class: 'row' }, cancel),
    error,
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
  const invitationList = el('ul', { class: 'invitations', id: 'invitations' });
  const invitations = el('section', { class: 'panel invitations-panel', 'aria-label': 'Invitations' }, el('h2', {}, 'Invitations'), invitationList);
  const sentList = el('ul', { class: 'invitations', id: 'sent-invitations' });
  const sent = el('section', { class: 'panel invitations-panel sent', 'aria-label': 'Invitations you sent' }, el('h2', {}, 'Invitations you sent'), sentList);
  const known = new Map<number, Chat>();
  const refresh = async (): Promise<void> => {
    const [all, pending, outgoing] = await Promise.all([getJson<Chat[]>('/api/chats'), pendingInvitations(ctx), outgoingInvitations(ctx)]);
    sentList.replaceChildren(...outgoing.map((o) => outgoingItem(o, () => void refresh().catch(() => undefined))));
    sent.hidden = outgoing.length === 0;
    // A pending invitation holds an offline private chat: it is shown as the invitation, not as a chat.
    const invited = new Set(pending.map((i) => i.chatId));
    const chats = all.filter((c) => !invited.has(c.chatId));
    known.clear();
    for (const chat of chats) known.set(chat.chatId, chat);
    list.replaceChildren(...chats.map(chatItem));
    invitationList.replaceChildren(...pending.map((i) => invitationItem(i, ctx, () => void refresh().catch(() => undefined))));
    invitations.hidden = pending.length === 0;
    empty.hidden = chats.length > 0 || pending.length > 0;
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
      invitations,
      sent,
      search,
      results,
      list,
      empty,
    ],
    onEvent(event: UiEvent) {
      if (!LIST_EVENTS.has(event.type)) return;
      // Bursts of events cost one refresh.
      clearTimeout(pending);
      pending = window.setTimeout(() => void refresh().catch(() => undefined), 150);
    },
    dispose: () => clearTimeout(pending),
  };
}

/** Join a group (name + shared secret) or start a private chat (e-mail + shared secret, or an invitation message). */
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
  const invitationText = el('textarea', { name: 'invitation-text', rows: '3', maxlength: String(MAX_INVITATION_CHARS) });
  // Spec §2.6: only a chat without a shared secret can be invited into.
  const invitationField = field('Invitation message', invitationText, 'Optional, for someone who has not added you: delivered encrypted as the first message when their node is found.');
  invitationField.hidden = !ctx.profile.invitations;
  privateSecret.addEventListener('input', () => {
    invitationField.hidden = !ctx.profile.invitations || privateSecret.value !== '';
  });
  const privateError = errorLine();
  const direct = el(
    'form',
    { class: 'panel', id: 'start-private' },
    el('h2', {}, 'Start a private chat'),
    field('Their e-mail address', email),
    field('Shared secret', privateSecret, 'Optional; agree on it with them.'),
    invitationField,
    el('div', { class: 'row' }, el('button', { type: 'submit', class: 'primary' }, 'Start chat')),
    privateError,
  );
  const submit = (form: HTMLFormElement, error: ReturnType<typeof errorLine>, request: () => { path: string; body: Record<string, string> }): void => {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      error.clear();
      const button = form.querySelector('button')!;
      button.disabled = true;
      const { path, body } = request();
      postJson<Chat>(path, body)
        .then((chat) => ctx.navigate(`#/chat/${chat.chatId}`))
        .catch((err: unknown) => {
          button.disabled = false;
          error.set(err);
        });
    });
  };
  submit(group, groupError, () => ({ path: '/api/chats', body: { kind: 'group', name: groupName.value.trim(), secret: groupSecret.value } }));
  submit(direct, privateError, (): { path: string; body: Record<string, string> } =>
    !privateSecret.value && invitationText.value.trim()
      ? { path: '/api/invitations', body: { email: email.value.trim(), text: invitationText.value.trim() } }
      : { path: '/api/chats', body: { kind: 'private', email: email.value.trim(), secret: privateSecret.value } },
  );
  return { title: 'Join or start a chat', nodes: [el('h1', {}, 'Join or start a chat'), el('div', { class: 'two-columns' }, group, direct)] };
}
