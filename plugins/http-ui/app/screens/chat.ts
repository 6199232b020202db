import { deleteJson, getJson, postJson, type Chat, type InvitationEnd, type Member, type Message, type OutgoingInvitation, type Transfer, type UiEvent } from '../api.js';
import { el, errorLine, formatTime, paperClipIcon } from '../dom.js';
import type { Context, Screen } from '../screen.js';
import { meshLabel } from './chats.js';
import { transferRow } from './files.js';

const PAGE_SIZE = 50;
/** Tell peers we are typing at most this often; show their indicator this long. */
const TYPING_SEND_MS = 3000;
const TYPING_SHOW_MS = 5000;
/** Live messages read in a burst are reported once, this long after the last. */
const READ_REPORT_MS = 500;
const FILES_REFRESH_MS = 200;

interface Shown {
  message: Message;
  node: HTMLLIElement;
  ticks: HTMLSpanElement | null;
}

function renderTicks(ticks: HTMLSpanElement, message: Message): void {
  const delivered = message.deliveredTo.length > 0;
  const state = !delivered ? 'sent' : message.pendingTo.length ? 'partial' : 'delivered';
  ticks.dataset.state = state;
  ticks.textContent = delivered ? '✓✓' : '✓';
  ticks.title =
    state === 'sent'
      ? 'sent; not delivered yet'
      : state === 'partial'
        ? `delivered to ${message.deliveredTo.join(', ')}; waiting for ${message.pendingTo.join(', ')}`
        : 'delivered';
}

function messageNode(message: Message): Shown {
  const ticks = message.outgoing ? el('span', { class: 'ticks' }) : null;
  if (ticks) renderTicks(ticks, message);
  const node = el(
    'li',
    { class: `message ${message.outgoing ? 'outgoing' : 'incoming'}`, 'data-id': message.id },
    el('div', { class: 'meta' }, el('span', { class: 'sender' }, message.outgoing ? 'You' : message.sender), el('time', {}, formatTime(message.sentAt)), ticks),
    el('div', { class: 'text' }, message.text ?? `(message of type ${message.type})`),
  );
  return { message, node, ticks };
}

function memberNode(member: Member): HTMLLIElement {
  return el(
    'li',
    { 'data-identity': member.identity },
    el('span', { class: `dot ${member.online ? 'on' : ''}`, title: member.online ? 'online' : 'offline' }),
    el('span', {}, member.name ? `${member.name} ` : '', el('span', { class: member.name ? 'muted' : '' }, member.identity)),
    member.safetyNumber ? el('div', { class: 'muted mono', title: 'Safety number: compare it with them' }, `safety number ${member.safetyNumber}`) : null,
    member.fingerprint ? el('div', { class: 'muted mono small' }, `fingerprint ${member.fingerprint}`) : null,
  );
}

/** One chat: history with paging, live messages with delivery ticks, typing, members, composer. */
export async function chatScreen(ctx: Context, chatId: number): Promise<Screen> {
  const chats = await getJson<Chat[]>('/api/chats');
  const chat = chats.find((c) => c.chatId === chatId);
  if (!chat) return { title: 'Chat', nodes: [el('h1', {}, 'No such chat'), el('p', {}, el('a', { href: '#/chats' }, 'Back to the chats'))] };

  const shown = new Map<string, Shown>();
  /** Deliveries that arrived (over the WebSocket) before the message itself (over fetch): applied when it is shown. */
  const early = new Map<string, Set<string>>();
  const applyDelivery = (item: Shown, recipient: string): void => {
    if (!item.ticks) return;
    const m = item.message;
    if (!m.deliveredTo.includes(recipient)) m.deliveredTo.push(recipient);
    m.pendingTo = m.pendingTo.filter((r) => r !== recipient);
    renderTicks(item.ticks, m);
  };
  const remember = (item: Shown): void => {
    shown.set(item.message.id, item);
    for (const recipient of early.get(item.message.id) ?? []) applyDelivery(item, recipient);
    early.delete(item.message.id);
  };
  const list = el('ol', { class: 'messages', id: 'messages', 'aria-live': 'polite' });
  const older = el('button', { type: 'button', class: 'link', id: 'load-older', hidden: '' }, 'Load older messages');
  let next: string | null = null;
  const scroller = el('div', { class: 'scroller' }, older, list);

  const append = (message: Message): void => {
    if (shown.has(message.id)) return;
    const item = messageNode(message);
    remember(item);
    const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    list.append(item.node);
    if (nearBottom || message.outgoing) scroller.scrollTop = scroller.scrollHeight;
  };
  const loadPage = async (): Promise<void> => {
    const page = await getJson<{ messages: Message[]; next: string | null }>(
      `/api/chats/${chatId}/messages?limit=${PAGE_SIZE}${next ? `&before=${encodeURIComponent(next)}` : ''}`,
    );
    next = page.next;
    older.hidden = next === null;
    const first = list.firstChild;
    const height = scroller.scrollHeight;
    // The page is newest first; older messages go above what is shown.
    for (const message of [...page.messages].reverse()) {
      if (shown.has(message.id)) continue;
      const item = messageNode(message);
      remember(item);
      list.insertBefore(item.node, first);
    }
    scroller.scrollTop += scroller.scrollHeight - height;
  };
  older.addEventListener('click', () => void loadPage().catch((err: unknown) => error.set(err)));

  const members = el('ul', { class: 'members', id: 'members' });
  const refreshMembers = async (): Promise<void> => {
    const list = await getJson<Member[]>(`/api/chats/${chatId}/members`);
    members.replaceChildren(...list.map(memberNode));
    if (!list.length) members.append(el('li', { class: 'muted' }, 'Nobody else has joined yet.'));
  };

  const mesh = el('span', { class: 'muted', id: 'mesh-status' }, chat.online ? meshLabel(chat.meshStatus) : 'offline');
  /** Counts mesh events, so a summary read before the latest one does not overwrite it. */
  let meshEvents = 0;
  const refreshMesh = async (): Promise<void> => {
    const seen = meshEvents;
    const now = (await getJson<Chat[]>('/api/chats')).find((c) => c.chatId === chatId);
    if (now && seen === meshEvents) mesh.textContent = now.online ? meshLabel(now.meshStatus) : 'offline';
  };
  const typing = el('div', { class: 'typing muted', id: 'typing', 'aria-live': 'polite' });
  let typingTimer: number | undefined;
  const error = errorLine();

  const text = el('textarea', { name: 'text', rows: '2', maxlength: '16000', placeholder: 'Write a message', 'aria-label': 'Message' });
  const send = el('button', { type: 'submit', class: 'primary' }, 'Send');
  const composer = el('form', { class: 'composer', id: 'composer' }, text, send);
  let lastTyping = 0;
  text.addEventListener('input', () => {
    const now = Date.now();
    if (now - lastTyping < TYPING_SEND_MS || !text.value) return;
    lastTyping = now;
    void postJson(`/api/chats/${chatId}/typing`).catch(() => undefined);
  });
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = text.value;
    if (!value.trim()) return;
    error.clear();
    send.disabled = true;
    postJson<Message>(`/api/chats/${chatId}/messages`, { text: value })
      .then((message) => {
        text.value = '';
        lastTyping = 0;
        append(message);
      })
      .catch((err: unknown) => error.set(err))
      .finally(() => {
        send.disabled = false;
        text.focus();
      });
  });

  // Our invitation into this chat, if any: still looking, or delivered and waiting for them
  // to accept (they see it until they accept or decline); it can be cancelled.
  const invitationText = el('span', { class: 'state' });
  const cancelInvitation = el('button', { type: 'button', class: 'cancel-invitation link', hidden: '' }, 'Cancel invitation');
  const invitationStatus = el('div', { class: 'muted small', id: 'invitation-status', 'aria-live': 'polite' }, invitationText, ' ', cancelInvitation);
  let invitee: string | undefined;
  const showInvitation = (o: OutgoingInvitation | undefined): void => {
    invitee = o?.email;
    cancelInvitation.hidden = o === undefined;
    invitationStatus.dataset.state = o?.state ?? '';
    if (!o) return;
    invitationText.textContent =
      o.state === 'delivered'
        ? 'Invitation delivered: the first message waits for them to accept.'
        : `Invitation sent ${formatTime(o.since)}: looking for their node (kept while you are offline).`;
  };
  const refreshInvitation = async (): Promise<void> => {
    if (chat.kind !== 'private' || !ctx.profile.invitations) return;
    const all = await getJson<OutgoingInvitation[]>('/api/invitations/outgoing');
    showInvitation(all.find((o) => o.chatId === chatId));
  };
  const ENDED: Partial<Record<InvitationEnd['reason'], string>> = { cancelled: 'Invitation cancelled.', expired: 'Invitation given up: they were not found in 30 days.' };
  cancelInvitation.addEventListener('click', () => {
    if (!invitee) return;
    cancelInvitation.disabled = true;
    postJson('/api/invitations/cancel', { email: invitee })
      .catch((err: unknown) => error.set(err))
      .finally(() => (cancelInvitation.disabled = false));
  });

  // Files: a button and drag and drop onto the conversation, when file-share is loaded.
  const shareStatus = el('div', { class: 'muted share-status', id: 'share-status', 'aria-live': 'polite' });
  const shareFile = (file: File): void => {
    shareStatus.textContent = `Sharing ${file.name}…`;
    fetch(`/api/chats/${chatId}/files?name=${encodeURIComponent(file.name)}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/octet-stream' },
      body: file,
    })
      .then(async (response) => {
        if (!response.ok) throw new Error(((await response.json().catch(() => ({}))) as { message?: string }).message ?? `HTTP ${response.status}`);
        shareStatus.textContent = `Shared ${file.name}.`;
        void refreshFiles().catch(() => undefined);
      })
      .catch((err: unknown) => {
        shareStatus.textContent = '';
        error.set(err);
      });
  };
  const picker = el('input', { type: 'file', id: 'file-picker', hidden: '', multiple: '' });
  picker.addEventListener('change', () => {
    for (const file of picker.files ?? []) shareFile(file);
    picker.value = '';
  });
  const attach = el('button', { type: 'button', class: 'attach', title: 'Share a file (or drop it on the conversation)', 'aria-label': 'Share a file' }, paperClipIcon());
  attach.addEventListener('click', () => picker.click());
  if (ctx.profile.fileShare) {
    composer.prepend(attach, picker);
    scroller.addEventListener('dragover', (event) => {
      event.preventDefault();
      scroller.classList.add('dropping');
    });
    scroller.addEventListener('dragleave', () => scroller.classList.remove('dropping'));
    scroller.addEventListener('drop', (event) => {
      event.preventDefault();
      scroller.classList.remove('dropping');
      for (const file of event.dataTransfer?.files ?? []) shareFile(file);
    });
  }

  // Live messages shown while the page is in view are read: tell the node (once per burst), so unread counts stay right.
  let readUpTo = 0;
  let reported = 0;
  let readTimer: number | undefined;
  const reportRead = (): void => {
    if (document.visibilityState !== 'visible' || readUpTo <= reported) return;
    clearTimeout(readTimer);
    readTimer = window.setTimeout(() => {
      const seq = readUpTo;
      void postJson(`/api/chats/${chatId}/read`, { seq }).then(() => (reported = Math.max(reported, seq))).catch(() => undefined);
    }, READ_REPORT_MS);
  };
  const markRead = (seq: number): void => {
    readUpTo = Math.max(readUpTo, seq);
    reportRead();
  };
  document.addEventListener('visibilitychange', reportRead);

  const leave = el('button', { type: 'button', class: 'link danger', id: 'leave' }, 'Leave');
  leave.addEventListener('click', () => {
    if (!confirm(`Leave "${chat.name}"? Its history is deleted from this device.`)) return;
    deleteJson(`/api/chats/${chatId}`)
      .then(() => ctx.navigate('#/chats'))
      .catch((err: unknown) => error.set(err));
  });

  // Side panels start open where there is room for them.
  const wide = window.matchMedia('(min-width: 760px)').matches;
  // The files shared in this chat (by anyone), with their progress and actions, beside the members.
  const files = el('ul', { class: 'transfers chat-files', id: 'chat-files' });
  const filesSummary = el('summary', {}, 'Files');
  const filesPanel = el('details', { class: 'panel files-panel', hidden: '' }, filesSummary, files);
  filesPanel.open = wide;
  const refreshFiles = async (): Promise<void> => {
    const all = await getJson<Transfer[]>('/api/files');
    const mine = all.filter((t) => t.chats.some((c) => c.chatId === chatId));
    files.replaceChildren(...mine.map((t) => transferRow(t, error, () => void refreshFiles().catch(() => undefined), { showChats: false })));
    filesSummary.textContent = `Files (${mine.length})`;
    filesPanel.hidden = mine.length === 0;
  };
  let filesTimer: number | undefined;

  await Promise.all([loadPage(), refreshMembers(), ctx.profile.fileShare ? refreshFiles().catch(() => undefined) : undefined, refreshInvitation().catch(() => undefined)]);
  // After the screen is shown (the router attaches it once this returns).
  requestAnimationFrame(() => {
    scroller.scrollTop = scroller.scrollHeight;
  });

  const details = el('details', { class: 'panel member-panel' }, el('summary', {}, 'Members'), members);
  details.open = wide;

  return {
    title: chat.name,
    nodes: [
      el(
        'div',
        { class: 'chat-header' },
        el('a', { href: '#/chats', class: 'back', 'aria-label': 'Back to the chats' }, '←'),
        el('h1', {}, chat.name),
        el('small', { class: 'muted' }, chat.kind === 'private' ? 'private chat' : 'group'),
        mesh,
        leave,
      ),
      el('div', { class: 'chat-layout' }, el('section', { class: 'chat-main' }, scroller, typing, composer, shareStatus, invitationStatus, error), el('aside', { class: 'chat-side' }, details, filesPanel)),
    ],
    onEvent(event: UiEvent) {
      if (event.type === 'file') {
        // Progress comes a few times a second per file: one refresh per burst.
        clearTimeout(filesTimer);
        filesTimer = window.setTimeout(() => void refreshFiles().catch(() => undefined), FILES_REFRESH_MS);
        return;
      }
      if (event.type === 'invitation-sent') {
        if ((event as { invitation: OutgoingInvitation }).invitation.chatId === chatId) void refreshInvitation().catch(() => undefined);
        return;
      }
      if (!('chatId' in event) || event.chatId !== chatId) return;
      switch (event.type) {
        case 'message': {
          const message = (event as { message: Message }).message;
          append(message);
          typing.textContent = '';
          if (!message.outgoing) markRead(message.seq);
          break;
        }
        case 'delivery': {
          const { id, recipient } = event as { id: string; recipient: string };
          const item = shown.get(id);
          if (item) applyDelivery(item, recipient);
          else if (early.size < 1000) early.set(id, (early.get(id) ?? new Set()).add(recipient));
          break;
        }
        case 'typing': {
          typing.textContent = `${(event as { identity: string }).identity} is typing…`;
          clearTimeout(typingTimer);
          typingTimer = window.setTimeout(() => (typing.textContent = ''), TYPING_SHOW_MS);
          break;
        }
        case 'member':
          // A member came or went: the member list, and the mesh status as the service sees it now.
          void refreshMembers().catch(() => undefined);
          void refreshMesh().catch(() => undefined);
          break;
        case 'invitation-delivered':
          void refreshInvitation().catch(() => undefined);
          break;
        case 'invitation-ended': {
          const end = event as InvitationEnd;
          if (end.direction !== 'out') break;
          showInvitation(undefined);
          invitationText.textContent = ENDED[end.reason] ?? '';
          break;
        }
        case 'mesh':
          meshEvents++;
          mesh.textContent = meshLabel((event as { status: string }).status);
          break;
      }
    },
    dispose: () => {
      clearTimeout(typingTimer);
      clearTimeout(readTimer);
      clearTimeout(filesTimer);
      // Leaving the page before the report went: send it now.
      if (readUpTo > reported) void postJson(`/api/chats/${chatId}/read`, { seq: readUpTo }).catch(() => undefined);
      document.removeEventListener('visibilitychange', reportRead);
    },
  };
}
